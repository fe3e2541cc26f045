// The pure pieces that wire partition tables into the commands: the verify's extents around
// rewritten sectors, --partition lists, the file-system probe, partition hashes from a stream,
// and planWholeDisk's decisions on tables built in memory.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { subtract, writeRanges, toWire, fromWire } from '../../src/partition/apply.js';
import { parsePartitionList } from '../../src/partition/select.js';
import { probeFs } from '../../src/partition/fs-probe.js';
import { PartitionHashes } from '../../src/image/partitions/backup-table.js';
import { planWholeDisk, checkWholeDiskOptions } from '../../src/partition/whole-disk.js';
import { bufferReader, readPartitionTable } from '../../src/partition/index.js';
import { gptImage } from '../helpers/partition-images.js';
import { CloneStationError } from '../../src/errors.js';

const MiB = 1 << 20;

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof CloneStationError ? e.code : String(e);
  }
  return undefined;
}

describe('verify extents around rewritten sectors', () => {
  it('subtract leaves every byte of the range not in a hole, in order', () => {
    expect(subtract({ offset: 0, length: 100 }, [{ offset: 10, length: 5 }, { offset: 0, length: 2 }, { offset: 98, length: 10 }])).toEqual([
      { offset: 2, length: 8 },
      { offset: 15, length: 83 },
    ]);
    expect(subtract({ offset: 50, length: 10 }, [{ offset: 0, length: 10 }])).toEqual([{ offset: 50, length: 10 }]);
    expect(subtract({ offset: 0, length: 10 }, [{ offset: 0, length: 10 }])).toEqual([]);
  });
  it('writeRanges merges touching and overlapping writes, from bytes or wire form', () => {
    const w = [
      { offset: 512, bytes: Buffer.alloc(512), what: 'a' },
      { offset: 0, bytes: Buffer.alloc(512), what: 'b' },
      { offset: 4096, bytes: Buffer.alloc(1024), what: 'c' },
    ];
    expect(writeRanges(w)).toEqual([
      { offset: 0, length: 1024 },
      { offset: 4096, length: 1024 },
    ]);
    expect(writeRanges(toWire(w))).toEqual(writeRanges(w));
    expect(fromWire(toWire(w)).map((x) => x.bytes.length)).toEqual([512, 512, 1024]);
  });
});

describe('--partition lists', () => {
  it('takes numbers once each, in the order given', () => {
    expect(parsePartitionList('2')).toEqual([2]);
    expect(parsePartitionList('3,1')).toEqual([3, 1]);
    for (const bad of ['0', '1,1', '', 'a', '1,,2', '-1', '1.5', '999999']) expect(codeOf(() => parsePartitionList(bad)), bad).toBe('BAD_NUMBER');
  });
});

describe('file-system probe', () => {
  it('names ext2/3/4 by their feature flags and reads the label', () => {
    const head = Buffer.alloc(65536);
    const sb = head.subarray(1024, 2048);
    sb.writeUInt16LE(0xef53, 56);
    sb.write('rootfs', 120, 'latin1');
    const as = (compat: number, incompat: number): string | undefined => {
      sb.writeUInt32LE(compat, 92);
      sb.writeUInt32LE(incompat, 96);
      return probeFs(head)?.type;
    };
    expect(as(0x4, 0x2c2)).toBe('ext4');
    expect(as(0x4, 0x2)).toBe('ext3');
    expect(as(0, 0x2)).toBe('ext2');
    expect(probeFs(head)?.label).toBe('rootfs');
  });
  it('names nothing in zeros or random bytes', () => {
    expect(probeFs(Buffer.alloc(65536))).toBeUndefined();
    const r = Buffer.alloc(65536);
    for (let i = 0; i < r.length; i++) r[i] = (i * 2654435761) >>> 24;
    expect(probeFs(r)).toBeUndefined();
  });
});

describe('partition hashes from the image stream', () => {
  it('hash each partition slice wherever the chunks cut, at image offsets', async () => {
    const data = Buffer.alloc(10000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const parts = [
      { number: 1, start: 1000, size: 3000 },
      { number: 2, start: 5000, size: 4000 },
      { number: 3, start: 9500, size: 1000 }, // past the range: left out
    ];
    const h = await PartitionHashes.create(parts, { offset: 500, length: 9500 }, ['md5', 'sha256']);
    expect(h).toBeDefined();
    // the stream is bytes 500.. of the source, in odd-sized chunks
    for (let at = 500; at < 10000; at += 777) h?.update(data.subarray(at, Math.min(at + 777, 10000)));
    const d = h?.digest() ?? [];
    expect(d.map((p) => [p.number, p.start, p.size])).toEqual([
      [1, 500, 3000],
      [2, 4500, 4000],
    ]);
    // the fastest algorithm asked for (sha256 before md5 in our speed order)
    expect(d[0].hashes.sha256).toBe(createHash('sha256').update(data.subarray(1000, 4000)).digest('hex'));
    expect(d[1].hashes.sha256).toBe(createHash('sha256').update(data.subarray(5000, 9000)).digest('hex'));
  });
  it('is not made without a hash to take', async () => {
    expect(await PartitionHashes.create([{ number: 1, start: 0, size: 10 }], { offset: 0, length: 10 }, [])).toBeUndefined();
  });
});

describe('planWholeDisk', () => {
  it('same size and no option: nothing; larger: the backup GPT moved, parsed back clean', async () => {
    const { image } = gptImage(512, 32 * MiB);
    const table = await readPartitionTable(bufferReader(image), { sectorSize: 512, diskSize: image.length });
    expect(await planWholeDisk(table, bufferReader(image), 32 * MiB, 512, {}, 't')).toEqual({ copyLength: 32 * MiB, adjust: null });
    const larger = await planWholeDisk(table, bufferReader(image), 48 * MiB, 512, {}, 't');
    expect(larger.copyLength).toBe(32 * MiB);
    expect(larger.adjust?.notes.join(' ')).toMatch(/backup GPT was moved/);
    expect(larger.adjust?.writes.map((w) => w.what)).toContain('backup GPT header');
  });
  it('a smaller drive is refused without --fit; --grow-fs needs --grow-last and a whole disk', async () => {
    const { image } = gptImage(512, 32 * MiB);
    const table = await readPartitionTable(bufferReader(image), { sectorSize: 512, diskSize: image.length });
    await expect(planWholeDisk(table, bufferReader(image), 31 * MiB, 512, {}, 't')).rejects.toMatchObject({ code: 'TARGET_TOO_SMALL' });
    expect(codeOf(() => checkWholeDiskOptions({ growFs: true }, false))).toBe('GROW_FS_NEEDS_GROW_LAST');
    expect(codeOf(() => checkWholeDiskOptions({ fit: true }, true))).toBe('PARTITION_OPTION_RANGE');
    expect(codeOf(() => checkWholeDiskOptions({}, true))).toBeUndefined();
  });
  it('--grow-fs on a partition without ext is FS_NOT_GROWABLE', async () => {
    const { image } = gptImage(512, 32 * MiB);
    const table = await readPartitionTable(bufferReader(image), { sectorSize: 512, diskSize: image.length });
    await expect(planWholeDisk(table, bufferReader(image), 48 * MiB, 512, { growLast: true, growFs: true }, 't')).rejects.toMatchObject({ code: 'FS_NOT_GROWABLE' });
  });
});
