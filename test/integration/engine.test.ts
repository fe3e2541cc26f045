// The native engine under the station's feet: worker threads, memory, faults, control.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describeRoot } from '../helpers/root.js';
import { cli, makeFile, runCli, lastEvent, sha256, sh, umountWhenFree, useLoopScratch } from '../helpers/fixtures.js';
import { EngineJob, allocateCounters, readCounters } from '../../src/engine.js';
import { createPool } from '../../src/pool.js';
import { cloneOne, verifyTargets } from '../../src/jobs/clone.js';
import { VerifyMismatchError } from '../../src/errors.js';
import { allocateControl, requestCancel, type CopyTaskResult } from '../../src/contract.js';
import { pausableDevice, slowTarget } from '../helpers/slow-target.js';
import type { Reporter } from '../../src/progress.js';

const silent: Reporter = { note() {}, progress() {}, phaseEnd() {}, done() {}, error() {} };

describeRoot('native engine', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const loop = fx.loop;

  it('clones two pairs at once in two worker threads, progress readable from this thread', async () => {
    const size = 48 << 20;
    const pairs = [0, 1].map((i) => ({
      src: loop(makeFile(join(fx.dir(), `w-src-${i}.img`), size), i === 0 ? 512 : 4096),
      dst: loop(makeFile(join(fx.dir(), `w-dst-${i}.img`), size, 'zero'), i === 0 ? 512 : 4096),
    }));
    const pool = createPool(2);
    try {
      const counters = pairs.map(() => allocateCounters(1));
      const runs = pairs.map((p, i) =>
        pool.run({
          request: {
            mode: 'copy',
            source: { path: p.src.dev },
            targets: [{ path: p.dst.dev, exclusive: true }],
            extents: [{ offset: 0, length: size }],
            blockSize: 1 << 20,
            depth: 4,
          },
          counters: counters[i],
          control: allocateControl(),
        }) as Promise<CopyTaskResult>,
      );
      const results = await Promise.all(runs);
      for (const [i, r] of results.entries()) {
        expect(r.state, JSON.stringify(r)).toBe('done');
        expect(r.errors).toEqual([]);
        // the station's view of the counters, read here, matches the worker's
        const seen = readCounters(counters[i], size);
        expect(seen.state).toBe('done');
        expect(seen.bytesRead).toBe(size);
        expect(seen.targets[0].bytes).toBe(size);
        expect(sha256(pairs[i].dst.file)).toBe(sha256(pairs[i].src.file));
      }
      expect(results[0].threadId).not.toBe(results[1].threadId);
      expect(results.every((r) => r.threadId > 0)).toBe(true);
    } finally {
      await pool.destroy();
    }
  });

  it('cancels a job in a worker through the shared control word', async () => {
    const src = makeFile(join(fx.dir(), 'wc-src.img'), 512 << 20, 'zero');
    const dst = makeFile(join(fx.dir(), 'wc-dst.img'), 512 << 20, 'zero');
    const pool = createPool(1);
    try {
      const control = allocateControl();
      const run = pool.run({
        request: { mode: 'copy', source: { path: src }, targets: [{ path: dst }], extents: [{ offset: 0, length: 512 << 20 }], blockSize: 4096, depth: 1, backend: 'threads' },
        counters: allocateCounters(1),
        control,
      }) as Promise<CopyTaskResult>;
      requestCancel(control);
      const r = await run;
      expect(r.state).toBe('cancelled');
      expect(r.progress.targets[0].bytes).toBeLessThan(512 << 20);
    } finally {
      await pool.destroy();
    }
  });

  it('keeps memory flat over many clones (no leaked rings, descriptors or threads)', async () => {
    const src = makeFile(join(fx.dir(), 'leak-src.img'), 8 << 20);
    const dst = makeFile(join(fx.dir(), 'leak-dst.img'), 8 << 20, 'zero');
    const once = async (backend: 'io_uring' | 'threads'): Promise<void> => {
      const job = new EngineJob({ mode: 'copy', source: { path: src }, targets: [{ path: dst }], extents: [{ offset: 0, length: 8 << 20 }], backend, blockSize: 4 << 20, depth: 4 });
      const r = await job.run();
      expect(r.state).toBe('done');
    };
    for (let i = 0; i < 10; i++) await once(i % 2 ? 'threads' : 'io_uring');
    const before = process.memoryUsage().rss;
    // each job allocates a 16 MiB ring: 150 leaked rings would be 2.4 GiB
    for (let i = 0; i < 150; i++) await once(i % 2 ? 'threads' : 'io_uring');
    const growth = process.memoryUsage().rss - before;
    expect(growth).toBeLessThan(48 << 20);
    // no descriptor of ours survives its job: not the files, not an io_uring instance
    const held = readdirSync('/proc/self/fd')
      .map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '';
        }
      })
      .filter((target) => target === src || target === dst || target.includes('io_uring'));
    expect(held).toEqual([]);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('finds the first differing byte when verifying', async () => {
    const src = loop(makeFile(join(fx.dir(), 'v-src.img'), 16 << 20), 4096);
    const dst = loop(makeFile(join(fx.dir(), 'v-dst.img'), 16 << 20, 'zero'), 4096);
    await cloneOne({ source: src.dev, target: dst.dev, yes: true }, silent);
    // flip one byte on the target's backing file, well inside a block
    const at = 9 * (1 << 20) + 12345;
    const fd = openSync(dst.file, 'r+');
    const original = Buffer.alloc(1);
    readSync(fd, original, 0, 1, at);
    writeSync(fd, Buffer.from([original[0] ^ 0xff]), 0, 1, at);
    closeSync(fd);
    // the verify a clone job runs after its copy (src/jobs/clone.ts), on its own
    const spec = { source: src.dev, targets: [dst.dev], offset: 0, length: 16 << 20, targetDelta: 0, blockSize: 1 << 20, depth: 2, backend: 'auto' as const, direct: true, verify: true, lagMs: 0, retries: 0 };
    const v = await verifyTargets(spec, [0], undefined, (job) => job.run());
    const e = v.failures.get(0);
    expect(e).toBeInstanceOf(VerifyMismatchError);
    expect(e?.details.targetOffset).toBe(at);
    expect(e?.exitStatus).toBe(5);
    expect(e?.message).toBe(`verify failed: target ${dst.dev} differs from the source at target offset ${at} (source offset ${at}): the target may be failing`);
  });

  it('reports a target that stops taking writes (ENOSPC under the loop device) with its offset', () => {
    // A 16 MiB loop device over a sparse file on an 8 MiB tmpfs: the device promises room
    // its backing store does not have, as a failing or lying drive does.
    const mnt = join(fx.dir(), 'small-fs');
    mkdirSync(mnt);
    sh('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    try {
      const src = loop(makeFile(join(fx.dir(), 'nospc-src.img'), 16 << 20));
      const backing = join(mnt, 'target.img');
      sh('truncate', ['-s', '16M', backing]);
      const dst = loop(backing);
      const r = runCli(['clone', src.dev, dst.dev, '--yes', '--json']);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      const err = lastEvent(r, 'error');
      expect(['TARGET_FULL', 'WRITE_FAILED']).toContain(err?.code);
      expect(typeof err?.offset).toBe('number');
      expect(err?.offset as number).toBeGreaterThan(0);
      expect(err?.offset as number).toBeLessThan(16 << 20);
      expect(lastEvent(r, 'done')).toBeUndefined();
    } finally {
      fx.detachAll();
      umountWhenFree(mnt);
    }
  });

  it('lets go of its files when a job ends: a loop detached right after an io_uring clone frees its file system at once', () => {
    // The kernel tears a closed ring down later; registered files held the loop (and so its
    // backing file) open until then, and umount said "target is busy" every time.
    const mnt = join(fx.dir(), 'released-fs');
    mkdirSync(mnt);
    sh('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mnt]);
    let mounted = true;
    try {
      const src = makeFile(join(fx.dir(), 'released-src.img'), 8 << 20);
      const backing = join(mnt, 'target.img');
      sh('truncate', ['-s', '8M', backing]);
      const dev = sh('losetup', ['--find', '--show', backing]);
      const r = runCli(['clone', src, dev, '--yes', '--backend', 'io_uring']);
      spawnSync('losetup', ['-d', dev]);
      expect(r.status, r.stderr).toBe(0);
      const u = spawnSync('umount', [mnt], { encoding: 'utf8' });
      expect(u.status, u.stderr).toBe(0);
      mounted = false;
    } finally {
      if (mounted) umountWhenFree(mnt);
    }
  });

  it('pauses and resumes a running job', async () => {
    const src = makeFile(join(fx.dir(), 'p-src.img'), 64 << 20, 'zero');
    const dst = makeFile(join(fx.dir(), 'p-dst.img'), 64 << 20, 'zero');
    const job = new EngineJob({ mode: 'copy', source: { path: src }, targets: [{ path: dst }], extents: [{ offset: 0, length: 64 << 20 }], backend: 'threads', blockSize: 4096, depth: 1 });
    job.pause();
    const run = job.run();
    await new Promise((r) => setTimeout(r, 300));
    const paused = job.snapshot().targets[0].bytes;
    await new Promise((r) => setTimeout(r, 300));
    // nothing moves while paused (at most the one chunk that was in flight)
    expect(job.snapshot().targets[0].bytes - paused).toBeLessThanOrEqual(4096);
    expect(job.snapshot().targets[0].bytes).toBeLessThan(64 << 20);
    job.resume();
    const r = await run;
    expect(r.state).toBe('done');
    expect(r.progress.targets[0].bytes).toBe(64 << 20);
  });

  it('falls back to plain buffers when the memlock limit refuses registration (ENOMEM)', () => {
    const src = makeFile(join(fx.dir(), 'ml-src.img'), 16 << 20);
    const dst = join(fx.dir(), 'ml-dst.img');
    // Without CAP_IPC_LOCK, a 64 KiB RLIMIT_MEMLOCK cannot pin a 16 MiB ring.
    const r = spawnSync('prlimit', ['--memlock=65536:65536', 'setpriv', '--bounding-set', '-ipc_lock', '--inh-caps', '-ipc_lock', process.execPath, cli, 'clone', src, dst, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const note = r.stdout.split('\n').filter((l) => l.includes('"backend"')).map((l) => JSON.parse(l) as Record<string, unknown>)[0];
    expect(note.backend).toBe('io_uring');
    expect(note.registeredBuffers).toBe(false);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('falls back to the threads backend when io_uring is refused, and says why', () => {
    const knob = '/proc/sys/kernel/io_uring_disabled';
    const src = makeFile(join(fx.dir(), 'nu-src.img'), 16 << 20);
    const dst = join(fx.dir(), 'nu-dst.img');
    const previous = readFileSync(knob, 'utf8').trim();
    // 1: io_uring only for CAP_SYS_ADMIN; the clone runs without it. Other tests keep it.
    writeFileSync(knob, '1');
    try {
      const r = spawnSync('setpriv', ['--bounding-set', '-sys_admin', '--inh-caps', '-sys_admin', process.execPath, cli, 'clone', src, dst, '--json'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const note = r.stdout.split('\n').filter((l) => l.includes('"backend"')).map((l) => JSON.parse(l) as Record<string, unknown>)[0];
      expect(note.backend).toBe('threads');
      expect(String(note.backendNote)).toMatch(/io_uring unavailable \(Operation not permitted\)/);
      // forcing io_uring where it is refused is an error, not a silent fallback
      const forced = spawnSync('setpriv', ['--bounding-set', '-sys_admin', '--inh-caps', '-sys_admin', process.execPath, cli, 'clone', src, join(fx.dir(), 'nu-forced.img'), '--json', '--backend', 'io_uring'], { encoding: 'utf8' });
      expect(forced.status).toBe(1);
      expect(forced.stdout).toContain('"code":"IO_URING_UNAVAILABLE"');
    } finally {
      writeFileSync(knob, previous);
    }
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('1:N: a target that stalls twice, far apart, and catches up each time stays in the shared stream', async () => {
    // The source sets the pace (50 MB/s), so the targets keep up and the ring has room;
    // each 250 ms pause of one target fills the ring and makes it the pacer for a while,
    // but never for lagMs (600 ms) in all: it must not be detached. The first rule timed
    // from the first stall and detached it at the second.
    const size = 64 << 20;
    const file = makeFile(join(fx.dir(), 'stall-src.img'), size);
    const src = pausableDevice(join(fx.dir(), 'stall-src'), size, { file, bytesPerSec: 50_000_000 });
    const stalls = pausableDevice(join(fx.dir(), 'stall-dst'), size);
    const fast = makeFile(join(fx.dir(), 'stall-fast.img'), size, 'zero');
    try {
      const job = new EngineJob({
        mode: 'copy',
        source: { path: src.dev },
        targets: [{ path: fast }, { path: stalls.dev }],
        extents: [{ offset: 0, length: size }],
        blockSize: 1 << 20,
        depth: 4,
        backend: 'io_uring',
        lagMs: 600,
      });
      const running = job.run();
      let paused = 0;
      for (const at of [0.2, 0.6]) {
        while (job.snapshot().bytesRead < at * size && job.snapshot().state === 'running') await new Promise((r) => setTimeout(r, 5));
        await stalls.pause();
        await new Promise((r) => setTimeout(r, 250));
        await stalls.resume();
        if (job.snapshot().bytesRead < size) paused++;
      }
      const r = await running;
      expect(r.state).toBe('done');
      expect(paused, 'both stalls happened while the copy ran').toBe(2);
      expect(r.detached).toEqual([]);
      expect(sha256(fast)).toBe(sha256(file));
      const back = new EngineJob({ mode: 'verify', source: { path: file }, targets: [{ path: stalls.dev }], extents: [{ offset: 0, length: size }] });
      expect((await back.run()).errors).toEqual([]);
    } finally {
      stalls.down();
      src.down();
    }
  });

  it('1:N: a target too slow to keep up leaves the shared stream; the others do not wait; a catch-up completes it', async () => {
    const size = 16 << 20;
    const src = makeFile(join(fx.dir(), 'lag-src.img'), size);
    const fast = [0, 1].map((i) => makeFile(join(fx.dir(), `lag-fast-${i}.img`), size, 'zero'));
    // about 4 MB/s once nbdkit's initial burst is spent, against GB/s for the others
    const slow = slowTarget(join(fx.dir(), 'slow'), size, 4_000_000);
    try {
      const job = new EngineJob({
        mode: 'copy',
        source: { path: src },
        targets: [{ path: fast[0] }, { path: slow.dev }, { path: fast[1] }],
        extents: [{ offset: 0, length: size }],
        blockSize: 1 << 20,
        lagMs: 300,
      });
      const r = await job.run();
      expect(r.state).toBe('done');
      expect(r.detached.map((d) => d.target)).toEqual([1]);
      const at = r.detached[0].offset;
      expect(at % (1 << 20)).toBe(0);
      expect(at).toBeLessThan(size);
      // the fast targets got everything, without waiting for the slow one
      for (const f of fast) expect(sha256(f)).toBe(sha256(src));
      expect(r.progress.targets[1].bytes).toBeLessThan(size);
      // the station's catch-up: the rest from the source, to the slow target alone
      const catchUp = new EngineJob({ mode: 'copy', source: { path: src }, targets: [{ path: slow.dev }], extents: [{ offset: at, length: size - at }] });
      expect((await catchUp.run()).state).toBe('done');
      const verify = new EngineJob({ mode: 'verify', source: { path: src }, targets: [{ path: slow.dev }], extents: [{ offset: 0, length: size }] });
      const v = await verify.run();
      expect(v.errors).toEqual([]);
      expect(v.progress.bytesCompared).toBe(size);
    } finally {
      slow.down();
    }
  });
});

