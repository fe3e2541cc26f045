import { describe, expect, it } from 'vitest';
import { readMounts, splitDev, devKey } from '../../src/drive.js';

describe('drive facts', () => {
  it('splits Linux device numbers as the kernel encodes them', () => {
    expect(splitDev(0xfe00)).toEqual({ major: 254, minor: 0 });
    expect(splitDev(0x10301)).toEqual({ major: 259, minor: 1 });
    expect(splitDev(7 * 256 + 3)).toEqual({ major: 7, minor: 3 });
    // minor numbers above 255 live in the high bits
    expect(splitDev(0x700 | (0x1 << 20))).toEqual({ major: 7, minor: 256 });
    expect(devKey({ major: 8, minor: 16 })).toBe('8:16');
  });

  it('parses mountinfo, including escaped mount points and optional fields', () => {
    const text = [
      '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
      '90 27 7:3 / /mnt/my\\040disk rw,relatime shared:5 master:1 - vfat /dev/loop3 rw',
      'garbage',
    ].join('\n');
    expect(readMounts(text)).toEqual([
      { dev: { major: 254, minor: 0 }, mountPoint: '/', fsType: 'ext4', source: '/dev/vda' },
      { dev: { major: 7, minor: 3 }, mountPoint: '/mnt/my disk', fsType: 'vfat', source: '/dev/loop3' },
    ]);
  });
});
