// Backup names: templates for unattended runs, and the format from OUT's ending.
import { describe, expect, it } from 'vitest';
import { expandName } from '../../src/image/names.js';
import { imageFormat } from '../../src/image/backup.js';
import { parseHashList } from '../../src/image/hash.js';
import type { DriveInfo } from '../../src/drive.js';

const drive = { path: '/dev/sdb', name: 'sdb', serial: 'WD-ABC 123/x', model: 'WDC WD40EFRX', wwn: '0x50014ee2b5c1d2e3' } as DriveInfo;
const when = new Date(2026, 10, 24, 3, 4, 5);

describe('expandName', () => {
  it('fills date, time, drive identity; keeps file names safe', () => {
    expect(expandName('/b/{serial}-{datetime}.img', drive, when)).toBe('/b/WD-ABC_123_x-2026-11-24T030405.img');
    expect(expandName('{source}_{date}_{time}.zip', drive, when)).toBe('sdb_2026-11-24_030405.zip');
    expect(expandName('{model}-{wwn}.img', drive, when)).toBe('WDC_WD40EFRX-0x50014ee2b5c1d2e3.img');
    expect(expandName('/plain/name.img', drive, when)).toBe('/plain/name.img');
  });
  it('a file source without identity uses its name', () => {
    expect(expandName('{serial}.img', { path: '/x/disk.img' } as DriveInfo, when)).toBe('disk.img.img');
  });
  it('an unknown field is bad input that lists the known ones', () => {
    expect(() => expandName('{serail}.img', drive, when)).toThrow(/unknown field \{serail\}.*\{serial\}/);
  });
});

describe('imageFormat and --hash', () => {
  it('takes the format from the ending', () => {
    expect(imageFormat('a.img')).toBe('raw');
    expect(imageFormat('a.RAW')).toBe('raw');
    expect(imageFormat('a.zip')).toBe('zip');
    expect(() => imageFormat('a.tar')).toThrow(/must end in \.img or \.raw .* \.zip/);
  });
  it('parses hash lists', () => {
    expect(parseHashList('sha256, MD5,xxhash3,sha256')).toEqual(['sha256', 'md5', 'xxh3']);
    expect(parseHashList('none')).toEqual([]);
    expect(() => parseHashList('sha3')).toThrow(/unknown hash "sha3"/);
  });
});
