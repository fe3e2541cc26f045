import { describe, expect, it } from 'vitest';
import { crc32 as zlibCrc } from 'node:zlib';
import { PartitionTableError } from '../../src/errors.js';
import { applyWrites, buildMbr } from '../../src/partition/build.js';
import { bufferReader, crc32, probeGptSectorSize, readPartitionTable, summarizeTable, type PartitionTable } from '../../src/partition/index.js';
import { ESP, gptImage, LINUX, MIB, mbrImage } from '../helpers/partition-images.js';

const read = (image: Buffer, sectorSize = 512, diskSize = image.length): Promise<PartitionTable> => readPartitionTable(bufferReader(image), { sectorSize, diskSize });

/** Recomputes a GPT header's CRC after a test changed a field. */
function fixHeaderCrc(image: Buffer, offset: number): void {
  image.writeUInt32LE(0, offset + 16);
  image.writeUInt32LE(crc32(image.subarray(offset, offset + 92)), offset + 16);
}

describe('crc32', () => {
  it('is the IEEE CRC-32 GPT uses (check value of "123456789")', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
    expect(zlibCrc(Buffer.from('abc')) >>> 0).toBe(crc32(Buffer.from('abc')));
  });
});

describe('GPT round trip', () => {
  it.each([512, 4096] as const)('reads back every field of a GPT written for %i-byte sectors', async (ss) => {
    const size = 64 * MIB;
    const { image, parts, diskGuid } = gptImage(ss, size);
    const t = await read(image, ss);
    expect(t.scheme).toBe('gpt');
    expect(t.mbr?.kind).toBe('protective');
    expect(t.diskGuid).toBe(diskGuid);
    expect(t.problems).toEqual([]);
    expect(t.warnings).toEqual([]);
    const arraySectors = (128 * 128) / ss;
    expect(t.firstUsableLba).toBe(2 + arraySectors);
    expect(t.lastUsableLba).toBe(size / ss - 2 - arraySectors);
    expect(t.gpt?.backup?.myLba).toBe(size / ss - 1);
    expect(t.partitions.map((p) => p.number)).toEqual(parts.map((p) => p.number));
    for (const [i, p] of t.partitions.entries()) {
      const want = parts[i];
      expect(p).toMatchObject({ kind: 'gpt', firstLba: want.firstLba, lastLba: want.lastLba, typeGuid: want.typeGuid, guid: want.guid, name: want.name });
      expect(p.start).toBe(want.firstLba * ss);
      expect(p.size).toBe((want.lastLba - want.firstLba + 1) * ss);
      expect(BigInt(`0x${p.attributes}`)).toBe(want.attributes ?? 0n);
    }
    expect(t.partitions[0].typeName).toBe('EFI system partition');
    expect(t.partitions[1].typeName).toBe('Linux filesystem');
  });

  it('reads a hybrid MBR as GPT and keeps the MBR entries', async () => {
    const { image, parts } = gptImage(512, 64 * MIB, { hybrid: [2] });
    const t = await read(image);
    expect(t.scheme).toBe('gpt');
    expect(t.mbr?.kind).toBe('hybrid');
    expect(t.mbr?.entries.map((e) => e.type)).toEqual([0xee, 0x83]);
    expect(t.mbr?.entries[1].firstLba).toBe(parts[1].firstLba);
    expect(t.partitions).toHaveLength(3);
  });

  it('reads a table with no protective MBR and says so', async () => {
    const { image } = gptImage(512, 32 * MIB);
    image.fill(0, 0, 512);
    const t = await read(image);
    expect(t.scheme).toBe('gpt');
    expect(t.warnings.join()).toMatch(/no protective MBR/);
  });
});

describe('a damaged primary GPT with a good backup', () => {
  it('a header CRC mismatch: the table is read from the backup and it says so', async () => {
    const { image, parts } = gptImage(512, 32 * MIB);
    image[512 + 60] ^= 0xff; // a byte of the disk GUID, not the CRC
    const t = await read(image);
    expect(t.gpt?.usedFrom).toBe('backup');
    expect(t.gpt?.primary).toBeNull();
    expect(t.warnings.join()).toMatch(/primary GPT is damaged \(header CRC mismatch\).*backup/);
    expect(t.problems.map((p) => p.code)).toEqual(['PRIMARY_GPT_CORRUPT']);
    expect(t.partitions.map((p) => p.guid)).toEqual(parts.map((p) => p.guid));
  });

  it('an entry array CRC mismatch in the primary: read from the backup', async () => {
    const { image, parts } = gptImage(4096, 64 * MIB);
    image[2 * 4096 + 200] ^= 1;
    const t = await read(image, 4096);
    expect(t.gpt?.usedFrom).toBe('backup');
    expect(t.warnings.join()).toMatch(/entry array CRC mismatch/);
    expect(t.partitions.map((p) => p.name)).toEqual(parts.map((p) => p.name));
  });

  it('a damaged backup is reported and the primary used', async () => {
    const { image } = gptImage(512, 32 * MIB);
    image[image.length - 512 + 24] ^= 1; // the backup's own LBA
    const t = await read(image);
    expect(t.gpt?.usedFrom).toBe('primary');
    expect(t.problems.map((p) => p.code)).toEqual(['BACKUP_GPT_CORRUPT']);
  });

  it('both copies damaged is a clear error', async () => {
    const { image } = gptImage(512, 32 * MIB);
    image[512 + 60] ^= 0xff;
    image[image.length - 512 + 60] ^= 0xff;
    const e = await read(image).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PartitionTableError);
    expect((e as PartitionTableError).code).toBe('PARTITION_TABLE_CORRUPT');
    expect((e as PartitionTableError).exitStatus).toBe(2);
    expect((e as Error).message).toMatch(/both copies.*header CRC mismatch/);
    expect((e as Error).message).not.toContain('\n');
  });
});

describe('what a checker would flag', () => {
  it('a backup GPT not at the end of a larger disk', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const t = await read(Buffer.concat([image, Buffer.alloc(16 * MIB)]));
    expect(t.problems.map((p) => p.code)).toEqual(['BACKUP_GPT_NOT_AT_END']);
    expect(t.gpt?.backup?.myLba).toBe(32 * 2048 - 1);
  });

  it('a GPT cut short (an image copied to a smaller disk): the primary is read, the rest flagged', async () => {
    const { image } = gptImage(512, 64 * MIB);
    const t = await read(image.subarray(0, 48 * MIB));
    expect(t.gpt?.usedFrom).toBe('primary');
    expect(t.problems.map((p) => p.code).sort()).toEqual(['BACKUP_GPT_CORRUPT', 'BACKUP_GPT_NOT_AT_END', 'GPT_LARGER_THAN_DISK', 'PARTITION_BEYOND_DISK']);
    expect(t.problems.find((p) => p.code === 'PARTITION_BEYOND_DISK')?.partitions).toEqual([4]);
  });

  it('overlapping GPT partitions', async () => {
    const { image } = gptImage(512, 32 * MIB);
    // partition 2 starts inside partition 1
    image.writeBigUInt64LE(BigInt(3 * 2048), 1024 + 128 + 32);
    const array = image.subarray(1024, 1024 + 128 * 128);
    image.writeUInt32LE(crc32(array), 512 + 88);
    fixHeaderCrc(image, 512);
    const t = await read(image);
    const overlap = t.problems.find((p) => p.code === 'PARTITION_OVERLAP');
    expect(overlap?.partitions).toEqual([1, 2]);
  });
});

describe('MBR', () => {
  it('reads primaries, the extended partition and logicals through the EBR chain', async () => {
    const ss = 512;
    const image = mbrImage(ss, 64 * MIB);
    const t = await read(image);
    expect(t.scheme).toBe('mbr');
    expect(t.mbr?.kind).toBe('plain');
    expect(t.diskSignature).toBe('1234abcd');
    expect(t.problems).toEqual([]);
    expect(t.partitions.map((p) => [p.number, p.kind, p.mbrType, p.firstLba, p.lastLba])).toEqual([
      [1, 'primary', 0x0c, 2048, 5 * 2048 - 1],
      [2, 'primary', 0x83, 5 * 2048, 9 * 2048 - 1],
      [3, 'extended', 0x05, 9 * 2048, 64 * 2048 - 1],
      [5, 'logical', 0x83, 10 * 2048, 14 * 2048 - 1],
      [6, 'logical', 0x82, 15 * 2048, 62 * 2048 - 1],
    ]);
    expect(t.partitions.map((p) => p.bootable)).toEqual([true, false, false, false, false]);
    expect(t.mbr?.ebrs.map((e) => e.lba)).toEqual([9 * 2048, 14 * 2048]);
  });

  it('reads an MBR on 4096-byte sectors', async () => {
    const t = await read(mbrImage(4096, 64 * MIB), 4096);
    expect(t.partitions.find((p) => p.number === 6)).toMatchObject({ firstLba: 15 * 256, start: 15 * MIB });
  });

  it('an EBR chain that loops is a clear error', async () => {
    const image = mbrImage(512, 64 * MIB);
    // the second EBR links back to the first (relative 0)
    const o = 14 * MIB + 446 + 16;
    image[o + 4] = 0x05;
    image.writeUInt32LE(0, o + 8);
    image.writeUInt32LE(2048, o + 12);
    const e = await read(image).catch((x: unknown) => x);
    expect((e as PartitionTableError).code).toBe('PARTITION_TABLE_CORRUPT');
    expect((e as Error).message).toMatch(/loops back.*sector 18432/);
  });

  it('an EBR link outside the extended partition is a clear error', async () => {
    const image = mbrImage(512, 64 * MIB);
    image.writeUInt32LE(0x7fffffff, 9 * MIB + 446 + 16 + 8);
    const e = await read(image).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/outside the extended partition/);
  });

  it('a chain of more logical partitions than the limit stops with an error', async () => {
    const count = 300;
    const logicals = Array.from({ length: count }, (_, i) => ({ ebrLba: 2048 + 2 * i, firstLba: 2049 + 2 * i, sectors: 1, type: 0x83 }));
    const image = applyWrites(Buffer.alloc(4 * MIB), buildMbr({ sectorSize: 512, diskSignature: 1, primaries: [{ slot: 0, firstLba: 2048, sectors: 2 * count, type: 0x05 }], logicals }));
    const e = await read(image).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/more than 256 logical/);
  });

  it('flags a partition past the end of the disk', async () => {
    const image = mbrImage(512, 64 * MIB);
    const t = await read(image.subarray(0, 63 * MIB));
    expect(t.problems.map((p) => p.code)).toContain('PARTITION_BEYOND_DISK');
  });
});

describe('no table, and untrusted headers', () => {
  it('zeros are no table', async () => {
    const t = await read(Buffer.alloc(MIB));
    expect(t.scheme).toBe('none');
    expect(t.partitions).toEqual([]);
  });

  it('a FAT boot sector on the whole disk is no table', async () => {
    const image = Buffer.alloc(MIB);
    image.set([0xeb, 0x58, 0x90], 0);
    image.write('mkfs.fat', 3, 'latin1');
    image.write('FAT32   ', 0x52, 'latin1');
    image.write('This is not a bootable disk.', 0x1be - 20, 'latin1');
    image[510] = 0x55;
    image[511] = 0xaa;
    expect((await read(image)).scheme).toBe('none');
  });

  it.each([
    ['an entry count of a million', 80, 1_000_000, /entry count 1000000/],
    ['an entry size of 100 bytes', 84, 100, /entry size 100/],
    ['an entry size of 1 MiB', 84, 1 << 20, /entry size 1048576/],
    ['a header size of 4 KiB in a 512-byte sector', 12, 4096, /header size 4096/],
  ])('%s (CRC made valid) is refused in both copies', async (_what, field, value, why) => {
    const { image } = gptImage(512, 32 * MIB);
    for (const off of [512, image.length - 512]) {
      image.writeUInt32LE(value, off + field);
      fixHeaderCrc(image, off);
    }
    const e = await read(image).catch((x: unknown) => x);
    expect((e as PartitionTableError).code).toBe('PARTITION_TABLE_CORRUPT');
    expect((e as Error).message).toMatch(why);
  });

  it('an LBA past 2^53 is refused', async () => {
    const { image } = gptImage(512, 32 * MIB);
    for (const off of [512, image.length - 512]) {
      image.writeBigUInt64LE(0xffffffffffffff00n, off + 72);
      fixHeaderCrc(image, off);
    }
    await expect(read(image)).rejects.toThrow(/LBA is out of range/);
  });

  it('an array placed past the end of the disk is refused', async () => {
    const { image } = gptImage(512, 32 * MIB);
    image.writeBigUInt64LE(BigInt(32 * 2048 + 10), 512 + 72);
    fixHeaderCrc(image, 512);
    const t = await read(image);
    expect(t.gpt?.usedFrom).toBe('backup');
    expect(t.warnings.join()).toMatch(/runs past the end of the disk/);
  });

  it('a source shorter than its stated size is a clear error', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const e = await read(image.subarray(0, MIB), 512, 32 * MIB).catch((x: unknown) => x);
    expect((e as PartitionTableError).code).toBe('PARTITION_TABLE_CORRUPT');
    expect((e as Error).message).toMatch(/shorter than its size/);
  });

  it('refuses a sector size that is not one', async () => {
    await expect(read(Buffer.alloc(MIB), 1000)).rejects.toThrow(RangeError);
  });

  it('type names fall back to the GUID', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const t = await read(image);
    expect(t.partitions.filter((p) => p.typeGuid === LINUX).every((p) => p.typeName === 'Linux filesystem')).toBe(true);
    expect(t.partitions.find((p) => p.typeGuid === ESP)?.typeName).toBe('EFI system partition');
  });
});

describe('probing the sector size of an image', () => {
  it.each([512, 4096] as const)('finds %i from where the GPT header is', async (ss) => {
    const { image } = gptImage(ss, 32 * MIB);
    expect(await probeGptSectorSize(bufferReader(image), image.length)).toBe(ss);
  });
  it('finds it from the backup when the primary is damaged', async () => {
    const { image } = gptImage(4096, 32 * MIB);
    image[4096 + 60] ^= 1;
    expect(await probeGptSectorSize(bufferReader(image), image.length)).toBe(4096);
  });
  it('is null for an MBR or no table', async () => {
    expect(await probeGptSectorSize(bufferReader(mbrImage(512, 32 * MIB)), 32 * MIB)).toBeNull();
    expect(await probeGptSectorSize(bufferReader(Buffer.alloc(MIB)), MIB)).toBeNull();
  });
});

describe('a stale GPT behind a DOS table', () => {
  it('the DOS table is used and the stale GPT named', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const dos = mbrImage(512, 32 * MIB);
    dos.copy(image, 0, 0, 512);
    const t = await read(image);
    expect(t.scheme).toBe('mbr');
    expect(t.warnings.join()).toMatch(/stale GPT header/);
  });
});

describe('summary for manifests and --json', () => {
  it('survives JSON exactly and holds no raw sectors', async () => {
    const { image, diskGuid } = gptImage(512, 32 * MIB, { hybrid: [2] });
    image[512 + 60] ^= 0xff;
    const s = summarizeTable(await read(image));
    const json = JSON.stringify(s);
    expect(JSON.parse(json)).toEqual(s);
    expect(json).not.toContain('"Buffer"');
    expect(json.length).toBeLessThan(4000);
    expect(s).toMatchObject({ scheme: 'gpt', mbr: 'hybrid', diskGuid, readFromBackup: true, sectorSize: 512 });
    expect(s.partitions).toHaveLength(3);
    expect(s.problems.map((p) => p.code)).toEqual(['PRIMARY_GPT_CORRUPT']);
  });
  it('an MBR summary has its signature and no GPT fields', async () => {
    const s = summarizeTable(await read(mbrImage(512, 32 * MIB)));
    expect(s).toMatchObject({ scheme: 'mbr', mbr: 'plain', diskSignature: '1234abcd' });
    expect(s.diskGuid).toBeUndefined();
    expect(s.readFromBackup).toBeUndefined();
  });
});
