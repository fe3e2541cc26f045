// Our partition-table reading and adjusting against the reference tools, on files and on loop
// devices of 512- and 4096-byte sectors: tables made by sgdisk and sfdisk are read as
// `sgdisk -p/-i` and `sfdisk --json` read them; after a relocation, a fit to a smaller target
// or a grow-last, `sgdisk -v` and `sfdisk --verify` find no problem.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { sh, sha256, useLoopScratch, type Loop } from '../helpers/fixtures.js';
import { applyTo, geometry, ourTable, run, sfdiskJson, sfdiskVerify, sgdiskTable, sgdiskVerify } from '../helpers/partition-tools.js';
import { planAdjust, readTableOf, type PartitionTable } from '../../src/partition/index.js';
import { inspectDrive } from '../../src/drive.js';
import { buildGpt, type NewGptPartition } from '../../src/partition/build.js';
import { ESP, LINUX, guid } from '../helpers/partition-images.js';
import { RefusedError } from '../../src/errors.js';

const MiB = 1 << 20;
type Where = 'file' | 'loop512' | 'loop4096';

describeRoot('partition tables against sgdisk and sfdisk', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let seq = 0;

  /** A zero-filled disk of `size` bytes: a file, or a loop device over one. */
  function disk(where: Where, size: number): { path: string; file: string; loop?: Loop } {
    const file = join(fx.dir(), `d${seq++}.img`);
    sh('truncate', ['-s', String(size), file]);
    if (where === 'file') return { path: file, file };
    const loop = fx.loop(file, where === 'loop4096' ? 4096 : 512);
    return { path: loop.dev, file, loop };
  }

  /** Copies the first `length` bytes of one disk to another (as a clone would). */
  function copy(from: string, to: string, length: number): void {
    sh('dd', [`if=${from}`, `of=${to}`, 'bs=1M', `count=${length}`, 'iflag=count_bytes', 'conv=notrunc,fsync', 'status=none']);
  }

  /** An sgdisk GPT: an ESP, a named partition with attributes, a swap, an empty slot 4, and a named partition 5 ending 3 MiB before the end. */
  function sgdiskGpt(path: string): void {
    sh('sgdisk', ['-n1:0:+8M', '-t1:ef00', '-c1:EFI system', '-n2:0:+16M', '-t2:8300', '-c2:root fs', '-A2:set:2', '-A2:set:60', '-n3:0:+4M', '-t3:8200', '-n5:0:-3M', '-t5:8e00', '-c5:données ✓', '-A5:set:0', '-A5:set:63', path]);
  }

  /** A DOS table by sfdisk: a bootable primary, a primary, an extended partition to the end with two logicals (the last one filling it, or 20 MiB). */
  function sfdiskMbr(path: string, lastFills = true): void {
    const last = lastFills ? 'type=82' : 'size=20M, type=82';
    const r = run('sfdisk', ['-q', path], `label: dos\nlabel-id: 0x5eed1234\nsize=8M, type=c, bootable\nsize=8M, type=83\ntype=5\nsize=8M, type=83\n${last}\n`);
    expect(r.status, r.out).toBe(0);
  }

  function expectSameAsSgdisk(ours: PartitionTable, path: string): void {
    const sg = sgdiskTable(path);
    expect(ours.scheme).toBe('gpt');
    expect(ours.sectorSize).toBe(sg.sectorSize);
    expect(ours.diskGuid).toBe(sg.diskGuid);
    expect([ours.firstUsableLba, ours.lastUsableLba]).toEqual([sg.firstUsable, sg.lastUsable]);
    expect(ours.partitions.map((p) => ({ number: p.number, typeGuid: p.typeGuid, guid: p.guid, firstLba: p.firstLba, lastLba: p.lastLba, attributes: p.attributes, name: p.name }))).toEqual(sg.partitions);
  }

  function expectSameAsSfdisk(ours: PartitionTable, path: string): void {
    const sf = sfdiskJson(path);
    expect(ours.sectorSize).toBe(sf.sectorsize);
    expect(sf.partitions.length).toBeGreaterThan(0);
    if (sf.label === 'gpt') {
      expect(ours.scheme).toBe('gpt');
      expect(ours.diskGuid).toBe(sf.id);
      expect([ours.firstUsableLba, ours.lastUsableLba]).toEqual([sf.firstlba, sf.lastlba]);
      expect(ours.partitions.map((p) => ({ n: p.number, start: p.firstLba, size: p.lastLba - p.firstLba + 1, type: p.typeGuid, uuid: p.guid, name: p.name || undefined }))).toEqual(
        sf.partitions.map((p) => ({ n: Number(/(\d+)$/.exec(p.node)?.[1]), start: p.start, size: p.size, type: p.type, uuid: p.uuid, name: p.name })),
      );
    } else {
      expect(sf.label).toBe('dos');
      expect(ours.scheme).toBe('mbr');
      expect(`0x${ours.diskSignature}`).toBe(sf.id);
      expect(ours.partitions.map((p) => ({ n: p.number, start: p.firstLba, size: p.lastLba - p.firstLba + 1, type: p.mbrType?.toString(16), bootable: p.bootable || undefined }))).toEqual(
        sf.partitions.map((p) => ({ n: Number(/(\d+)$/.exec(p.node)?.[1]), start: p.start, size: p.size, type: p.type, bootable: p.bootable })),
      );
    }
  }

  function expectCheckersClean(path: string): void {
    const sg = sgdiskVerify(path);
    expect(sg.clean, sg.out).toBe(true);
    const sf = sfdiskVerify(path);
    expect(sf.clean, sf.out).toBe(true);
  }

  /** Sector numbers at which two files differ. */
  function differingSectors(a: string, b: string, ss: number): number[] {
    const x = readFileSync(a);
    const y = readFileSync(b);
    expect(x.length).toBe(y.length);
    const out: number[] = [];
    for (let o = 0; o < x.length; o += ss) if (!x.subarray(o, o + ss).equals(y.subarray(o, o + ss))) out.push(o / ss);
    return out;
  }

  /** Sector numbers at which two (possibly huge, sparse) files differ inside the byte ranges given. */
  function differingSectorsIn(a: string, b: string, ss: number, ranges: [number, number][]): number[] {
    const fa = openSync(a, 'r');
    const fb = openSync(b, 'r');
    const out: number[] = [];
    try {
      const x = Buffer.alloc(MiB);
      const y = Buffer.alloc(MiB);
      for (const [from, to] of ranges) {
        for (let o = from; o < to; o += MiB) {
          const n = Math.min(MiB, to - o);
          readSync(fa, x, 0, n, o);
          readSync(fb, y, 0, n, o);
          for (let k = 0; k < n; k += ss) if (!x.subarray(k, k + ss).equals(y.subarray(k, k + ss))) out.push((o + k) / ss);
        }
      }
    } finally {
      closeSync(fa);
      closeSync(fb);
    }
    return out;
  }

  it.each(['file', 'loop512', 'loop4096'] as const)('reads an sgdisk GPT as sgdisk -p/-i and sfdisk --json do (%s)', async (where) => {
    const d = disk(where, 64 * MiB);
    sgdiskGpt(d.path);
    const ours = await ourTable(d.path);
    expect(ours.problems).toEqual([]);
    expect(ours.mbr?.kind).toBe('protective');
    expect(ours.partitions.map((p) => p.number)).toEqual([1, 2, 3, 5]);
    expect(ours.partitions[3].name).toBe('données ✓');
    expect(ours.partitions[1].attributes).toBe('1000000000000004');
    expectSameAsSgdisk(ours, d.path);
    expectSameAsSfdisk(ours, d.path);
    expectCheckersClean(d.path);
  });

  it.each(['file', 'loop4096'] as const)('reads an sfdisk GPT with names and attributes (%s)', async (where) => {
    const d = disk(where, 64 * MiB);
    expect(run('sfdisk', ['-q', d.path], 'label: gpt\nsize=8M, type=U, name="ESP"\nsize=16M, type=L, name="a b", attrs="RequiredPartition GUID:60"\ntype=S\n').status).toBe(0);
    const ours = await ourTable(d.path);
    expect(ours.problems).toEqual([]);
    expect(ours.partitions[1].attributes).toBe('1000000000000001');
    expectSameAsSfdisk(ours, d.path);
    expectSameAsSgdisk(ours, d.path);
  });

  it('reads a hybrid MBR made by sgdisk -h', async () => {
    const d = disk('file', 64 * MiB);
    sgdiskGpt(d.path);
    sh('sgdisk', ['-h', '2:3', d.path]);
    const ours = await ourTable(d.path);
    expect(ours.mbr?.kind).toBe('hybrid');
    expect(ours.mbr?.entries.filter((e) => e.type !== 0xee).map((e) => e.firstLba)).toEqual([ours.partitions[1].firstLba, ours.partitions[2].firstLba]);
    expectSameAsSgdisk(ours, d.path);
  });

  it.each(['file', 'loop4096'] as const)('reads an sfdisk DOS table with logical partitions as sfdisk --json does (%s)', async (where) => {
    const d = disk(where, 64 * MiB);
    sfdiskMbr(d.path);
    const ours = await ourTable(d.path);
    expect(ours.problems).toEqual([]);
    expect(ours.partitions.map((p) => `${p.number}:${p.kind}`)).toEqual(['1:primary', '2:primary', '3:extended', '5:logical', '6:logical']);
    expectSameAsSfdisk(ours, d.path);
    const sf = run('sfdisk', ['--verify', d.path]);
    expect(sf.status, sf.out).toBe(0);
  });

  it('flags a damaged primary GPT as the checkers do, reads the backup, and a plan repairs it', async () => {
    const d = disk('file', 64 * MiB);
    sgdiskGpt(d.path);
    const good = await ourTable(d.path);
    run('dd', [`of=${d.path}`, 'bs=1', 'seek=600', 'conv=notrunc', 'status=none'], 'x');
    const ours = await ourTable(d.path);
    expect(ours.problems.map((p) => p.code)).toEqual(['PRIMARY_GPT_CORRUPT']);
    expect(ours.warnings.join()).toMatch(/read from the backup/);
    expect(ours.partitions).toEqual(good.partitions);
    expect(sgdiskVerify(d.path).clean).toBe(false);
    expect(sfdiskVerify(d.path).out).toMatch(/primary GPT table is corrupt/);
    const plan = planAdjust(ours, { targetSize: geometry(d.path).size });
    applyTo(d.path, plan.writes);
    expectCheckersClean(d.path);
    expect((await ourTable(d.path)).partitions).toEqual(good.partitions);
  });

  it.each([
    ['file', 'plain GPT'],
    ['loop4096', 'plain GPT'],
    ['file', 'hybrid MBR'],
  ] as const)('a larger target (%s, %s): the checkers flag the plain copy, and after our writes find nothing; bytes equal sgdisk -e but the zeroed stale header', async (where, kind) => {
    const src = disk(where, 64 * MiB);
    sgdiskGpt(src.path);
    if (kind === 'hybrid MBR') sh('sgdisk', ['-h', '2:3', src.path]);
    const table = await ourTable(src.path);
    const ss = table.sectorSize;
    const size = 96 * MiB;
    const dst = disk(where, size);
    const twin = disk(where, size);
    copy(src.path, dst.path, 64 * MiB);
    copy(src.path, twin.path, 64 * MiB);
    // what a checker says of the plain copy, we say too
    expect((await ourTable(dst.path)).problems.map((p) => p.code)).toEqual(['BACKUP_GPT_NOT_AT_END']);
    expect(sfdiskVerify(dst.path).out).toMatch(/backup GPT table is not on the end/);
    expect(sgdiskVerify(dst.path).clean).toBe(false);

    const plan = planAdjust(table, { targetSize: size, targetSectorSize: geometry(dst.path).sectorSize });
    applyTo(dst.path, plan.writes);
    expectCheckersClean(dst.path);
    const after = await ourTable(dst.path);
    expect(after.problems).toEqual([]);
    expect(after.partitions).toEqual(table.partitions);
    expectSameAsSgdisk(after, dst.path);
    if (kind === 'hybrid MBR') expect(after.mbr?.entries).toEqual(table.mbr?.entries);

    sh('sgdisk', ['-e', twin.path]);
    const oldBackup = 64 * MiB / ss - 1;
    expect(differingSectors(dst.file, twin.file, ss)).toEqual([oldBackup]);
    expect(readFileSync(dst.file).subarray(oldBackup * ss, (oldBackup + 1) * ss).every((b) => b === 0)).toBe(true);
  });

  it.each(['file', 'loop4096'] as const)('a smaller target that holds every partition (%s): copy to the last partition, backup at the new end, checkers clean', async (where) => {
    const src = disk(where, 64 * MiB);
    sgdiskGpt(src.path);
    const table = await ourTable(src.path);
    const size = 62 * MiB; // partition 5 ends 3 MiB before the source's end
    const dst = disk(where, size);
    run('dd', ['if=/dev/urandom', `of=${dst.path}`, 'bs=1M', 'count=62', 'status=none']); // a used target
    const plan = planAdjust(table, { targetSize: size, targetSectorSize: geometry(dst.path).sectorSize, fit: true });
    expect(plan.copyLength).toBe((table.partitions[3].lastLba + 1) * table.sectorSize);
    copy(src.path, dst.path, plan.copyLength);
    applyTo(dst.path, plan.writes);
    expectCheckersClean(dst.path);
    const after = await ourTable(dst.path);
    expect(after.problems).toEqual([]);
    expect(after.partitions).toEqual(table.partitions);
    // every byte of the partitions is the source's
    for (const p of table.partitions) expect(sha256(dst.file, p.start, p.size), `partition ${p.number}`).toBe(sha256(src.file, p.start, p.size));
  });

  it('a GPT cut short by a plain copy to a smaller disk: flagged by the checkers and by us, repaired in place', async () => {
    const src = disk('file', 64 * MiB);
    sgdiskGpt(src.path);
    const dst = disk('loop512', 63 * MiB);
    copy(src.path, dst.path, 63 * MiB);
    expect(sgdiskVerify(dst.path).clean).toBe(false);
    expect(sfdiskVerify(dst.path).clean).toBe(false);
    const cut = await ourTable(dst.path);
    expect(cut.problems.map((p) => p.code)).toContain('BACKUP_GPT_CORRUPT');
    applyTo(dst.path, planAdjust(cut, { targetSize: 63 * MiB }).writes);
    expectCheckersClean(dst.path);
    expect((await ourTable(dst.path)).partitions).toEqual((await ourTable(src.path)).partitions);
  });

  it('a target too small for a partition is refused naming it, and nothing is written', async () => {
    const src = disk('file', 64 * MiB);
    sgdiskGpt(src.path);
    const table = await ourTable(src.path);
    const dst = disk('loop512', 48 * MiB);
    const before = sha256(dst.file);
    let error: unknown;
    try {
      planAdjust(table, { targetSize: geometry(dst.path).size, fit: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RefusedError);
    expect((error as RefusedError).code).toBe('TARGET_TOO_SMALL');
    expect((error as Error).message).toMatch(/partition 5 \("données ✓"\) ends at byte \d+/);
    expect(sha256(dst.file)).toBe(before);
  });

  it.each(['file', 'loop4096'] as const)('grow-last on a larger GPT target (%s): ends at the last usable sector, keeps type, GUID, name and attributes', async (where) => {
    const src = disk(where, 64 * MiB);
    sgdiskGpt(src.path);
    const table = await ourTable(src.path);
    const dst = disk(where, 100 * MiB);
    copy(src.path, dst.path, 64 * MiB);
    const plan = planAdjust(table, { targetSize: geometry(dst.path).size, targetSectorSize: geometry(dst.path).sectorSize, growLast: true });
    applyTo(dst.path, plan.writes);
    expectCheckersClean(dst.path);
    const before = sgdiskTable(src.path);
    const after = sgdiskTable(dst.path);
    const last = after.partitions[3];
    expect(last.lastLba).toBe(after.lastUsable);
    expect({ ...last, lastLba: 0 }).toEqual({ ...before.partitions[3], lastLba: 0 });
    expect(after.partitions.slice(0, 3)).toEqual(before.partitions.slice(0, 3));
    expect(plan.grown?.newLastLba).toBe(after.lastUsable);
    const sf = sfdiskJson(dst.path).partitions[3];
    expect(sf.start + sf.size - 1).toBe(after.lastUsable);
    expectSameAsSgdisk(await ourTable(dst.path), dst.path);
  });

  it.each(['file', 'loop4096'] as const)('grow-last on a larger DOS target (%s): the last logical partition and its extended partition end at the last sector', async (where) => {
    const src = disk(where, 64 * MiB);
    sfdiskMbr(src.path, false);
    const table = await ourTable(src.path);
    const dst = disk(where, 96 * MiB);
    copy(src.path, dst.path, 64 * MiB);
    const { size, sectorSize } = geometry(dst.path);
    const plan = planAdjust(table, { targetSize: size, targetSectorSize: sectorSize, growLast: true });
    applyTo(dst.path, plan.writes);
    const v = run('sfdisk', ['--verify', dst.path]);
    expect(v.status, v.out).toBe(0);
    expect(v.out).toMatch(/No errors detected/);
    const sf = sfdiskJson(dst.path);
    const lastSector = size / sectorSize - 1;
    const byNode = (n: number) => sf.partitions.find((p) => p.node.endsWith(String(n)));
    expect((byNode(6)?.start ?? 0) + (byNode(6)?.size ?? 0) - 1).toBe(lastSector);
    expect((byNode(3)?.start ?? 0) + (byNode(3)?.size ?? 0) - 1).toBe(lastSector);
    expect(byNode(6)?.type).toBe('82');
    expect(byNode(1)?.bootable).toBe(true);
    expect(sf.id).toBe('0x5eed1234');
    expectSameAsSfdisk(await ourTable(dst.path), dst.path);
  });

  it('a 3 TiB sparse target: the protective MBR is capped at 0xFFFFFFFF sectors as sgdisk -e does, and grow-last reaches the end', async () => {
    const src = disk('file', 64 * MiB);
    sgdiskGpt(src.path);
    const table = await ourTable(src.path);
    const size = 3 * 2 ** 40;
    const dst = disk('file', size);
    const twin = disk('file', size);
    copy(src.path, dst.path, 64 * MiB);
    copy(src.path, twin.path, 64 * MiB);
    applyTo(dst.path, planAdjust(table, { targetSize: size }).writes);
    expectCheckersClean(dst.path);
    sh('sgdisk', ['-e', twin.path]);
    expect(differingSectorsIn(dst.file, twin.file, 512, [[0, 64 * MiB], [size - MiB, size]])).toEqual([64 * 2048 - 1]);
    const ours = await ourTable(dst.path);
    expect(ours.mbr?.entries[0].sectors).toBe(0xffffffff);

    const grown = disk('file', size);
    copy(src.path, grown.path, 64 * MiB);
    applyTo(grown.path, planAdjust(table, { targetSize: size, growLast: true }).writes);
    expectCheckersClean(grown.path);
    const sg = sgdiskTable(grown.path);
    expect(sg.partitions[3].lastLba).toBe(sg.lastUsable);
    expect(sg.lastUsable).toBe(size / 512 - 34);
  });

  it.each(['file', 'loop4096'] as const)('a smaller DOS target (%s): the extended partition shrinks to the end, sfdisk --verify is clean', async (where) => {
    const src = disk(where, 64 * MiB);
    sfdiskMbr(src.path, false);
    const table = await ourTable(src.path);
    const size = 50 * MiB;
    const dst = disk(where, size);
    const plan = planAdjust(table, { targetSize: size, targetSectorSize: geometry(dst.path).sectorSize, fit: true });
    copy(src.path, dst.path, plan.copyLength);
    applyTo(dst.path, plan.writes);
    const v = run('sfdisk', ['--verify', dst.path]);
    expect(v.status, v.out).toBe(0);
    expect(v.out).toMatch(/No errors detected/);
    const sf = sfdiskJson(dst.path);
    const ext = sf.partitions.find((p) => p.type === '5');
    expect((ext?.start ?? 0) + (ext?.size ?? 0)).toBe(size / table.sectorSize);
    expectSameAsSfdisk(await ourTable(dst.path), dst.path);
    for (const p of table.partitions.filter((x) => x.kind !== 'extended')) expect(sha256(dst.file, p.start, p.size), `partition ${p.number}`).toBe(sha256(src.file, p.start, p.size));
  });

  it('grow-last of a last primary DOS partition on a file', async () => {
    const src = disk('file', 32 * MiB);
    expect(run('sfdisk', ['-q', src.path], 'label: dos\nsize=8M, type=83\nsize=8M, type=7, bootable\n').status).toBe(0);
    const table = await ourTable(src.path);
    const dst = disk('file', 48 * MiB);
    copy(src.path, dst.path, 32 * MiB);
    applyTo(dst.path, planAdjust(table, { targetSize: 48 * MiB, growLast: true }).writes);
    const sf = sfdiskJson(dst.path).partitions;
    expect(sf[1]).toMatchObject({ start: table.partitions[1].firstLba, size: 48 * 2048 - table.partitions[1].firstLba, type: '7', bootable: true });
    expect(sfdiskVerify(dst.path).clean).toBe(true);
  });
});

describeRoot('partition tables we write, checked by sgdisk and sfdisk', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let seq = 0;
  function disk(where: 'file' | 'loop4096', size: number): { path: string; file: string } {
    const file = join(fx.dir(), `w${seq++}.img`);
    sh('truncate', ['-s', String(size), file]);
    return where === 'file' ? { path: file, file } : { path: fx.loop(file, 4096).dev, file };
  }
  const parts = (ss: number): NewGptPartition[] => {
    const m = MiB / ss;
    return [
      { number: 1, firstLba: m, lastLba: 9 * m - 1, typeGuid: ESP, guid: guid(), name: 'EFI' },
      { number: 3, firstLba: 9 * m, lastLba: 30 * m - 1, typeGuid: LINUX, guid: guid(), name: 'root ✓', attributes: (1n << 59n) | 4n },
    ];
  };

  it.each(['file', 'loop4096'] as const)('a GPT from build.ts passes sgdisk -v and sfdisk --verify and reads the same in sgdisk (%s)', async (where) => {
    const d = disk(where, 32 * MiB);
    const { sectorSize } = geometry(d.path);
    const p = parts(sectorSize);
    applyTo(d.path, buildGpt({ sectorSize, diskSize: 32 * MiB, diskGuid: guid(), partitions: p }));
    const sg = sgdiskVerify(d.path);
    expect(sg.clean, sg.out).toBe(true);
    const sf = sfdiskVerify(d.path);
    expect(sf.clean, sf.out).toBe(true);
    const t = sgdiskTable(d.path);
    expect(t.partitions.map((x) => [x.number, x.firstLba, x.lastLba, x.guid, x.name, x.attributes])).toEqual(p.map((x) => [x.number, x.firstLba, x.lastLba, x.guid, x.name, (x.attributes ?? 0n).toString(16).toUpperCase().padStart(16, '0')]));
  });

  it('overlapping partitions and a partition past the usable sectors: sgdisk -v and we both flag them', async () => {
    const d = disk('file', 32 * MiB);
    const p = parts(512);
    p[1].firstLba = 8 * 2048; // inside partition 1
    applyTo(d.path, buildGpt({ sectorSize: 512, diskSize: 32 * MiB, diskGuid: guid(), partitions: p }));
    expect(sgdiskVerify(d.path).out).toMatch(/overlap/i);
    expect((await ourTable(d.path)).problems.map((x) => x.code)).toEqual(['PARTITION_OVERLAP']);

    const e = disk('file', 32 * MiB);
    const q = parts(512);
    q[1].lastLba = 32 * 2048 - 20; // into the backup array
    applyTo(e.path, buildGpt({ sectorSize: 512, diskSize: 32 * MiB, diskGuid: guid(), partitions: q }));
    expect(sgdiskVerify(e.path).clean).toBe(false);
    expect((await ourTable(e.path)).problems.map((x) => x.code)).toEqual(['PARTITION_OUTSIDE_USABLE']);
  });
});

describeRoot('readTableOf: a drive at its sector size, an image file at its GPT\'s', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });

  it('reads a 4096-sector GPT through the loop device and from its backing file alone', async () => {
    const file = join(fx.dir(), 'g4k.img');
    sh('truncate', ['-s', String(64 * MiB), file]);
    const loop = fx.loop(file, 4096);
    sh('sgdisk', ['-n1:0:+8M', '-c1:one', '-n2:0:0', '-c2:two', loop.dev]);
    const viaDrive = await readTableOf(inspectDrive(loop.dev, 'source'));
    const viaFile = await readTableOf(inspectDrive(file, 'source'));
    expect(viaDrive.sectorSize).toBe(4096);
    expect(viaFile.sectorSize).toBe(4096);
    expect(viaFile.partitions).toEqual(viaDrive.partitions);
    expect(viaDrive.partitions.map((p) => [p.name, p.start])).toEqual([['one', MiB], ['two', 9 * MiB]]);
  });

  it('reads a 4096-sector DOS image file with the sector size the manifest recorded', async () => {
    const file = join(fx.dir(), 'm4k.img');
    sh('truncate', ['-s', String(64 * MiB), file]);
    const loop = fx.loop(file, 4096);
    expect(run('sfdisk', ['-q', loop.dev], 'label: dos\nsize=8M, type=83\ntype=83\n').status).toBe(0);
    const viaDrive = await readTableOf(inspectDrive(loop.dev, 'source'));
    const viaFile = await readTableOf(inspectDrive(file, 'source'), 4096);
    expect(viaFile.partitions).toEqual(viaDrive.partitions);
    expect(viaDrive.partitions[0].start).toBe(MiB);
  });

  it('a path that does not exist is the usual NOT_FOUND', async () => {
    await expect(readTableOf({ path: join(fx.dir(), 'nope'), kind: 'file', size: 0, logicalSectorSize: 512 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
