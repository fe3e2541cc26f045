import { describe, expect, it } from 'vitest';
import { PartitionTableError, RefusedError } from '../../src/errors.js';
import { applyWrites, buildMbr } from '../../src/partition/build.js';
import { bufferReader, overlayReader, planAdjust, readPartitionTable, type AdjustPlan, type PartitionTable, type SectorWrite } from '../../src/partition/index.js';
import { gptImage, MIB, mbrImage } from '../helpers/partition-images.js';

const read = (image: Buffer, sectorSize = 512): Promise<PartitionTable> => readPartitionTable(bufferReader(image), { sectorSize, diskSize: image.length });

/** The target after the plan: the copied bytes, zeros after them, then the writes. */
function target(source: Buffer, plan: AdjustPlan, targetSize: number): Buffer {
  const t = Buffer.alloc(targetSize);
  source.copy(t, 0, 0, plan.copyLength);
  return applyWrites(t, plan.writes);
}

/** Offsets of sectors that differ between the source's copied bytes and the target, outside the writes. */
function changedOutsideWrites(source: Buffer, out: Buffer, writes: readonly SectorWrite[], length: number, ss: number): number[] {
  const inWrite = (o: number): boolean => writes.some((w) => o >= w.offset && o < w.offset + w.bytes.length);
  const diff: number[] = [];
  for (let o = 0; o < length; o += ss) if (!inWrite(o) && !source.subarray(o, o + ss).equals(out.subarray(o, o + ss))) diff.push(o);
  return diff;
}

describe('GPT on a larger target', () => {
  it.each([512, 4096] as const)('moves the backup to the end, refreshes the protective MBR, zeroes the old backup header (%i-byte sectors)', async (ss) => {
    const { image, parts } = gptImage(ss, 32 * MIB);
    const before = await read(image, ss);
    const size = 48 * MIB;
    const plan = planAdjust(before, { targetSize: size, targetSectorSize: ss });
    expect(plan.copyLength).toBe(image.length);
    expect(plan.writes.map((w) => w.what)).toEqual(['backup GPT partition array', 'backup GPT header', 'primary GPT partition array', 'primary GPT header', 'protective MBR', 'stale backup GPT header (zeroed)']);
    const out = target(image, plan, size);
    const after = await read(out, ss);
    const n = size / ss;
    const aSec = (128 * 128) / ss;
    expect(after.problems).toEqual([]);
    expect(after.gpt?.primary?.alternateLba).toBe(n - 1);
    expect(after.gpt?.backup?.myLba).toBe(n - 1);
    expect(after.gpt?.backup?.entriesLba).toBe(n - 1 - aSec);
    expect(after.lastUsableLba).toBe(n - 2 - aSec);
    expect(after.gpt?.backup?.lastUsableLba).toBe(n - 2 - aSec);
    expect(after.mbr?.entries[0]).toMatchObject({ type: 0xee, firstLba: 1, sectors: n - 1 });
    expect(after.partitions.map((p) => [p.number, p.firstLba, p.lastLba, p.guid, p.name, p.attributes])).toEqual(before.partitions.map((p) => [p.number, p.firstLba, p.lastLba, p.guid, p.name, p.attributes]));
    expect(out.subarray(image.length - ss, image.length).every((b) => b === 0)).toBe(true);
    expect(changedOutsideWrites(image, out, plan.writes, image.length, ss)).toEqual([]);
    expect(plan.notes.join('\n')).toMatch(/backup GPT was moved from sector \d+ to the last sector \d+/);
    expect(parts).toHaveLength(3);
  });

  it('--grow-last grows the last partition to the last usable sector, keeping type, GUID, name and attributes', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const before = await read(image);
    const size = 64 * MIB;
    const plan = planAdjust(before, { targetSize: size, growLast: true });
    const after = await read(target(image, plan, size));
    expect(after.problems).toEqual([]);
    const b = before.partitions[2];
    const a = after.partitions[2];
    expect(a.lastLba).toBe(after.lastUsableLba);
    expect(a.lastLba).toBeGreaterThan(b.lastLba);
    expect([a.number, a.firstLba, a.typeGuid, a.guid, a.name, a.attributes]).toEqual([b.number, b.firstLba, b.typeGuid, b.guid, b.name, b.attributes]);
    expect(after.partitions.slice(0, 2)).toEqual(before.partitions.slice(0, 2));
    expect(plan.grown).toEqual({ number: 4, firstLba: b.firstLba, oldLastLba: b.lastLba, newLastLba: a.lastLba });
  });

  it('caps the protective MBR at 0xFFFFFFFF sectors on a target over 2 TiB', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const before = await read(image);
    const size = 3 * 2 ** 40;
    const plan = planAdjust(before, { targetSize: size, growLast: true });
    const after = await readPartitionTable(overlayReader(bufferReader(image), plan.copyLength, plan.writes, size), { sectorSize: 512, diskSize: size });
    expect(after.problems).toEqual([]);
    expect(after.mbr?.entries[0].sectors).toBe(0xffffffff);
    expect(after.partitions[2].lastLba).toBe(size / 512 - 34);
  });

  it('a hybrid MBR keeps its 0xEE entry and grows the copy of the grown partition', async () => {
    const { image, parts } = gptImage(512, 32 * MIB, { hybrid: [4] });
    const before = await read(image);
    const ee = before.mbr?.entries[0];
    const size = 40 * MIB;
    const plan = planAdjust(before, { targetSize: size, growLast: true });
    const after = await read(target(image, plan, size));
    expect(after.mbr?.kind).toBe('hybrid');
    expect(after.mbr?.entries[0]).toEqual(ee);
    expect(after.mbr?.entries[1]).toMatchObject({ firstLba: parts[2].firstLba, sectors: after.partitions[2].lastLba - parts[2].firstLba + 1 });
  });

  it('rebuilds a damaged primary from the backup', async () => {
    const { image } = gptImage(512, 32 * MIB);
    image[512 + 60] ^= 0xff;
    const before = await read(image);
    const plan = planAdjust(before, { targetSize: image.length });
    expect(plan.notes.join()).toMatch(/damaged primary GPT was rebuilt/);
    const after = await read(target(image, plan, image.length));
    expect(after.problems).toEqual([]);
    expect(after.gpt?.usedFrom).toBe('primary');
  });

  it('repairs a GPT cut short (a plain copy to a smaller disk): the missing backup is written at the end', async () => {
    const { image } = gptImage(512, 64 * MIB);
    const cut = Buffer.from(image.subarray(0, 63 * MIB)); // partition 4 ends 1 MiB before
    const before = await read(cut);
    expect(before.problems.map((p) => p.code).sort()).toEqual(['BACKUP_GPT_CORRUPT', 'BACKUP_GPT_NOT_AT_END', 'GPT_LARGER_THAN_DISK']);
    const plan = planAdjust(before, { targetSize: cut.length });
    expect(plan.notes.join()).toMatch(/moved from sector 131071 to the last sector 129023/);
    expect(plan.writes.map((w) => w.what)).not.toContain('stale backup GPT header (zeroed)');
    const after = await read(target(cut, plan, cut.length));
    expect(after.problems).toEqual([]);
    expect(after.partitions).toEqual(before.partitions);
  });

  it('an equal target with the backup at the end needs no writes', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const plan = planAdjust(await read(image), { targetSize: image.length });
    expect(plan.writes).toEqual([]);
    expect(plan.notes).toEqual([]);
  });
});

describe('GPT on a smaller target', () => {
  it('fits when every partition ends inside it: copies up to the last partition and writes the backup at the new end', async () => {
    const { image } = gptImage(512, 64 * MIB);
    const before = await read(image);
    const size = 64 * MIB - MIB; // the last partition ends 2 MiB before the source's end
    expect(() => planAdjust(before, { targetSize: size })).toThrow(/smaller than the source.*--fit can copy them/);
    const plan = planAdjust(before, { targetSize: size, fit: true });
    expect(plan.copyLength).toBe((before.partitions[2].lastLba + 1) * 512);
    const out = target(image, plan, size);
    const after = await read(out);
    expect(after.problems).toEqual([]);
    expect(after.gpt?.backup?.myLba).toBe(size / 512 - 1);
    expect(after.partitions).toEqual(before.partitions);
    expect(changedOutsideWrites(image, out, plan.writes, plan.copyLength, 512)).toEqual([]);
  });

  it('refuses with the partition that does not fit (TARGET_TOO_SMALL, exit 4)', async () => {
    const { image } = gptImage(512, 64 * MIB);
    const before = await read(image);
    const e = (() => {
      try {
        planAdjust(before, { targetSize: 48 * MIB, fit: true });
      } catch (x) {
        return x;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(RefusedError);
    expect((e as RefusedError).code).toBe('TARGET_TOO_SMALL');
    expect((e as RefusedError).exitStatus).toBe(4);
    expect((e as Error).message).toMatch(/partition 4 \("last"\) ends at byte 65011712/);
    expect((e as RefusedError).details.neededSize).toBe(65011712 + 33 * 512);
    // exactly that size fits
    expect(() => planAdjust(before, { targetSize: 65011712 + 33 * 512, fit: true })).not.toThrow();
    expect(() => planAdjust(before, { targetSize: 65011712 + 33 * 512 - 512, fit: true })).toThrow(/partition 4/);
  });

  it('refuses a target with another sector size', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const t = await read(image);
    expect(() => planAdjust(t, { targetSize: 64 * MIB, targetSectorSize: 4096 })).toThrow(/made for 512-byte sectors but the target has 4096-byte sectors/);
    expect(() => planAdjust(t, { targetSize: 64 * MIB, targetSectorSize: 512 })).not.toThrow();
  });
});

describe('MBR', () => {
  it('grows the last logical partition and its extended container', async () => {
    const image = mbrImage(512, 64 * MIB, false);
    const before = await read(image);
    const size = 80 * MIB;
    const plan = planAdjust(before, { targetSize: size, growLast: true });
    const after = await read(target(image, plan, size));
    expect(after.problems).toEqual([]);
    const n = size / 512;
    expect(after.partitions.find((p) => p.number === 6)).toMatchObject({ lastLba: n - 1, mbrType: 0x82 });
    expect(after.partitions.find((p) => p.number === 3)).toMatchObject({ lastLba: n - 1 });
    expect(after.partitions.filter((p) => p.number !== 6 && p.number !== 3)).toEqual(before.partitions.filter((p) => p.number !== 6 && p.number !== 3));
    expect(plan.writes.map((w) => w.what)).toEqual(['MBR', 'EBR of partition 6']);
  });

  it('grows a last primary partition, keeping its type and boot flag', async () => {
    const n = 32 * 2048;
    const image = applyWrites(Buffer.alloc(32 * MIB), buildMbr({ sectorSize: 512, diskSignature: 7, primaries: [{ slot: 0, firstLba: 2048, sectors: 8192, type: 0x83 }, { slot: 1, firstLba: 10240, sectors: 8192, type: 0x07, bootable: true }] }));
    const before = await read(image);
    const plan = planAdjust(before, { targetSize: 64 * MIB, growLast: true });
    const after = await read(target(image, plan, 64 * MIB));
    expect(after.partitions[1]).toMatchObject({ number: 2, firstLba: 10240, lastLba: 2 * n - 1, mbrType: 0x07, bootable: true });
    expect(after.diskSignature).toBe(before.diskSignature);
  });

  it('a smaller target shrinks the extended container when the logicals fit', async () => {
    const image = mbrImage(512, 64 * MIB);
    const before = await read(image);
    const size = 63 * MIB;
    const plan = planAdjust(before, { targetSize: size, fit: true });
    const after = await read(target(image, plan, size));
    expect(after.problems).toEqual([]);
    expect(after.partitions.find((p) => p.kind === 'extended')?.lastLba).toBe(size / 512 - 1);
    expect(plan.notes.join()).toMatch(/extended partition 3 shrunk/);
  });

  it('refuses a smaller target that cuts a logical partition', async () => {
    const image = mbrImage(512, 64 * MIB);
    const t = await read(image);
    expect(() => planAdjust(t, { targetSize: 40 * MIB, fit: true })).toThrow(/partition 6 ends at byte/);
  });

  it('refuses to grow a partition something lies after', async () => {
    // an empty extended partition after the only data partition
    const image = applyWrites(Buffer.alloc(32 * MIB), buildMbr({ sectorSize: 512, diskSignature: 9, primaries: [{ slot: 0, firstLba: 2048, sectors: 8192, type: 0x83 }, { slot: 1, firstLba: 20480, sectors: 8192, type: 0x05 }] }));
    const before = await read(image);
    expect(before.partitions.map((p) => p.kind)).toEqual(['primary', 'extended']);
    const e = (() => {
      try {
        planAdjust(before, { targetSize: 64 * MIB, growLast: true });
      } catch (x) {
        return x;
      }
      return null;
    })();
    expect((e as PartitionTableError).code).toBe('PARTITION_NOT_GROWABLE');
    expect((e as Error).message).toMatch(/partition 1 cannot grow: partition 2 lies after it/);
  });
});

describe('the order of the writes', () => {
  it.each([
    ['GPT grow-last on a larger target', () => gptImage(512, 32 * MIB).image, 512, 48 * MIB],
    ['GPT relocation to a smaller target', () => gptImage(4096, 64 * MIB).image, 4096, 63 * MIB],
    ['DOS grow-last of a logical partition', () => mbrImage(512, 32 * MIB, false), 512, 48 * MIB],
  ] as const)('%s: a table stays readable, with the old or the new partitions, after every prefix of the writes', async (_what, make, ss, size) => {
    const image = make();
    const before = await read(image, ss);
    const plan = planAdjust(before, { targetSize: size, growLast: size > image.length, fit: true });
    const out = Buffer.alloc(size);
    image.copy(out, 0, 0, plan.copyLength);
    const final = await read(applyWrites(Buffer.from(out), plan.writes), ss);
    for (let k = 0; k <= plan.writes.length; k++) {
      const t = await read(applyWrites(Buffer.from(out), plan.writes.slice(0, k)), ss);
      const blocking = t.problems.filter((p) => ['PARTITION_OVERLAP', 'LOGICAL_OUTSIDE_EXTENDED', 'PARTITION_BAD_RANGE'].includes(p.code));
      expect(blocking, `after ${k} writes`).toEqual([]);
      // data partitions are the old ones or the new ones (an extended container may grow first)
      const ends = (x: typeof t): number[] => x.partitions.filter((p) => p.kind !== 'extended').map((p) => p.lastLba);
      expect([ends(before), ends(final)], `after ${k} writes`).toContainEqual(ends(t));
    }
  });
});

describe('refusals', () => {
  it('no table: growing is refused, a smaller target is refused, a larger one is a plain copy', async () => {
    const t = await read(Buffer.alloc(MIB));
    expect(() => planAdjust(t, { targetSize: 2 * MIB, growLast: true })).toThrow(PartitionTableError);
    expect(() => planAdjust(t, { targetSize: MIB / 2, fit: true })).toThrow(/no partition table/);
    expect(planAdjust(t, { targetSize: 2 * MIB })).toEqual({ writes: [], notes: [], copyLength: MIB });
  });

  it('a table with overlapping partitions is not rewritten', async () => {
    const { image } = gptImage(512, 32 * MIB);
    const t = await read(image);
    t.problems.push({ code: 'PARTITION_OVERLAP', message: 'partitions 1 and 2 overlap', partitions: [1, 2] });
    expect(() => planAdjust(t, { targetSize: 64 * MIB })).toThrow(/partitions 1 and 2 overlap/);
  });
});

