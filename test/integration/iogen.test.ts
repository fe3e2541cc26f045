// The I/O generator on real loop devices and files: the I/O the kernel saw (/sys/block/*/stat)
// is the I/O asked for, offsets land where they should, reads change nothing, writes change
// only the range asked, on both backends, several rings at once, cancel and refusals.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { basename, join } from 'node:path';
import { mkdirSync, openSync, readFileSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { deflateRawSync } from 'node:zlib';
import { describeRoot } from '../helpers/root.js';
import { makeFile, root, sh, sha256, umountWhenFree, useLoopScratch } from '../helpers/fixtures.js';
import { IoGenerator, allocateIoGenCounters, readIoGenHistogram, readIoGenLive, type IoGenSpec } from '../../src/iogen.js';
import { CloneStationError } from '../../src/errors.js';
import { failingDrive } from '../helpers/failing-drive.js';

const MiB = 1 << 20;
const backends = ['io_uring', 'threads'] as const;

/** The kernel's count of one loop device's I/O: bios = completed requests + merged ones. */
interface DevStat {
  reads: number;
  readSectors: number;
  writes: number;
  writeSectors: number;
}
function devStat(dev: string): DevStat {
  const f = readFileSync(`/sys/block/${basename(dev)}/stat`, 'utf8').trim().split(/\s+/).map(Number);
  return { reads: f[0] + f[1], readSectors: f[2], writes: f[4] + f[5], writeSectors: f[6] };
}
function delta(a: DevStat, b: DevStat): DevStat {
  return { reads: b.reads - a.reads, readSectors: b.readSectors - a.readSectors, writes: b.writes - a.writes, writeSectors: b.writeSectors - a.writeSectors };
}

/** bytes [off, off + len) of a file */
function slice(path: string, off: number, len: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, off);
    return b;
  } finally {
    closeSync(fd);
  }
}

async function run(spec: IoGenSpec) {
  const gen = new IoGenerator(spec);
  return { gen, result: await gen.run() };
}

function expectCode(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(CloneStationError);
  expect((err as CloneStationError).code, (err as Error).message).toBe(code);
}

describeRoot('I/O generator', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });

  for (const backend of backends) {
    it(`${backend}: random reads: the drive sees exactly the I/Os asked, aligned, spread over the whole range, and is left byte-identical`, async () => {
      const loop = fx.loop(makeFile(join(fx.dir(), `rr-${backend}.img`), 32 * MiB));
      const before = sha256(loop.file);
      const s0 = devStat(loop.dev);
      const range = { offset: 4 * MiB, size: 16 * MiB };
      const bs = 4096;
      const ops = 3000;
      const { result } = await run({ path: loop.dev, rw: 'randread', blockSize: bs, depth: 8, ...range, bytes: ops * bs, backend, seed: 42, recordOffsets: ops });
      const d = delta(s0, devStat(loop.dev));
      expect(result.state, result.error?.message).toBe('done');
      expect(result.backend).toBe(backend);
      expect(result.read.ops).toBe(ops);
      expect(result.read.bytes).toBe(ops * bs);
      expect(result.write.ops).toBe(0);
      expect(d).toEqual({ reads: ops, readSectors: (ops * bs) / 512, writes: 0, writeSectors: 0 });
      // latency figures exist and are ordered
      const p = result.read.lat.percentiles;
      expect(p.map((x) => x.percent)).toEqual([50, 90, 99, 99.9, 99.99]);
      for (let i = 1; i < p.length; i++) expect(p[i].ns).toBeGreaterThanOrEqual(p[i - 1].ns);
      expect(result.read.lat.minNs).toBeLessThanOrEqual(result.read.lat.meanNs);
      expect(result.read.lat.meanNs).toBeLessThanOrEqual(result.read.lat.maxNs);
      expect(result.read.histogram.reduce((a, b) => a + b, 0)).toBe(ops);
      // offsets: in the range, block-aligned, and spread evenly over it
      const offs = result.rings[0].offsets;
      expect(offs).toHaveLength(ops);
      const bins = new Array<number>(8).fill(0);
      for (const o of offs) {
        expect(o % bs, `offset ${o}`).toBe(0);
        expect(o).toBeGreaterThanOrEqual(range.offset);
        expect(o + bs).toBeLessThanOrEqual(range.offset + range.size);
        bins[Math.floor(((o - range.offset) / range.size) * 8)]++;
      }
      for (const n of bins) expect(n, `bins ${bins.join(',')}`).toBeGreaterThan(ops / 8 / 1.5);
      for (const n of bins) expect(n, `bins ${bins.join(',')}`).toBeLessThan((ops / 8) * 1.5);
      // reaching both ends (3000 uniform draws leave a gap of size/64 at an end with
      // probability e^-47)
      expect(Math.min(...offs)).toBeLessThan(range.offset + range.size / 64);
      expect(Math.max(...offs) + bs).toBeGreaterThan(range.offset + range.size - range.size / 64);
      expect(sha256(loop.file)).toBe(before);
    });
  }

  it('the same seed gives the same offsets, another seed others', async () => {
    const file = makeFile(join(fx.dir(), 'seed.img'), 8 * MiB);
    const spec: IoGenSpec = { path: file, rw: 'randread', blockSize: 4096, bytes: 200 * 4096, recordOffsets: 200 };
    const a = (await run({ ...spec, seed: 7 })).result.rings[0].offsets;
    const b = (await run({ ...spec, seed: 7 })).result.rings[0].offsets;
    const c = (await run({ ...spec, seed: 8 })).result.rings[0].offsets;
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  for (const backend of backends) {
    it(`${backend}: four rings at once split a sequential count between them, each over the whole range, wrapping at its end`, async () => {
      const loop = fx.loop(makeFile(join(fx.dir(), `seq-${backend}.img`), 16 * MiB, 'zero'), 4096);
      const bs = 64 * 1024;
      const ops = 4 * 100 + 2; // rings 0 and 1 do 101, rings 2 and 3 do 100
      const range = { offset: 1 * MiB, size: 64 * bs + 4096 }; // 64 whole blocks and a piece never touched
      const s0 = devStat(loop.dev);
      const { result } = await run({ path: loop.dev, rw: 'read', blockSize: bs, depth: 4, jobs: 4, ...range, bytes: ops * bs, backend, recordOffsets: 200 });
      const d = delta(s0, devStat(loop.dev));
      expect(result.state, result.error?.message).toBe('done');
      expect(result.rings.map((r) => r.read.ops)).toEqual([101, 101, 100, 100]);
      expect(result.read.ops).toBe(ops);
      expect(d.reads).toBe(ops);
      expect(d.readSectors).toBe((ops * bs) / 512);
      for (const ring of result.rings) {
        // sequential per ring: its offsets in order (the portable backend's threads take
        // them in order too, but may record them a little out of order)
        const expected = ring.offsets.map((_, i) => range.offset + (i % 64) * bs);
        const num = (x: number, y: number): number => x - y;
        if (backend === 'io_uring') expect(ring.offsets).toEqual(expected);
        else expect([...ring.offsets].sort(num)).toEqual([...expected].sort(num));
      }
    });
  }

  for (const backend of backends) {
    it(`${backend}: random writes land in the range asked and nowhere else, with incompressible blocks no two alike`, async () => {
      const size = 32 * MiB;
      const loop = fx.loop(makeFile(join(fx.dir(), `rw-${backend}.img`), size));
      const original = readFileSync(loop.file);
      const range = { offset: 8 * MiB, size: 4 * MiB };
      const bs = 8192;
      const ops = 1500;
      const s0 = devStat(loop.dev);
      const { result } = await run({ path: loop.dev, rw: 'randwrite', blockSize: bs, depth: 16, ...range, bytes: ops * bs, backend, recordOffsets: ops, seed: 3 });
      const d = delta(s0, devStat(loop.dev));
      expect(result.state, result.error?.message).toBe('done');
      expect(result.write.ops).toBe(ops);
      expect(result.read.ops).toBe(0);
      expect(d.writes).toBe(ops);
      expect(d.writeSectors).toBe((ops * bs) / 512);
      expect(d.reads).toBe(0);
      const after = readFileSync(loop.file);
      expect(after.subarray(0, range.offset).equals(original.subarray(0, range.offset))).toBe(true);
      expect(after.subarray(range.offset + range.size).equals(original.subarray(range.offset + range.size))).toBe(true);
      // every block written (odd entries: writes at offset - 1) differs from before; blocks
      // never written are as they were
      const written = new Set(result.rings[0].offsets.map((o) => o - 1));
      expect(result.rings[0].offsets.every((o) => o % 2 === 1)).toBe(true);
      const seen = new Set<string>();
      for (let off = range.offset; off < range.offset + range.size; off += bs) {
        const now = after.subarray(off, off + bs);
        const was = original.subarray(off, off + bs);
        if (written.has(off)) {
          expect(now.equals(was), `block at ${off} unchanged`).toBe(false);
          seen.add(now.toString('base64'));
        } else {
          expect(now.equals(was), `block at ${off} changed but never written`).toBe(true);
        }
      }
      expect(seen.size).toBe(written.size);
      const sample = after.subarray([...written][0], [...written][0] + bs);
      expect(deflateRawSync(sample).length).toBeGreaterThan(bs * 0.99);
    });
  }

  it('zero fill writes zeros', async () => {
    const file = makeFile(join(fx.dir(), 'zeros.img'), 4 * MiB);
    const { result } = await run({ path: file, rw: 'write', blockSize: 65536, offset: MiB, size: MiB, bytes: MiB, fill: 'zeros' });
    expect(result.state).toBe('done');
    const after = readFileSync(file);
    expect(after.subarray(MiB, 2 * MiB).every((b) => b === 0)).toBe(true);
    expect(after.subarray(0, MiB).some((b) => b !== 0)).toBe(true);
    expect(after.subarray(2 * MiB).some((b) => b !== 0)).toBe(true);
  });

  it('a mixed workload does the read share asked, and the kernel sees each direction’s count', async () => {
    const loop = fx.loop(makeFile(join(fx.dir(), 'mixed.img'), 16 * MiB));
    const s0 = devStat(loop.dev);
    const ops = 2000;
    const { result } = await run({ path: loop.dev, rw: 'randrw', readPercent: 70, blockSize: 4096, depth: 8, jobs: 2, bytes: ops * 4096 });
    const d = delta(s0, devStat(loop.dev));
    expect(result.state, result.error?.message).toBe('done');
    expect(result.read.ops + result.write.ops).toBe(ops);
    expect(result.read.ops / ops).toBeGreaterThan(0.65);
    expect(result.read.ops / ops).toBeLessThan(0.75);
    expect(d.reads).toBe(result.read.ops);
    expect(d.writes).toBe(result.write.ops);
  });

  for (const backend of backends) {
    it(`${backend}: a regular file: reads leave it identical`, async () => {
      const file = makeFile(join(fx.dir(), `file-${backend}.img`), 8 * MiB);
      const before = sha256(file);
      const { result } = await run({ path: file, rw: 'randread', blockSize: 4096, depth: 4, jobs: 2, bytes: 1000 * 4096, backend });
      expect(result.state).toBe('done');
      expect(result.read.ops).toBe(1000);
      expect(sha256(file)).toBe(before);
    });
  }

  it('time-based: the ramp is run but not counted, and the live counters and histogram end equal to the result', async () => {
    const loop = fx.loop(makeFile(join(fx.dir(), 'timed.img'), 16 * MiB));
    const s0 = devStat(loop.dev);
    const gen = new IoGenerator({ path: loop.dev, rw: 'randread', blockSize: 4096, depth: 4, runtimeMs: 400, rampMs: 300 });
    const running = gen.run();
    // the live view, from the shared memory, moves while it runs
    let seen = readIoGenLive(gen.counters);
    for (let i = 0; i < 400 && !(seen.phase === 'measuring' && seen.read.ops > 0); i++) {
      await new Promise((r) => setTimeout(r, 10));
      seen = readIoGenLive(gen.counters);
    }
    expect(seen.state).toBe('running');
    expect(seen.read.ops).toBeGreaterThan(0);
    const result = await running;
    const d = delta(s0, devStat(loop.dev));
    expect(result.state).toBe('done');
    expect(result.read.ops).toBeGreaterThan(0);
    // the drive did the ramp's reads too; the result counts only those after it
    expect(d.reads).toBeGreaterThan(result.read.ops);
    expect(result.read.seconds).toBeGreaterThan(0.39);
    expect(result.elapsedSeconds).toBeGreaterThan(0.69);
    // the one ring's thread CPU while counting: some, and no more than the wall time
    expect(result.cpuSeconds).toBeGreaterThan(0);
    expect(result.cpuSeconds).toBeLessThanOrEqual(result.elapsedSeconds);
    const end = readIoGenLive(gen.counters);
    expect(end.state).toBe('done');
    expect(end.phase).toBe('ended');
    expect(end.read.ops).toBe(result.read.ops);
    expect(end.read.bytes).toBe(result.read.bytes);
    expect(end.inFlight).toBe(0);
    expect(Array.from(readIoGenHistogram(gen.counters, 'read'))).toEqual(Array.from(result.read.histogram));
    expect(end.measuredNs / 1e9).toBeCloseTo(result.read.seconds, 6);
  });

  for (const backend of backends) {
    it(`${backend}: cancel stops a long run and leaves the drive as it was`, async () => {
      const loop = fx.loop(makeFile(join(fx.dir(), `cancel-${backend}.img`), 16 * MiB));
      const before = sha256(loop.file);
      const gen = new IoGenerator({ path: loop.dev, rw: 'randread', blockSize: 4096, depth: 4, jobs: 2, runtimeMs: 600_000, backend });
      const running = gen.run();
      for (let i = 0; i < 500 && readIoGenLive(gen.counters).read.ops === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readIoGenLive(gen.counters).read.ops).toBeGreaterThan(0);
      gen.cancel();
      const result = await running;
      expect(result.state).toBe('cancelled');
      expect(result.read.seconds).toBeLessThan(600);
      expect(readIoGenLive(gen.counters).state).toBe('cancelled');
      expect(sha256(loop.file)).toBe(before);
    });
  }

  it('runs in a worker thread while this thread reads its live figures; a worker torn down mid-run stops it', async () => {
    const loop = fx.loop(makeFile(join(fx.dir(), 'worker.img'), 16 * MiB));
    const counters = allocateIoGenCounters();
    // the built module (a worker cannot load TypeScript), as the station's workers do
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.module).then(async ({ IoGenerator }) => {
        const gen = new IoGenerator(workerData.spec, { counters: workerData.counters });
        parentPort.postMessage('started');
        await gen.run();
        parentPort.postMessage('ended');
      });`;
    const spec: IoGenSpec = { path: loop.dev, rw: 'randread', blockSize: 4096, depth: 4, runtimeMs: 600_000 };
    const worker = new Worker(code, { eval: true, workerData: { module: join(root, 'dist', 'src', 'iogen.js'), spec, counters } });
    const messages: string[] = [];
    worker.on('message', (m: string) => messages.push(m));
    let live = readIoGenLive(counters);
    for (let i = 0; i < 1000 && live.read.ops === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      live = readIoGenLive(counters);
    }
    expect(live.state).toBe('running');
    expect(live.read.ops).toBeGreaterThan(0);
    expect(readIoGenHistogram(counters, 'read').reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const s0 = devStat(loop.dev);
    await worker.terminate();
    // the generator was cancelled and joined with its worker: the drive is idle now
    expect(messages).toEqual(['started']);
    expect(readIoGenLive(counters).state).toBe('cancelled');
    const s1 = devStat(loop.dev);
    await new Promise((r) => setTimeout(r, 200));
    expect(devStat(loop.dev).reads).toBe(s1.reads);
    expect(s1.reads).toBeGreaterThanOrEqual(s0.reads);
  });

  for (const backend of backends) {
    it(`${backend}: a read error stops the run: failed, with the errno and the offset, and only the I/Os before it counted`, async () => {
      const dir = join(fx.dir(), `fd-${backend}`);
      mkdirSync(dir);
      const drive = failingDrive({ dir, size: 4 * MiB, bad: [{ offset: 2 * MiB, length: 64 * 1024 }], fill: 'random' });
      try {
        const bs = 64 * 1024;
        const { result } = await run({ path: drive.dev, rw: 'read', blockSize: bs, depth: 1, bytes: 64 * bs, backend });
        expect(result.state).toBe('failed');
        expect(result.error?.code).toBe('BENCH_IO_FAILED');
        expect(result.error?.details).toMatchObject({ errno: 'EIO', op: 'read', offset: 2 * MiB });
        // depth 1, sequential: the 32 blocks before the bad one, and nothing after it
        expect(result.read.ops).toBe(32);
      } finally {
        drive.down();
      }
    });
  }

  it('refuses bad specs with a code before opening anything', () => {
    const loop = fx.loop(makeFile(join(fx.dir(), 'bad.img'), 8 * MiB, 'zero'), 4096);
    const base: IoGenSpec = { path: loop.dev, rw: 'randread', blockSize: 4096, bytes: 4096 };
    expectCode(() => new IoGenerator({ ...base, blockSize: 512 }), 'IOGEN_BLOCK_SIZE');
    expectCode(() => new IoGenerator({ ...base, offset: 512 }), 'IOGEN_RANGE');
    expectCode(() => new IoGenerator({ ...base, offset: 4096, size: 8 * MiB }), 'IOGEN_RANGE');
    expectCode(() => new IoGenerator({ ...base, size: 2048 }), 'IOGEN_RANGE');
    expectCode(() => new IoGenerator({ ...base, runtimeMs: 100 }), 'IOGEN_LIMIT');
    expectCode(() => new IoGenerator({ ...base, bytes: undefined }), 'IOGEN_LIMIT');
    expectCode(() => new IoGenerator({ ...base, bytes: 6000 }), 'IOGEN_LIMIT');
    expectCode(() => new IoGenerator({ ...base, rampMs: 100 }), 'IOGEN_LIMIT');
    expectCode(() => new IoGenerator({ ...base, depth: 0 }), 'IOGEN_DEPTH');
    expectCode(() => new IoGenerator({ ...base, jobs: 1000 }), 'IOGEN_JOBS');
    expectCode(() => new IoGenerator({ ...base, readPercent: 50 }), 'IOGEN_READ_PERCENT');
    expectCode(() => new IoGenerator({ ...base, rw: 'randrw', readPercent: 101 }), 'IOGEN_READ_PERCENT');
    expectCode(() => new IoGenerator({ ...base, rw: 'trim' as IoGenSpec['rw'] }), 'IOGEN_RW');
    expectCode(() => new IoGenerator({ ...base, seed: -1 }), 'IOGEN_SEED');
    expectCode(() => new IoGenerator({ ...base, path: join(fx.dir(), 'missing.img') }), 'NOT_FOUND');
  });

  it('refuses to write a read-only drive and a mounted one, and writes nothing', () => {
    const ro = fx.loop(makeFile(join(fx.dir(), 'ro.img'), 8 * MiB), 512, true);
    const roBefore = sha256(ro.file);
    expectCode(() => new IoGenerator({ path: ro.dev, rw: 'randwrite', blockSize: 4096, bytes: 4096 }), 'READ_ONLY');
    expect(sha256(ro.file)).toBe(roBefore);

    const fsLoop = fx.loop(makeFile(join(fx.dir(), 'mounted.img'), 32 * MiB, 'zero'));
    sh('mkfs.ext4', ['-q', '-F', fsLoop.dev]);
    const mnt = join(fx.dir(), 'mnt');
    mkdirSync(mnt);
    sh('mount', [fsLoop.dev, mnt]);
    try {
      writeFileSync(join(mnt, 'keep.txt'), 'data');
      sh('sync', []);
      const before = sha256(fsLoop.file);
      expectCode(() => new IoGenerator({ path: fsLoop.dev, rw: 'randwrite', blockSize: 4096, bytes: 4096 }), 'TARGET_BUSY');
      expect(sha256(fsLoop.file)).toBe(before);
    } finally {
      umountWhenFree(mnt);
    }
  });

  it('refuses a file system without O_DIRECT rather than measure the page cache', () => {
    const mnt = join(fx.dir(), 'ramfs');
    mkdirSync(mnt);
    sh('mount', ['-t', 'ramfs', 'ramfs', mnt]);
    try {
      const file = makeFile(join(mnt, 'test.img'), 4 * MiB);
      expectCode(() => new IoGenerator({ path: file, rw: 'randread', blockSize: 4096, bytes: 4096 }), 'DIRECT_IO_UNSUPPORTED');
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});
