// `clonestation erase` on loop devices (root): every method leaves what it says (read back from
// the backing file by the test, the kernel's count of sectors written per pass), verify finds a
// byte changed behind the job's back, the fast paths, refusals with nothing written, two drives
// at once, signed certificates that check and one that does not once edited.
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describeRoot } from '../helpers/root.js';
import { makeFile, runCli, sh, sha256, umountWhenFree, useLoopScratch } from '../helpers/fixtures.js';
import { runPattern, patternBytes } from '../../src/erase/pattern.js';
import { GUTMANN_PATTERNS } from '../../src/erase/methods.js';
import { slowTarget } from '../helpers/slow-target.js';
import { startCli } from '../helpers/running-cli.js';
import { pdfText } from '../helpers/pdf.js';
import eraseKind, { type ErasePayload } from '../../src/jobs/erase.js';
import { allocateControl, requestCancel, requestPause, requestResume, type WorkerEvent } from '../../src/contract.js';
import { loopDetacher } from '../../src/loop.js';

const MiB = 1 << 20;

/** Sectors written as the kernel counts them (/sys/block/NAME/stat field 7). */
function written(dev: string): number {
  return Number(readFileSync(`/sys/block/${dev.replace('/dev/', '')}/stat`, 'utf8').trim().split(/\s+/)[6]) * 512;
}

/** Whether every byte of `buf` is `hex` repeated from offset 0. */
function repeats(buf: Buffer, hex: string): boolean {
  const p = Buffer.from(hex, 'hex');
  const whole = Buffer.alloc(buf.length);
  for (let i = 0; i < buf.length; i++) whole[i] = p[i % p.length];
  return whole.equals(buf);
}

/** Each 4 KiB block differs from every other one and none is all one byte value: not a fixed pattern. */
function looksRandom(buf: Buffer): boolean {
  const seen = new Set<string>();
  for (let o = 0; o < buf.length; o += 4096) {
    const b = buf.subarray(o, o + 4096);
    if (b.every((x) => x === b[0])) return false;
    seen.add(createHash('sha1').update(b).digest('hex'));
  }
  return seen.size === Math.ceil(buf.length / 4096);
}

describeRoot('clonestation erase on loop devices', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let certs = '';
  let env: NodeJS.ProcessEnv = {};
  beforeAll(() => {
    certs = join(fx.dir(), 'certs');
    mkdirSync(certs);
    env = { CLONESTATION_KEY: join(fx.dir(), 'key', 'station.pem') };
  });
  const erase = (args: string[]) => runCli(['erase', ...args, '--no-ui', '--no-log', '--certs', certs], undefined, env);
  // each test starts with no certificate: loop devices are reused from test to test
  beforeEach(() => {
    for (const f of readdirSync(certs)) rmSync(join(certs, f), { force: true });
  });
  /** the certificates of one drive, by its exact name (loop4 is not loop40) */
  const certsOf = (dev: string) => readdirSync(certs).filter((f) => f.startsWith(`erase-${dev.replace('/dev/', '')}-`) && /^-\d{4}-/.test(f.slice(`erase-${dev.replace('/dev/', '')}`.length)) && f.endsWith('.json'));

  for (const sector of [512, 4096] as const) {
    it(`zero, one and pattern:HEX leave those bytes, once per pass (${sector}-byte sectors)`, () => {
      const d = fx.loop(makeFile(join(fx.dir(), `p${sector}.img`), 12 * MiB + 3 * sector), sector);
      for (const [method, hex, extra] of [['zero', '00', []], ['one', 'ff', []], ['pattern:924924', '924924', ['--passes', '2']], ['pattern:0xDEADBEEF01', 'deadbeef01', ['--verify', 'all']], ['pattern:0xA55A0FF0', 'a55a0ff0', ['--verify', 'all']]] as const) {
        const w0 = written(d.dev);
        const r = erase([d.dev, '--method', method, '--yes', ...extra]);
        expect(r.status, r.stderr).toBe(0);
        expect(repeats(readFileSync(d.file), hex), method).toBe(true);
        expect(written(d.dev) - w0).toBe((extra[0] === '--passes' ? 2 : 1) * (12 * MiB + 3 * sector));
      }
    });
  }

  it('erases a regular file of an odd size whole (its unaligned tail written and read back without O_DIRECT)', () => {
    const path = makeFile(join(fx.dir(), 'odd.bin'), 3 * MiB + 777);
    const r = erase([path, '--method', 'pattern:a5c3', '--verify', 'all']);
    expect(r.status, r.stderr).toBe(0);
    const data = readFileSync(path);
    expect(data.length).toBe(3 * MiB + 777);
    expect(repeats(data, 'a5c3')).toBe(true);
  });

  it('random, dod-short, dod and gutmann write each pass (kernel count) and end as the last pass says; --blank ends in zeros', () => {
    const size = 4 * MiB;
    const d = fx.loop(makeFile(join(fx.dir(), 'm.img'), size, 'zero'), 4096);
    for (const [method, passes] of [['random', 1], ['dod-short', 3], ['dod', 7], ['gutmann', 35]] as const) {
      const before = readFileSync(d.file);
      const w0 = written(d.dev);
      const r = erase([d.dev, '--method', method, '--yes']);
      expect(r.status, r.stderr).toBe(0);
      expect(written(d.dev) - w0, method).toBe(passes * size);
      const after = readFileSync(d.file);
      // each ends in a random pass: fresh bytes, not the old ones
      expect(looksRandom(after), method).toBe(true);
      expect(after.equals(before)).toBe(false);
    }
    const w0 = written(d.dev);
    const r = erase([d.dev, '--method', 'dod-short', '--blank', '--yes']);
    expect(r.status, r.stderr).toBe(0);
    expect(written(d.dev) - w0).toBe(4 * size);
    expect(repeats(readFileSync(d.file), '00')).toBe(true);
    // Gutmann's published fixed patterns, 27 of them
    expect(GUTMANN_PATTERNS).toHaveLength(27);
  });

  it('the random stream is what its seed regenerates, block by block, at any offset', async () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'r.img'), 8 * MiB), 512);
    const pass = { kind: 'random', seed: '1234567890123' } as const;
    const w = await runPattern({ path: d.dev, op: 'write', pass, offset: 0, length: 8 * MiB });
    expect(w.state).toBe('done');
    const file = readFileSync(d.file);
    for (const [off, len] of [[0, 4096], [4096 * 7 + 100, 9000], [8 * MiB - 5000, 5000]])
      expect(Buffer.from(patternBytes(pass, off, len)).equals(file.subarray(off, off + len))).toBe(true);
    expect(looksRandom(file)).toBe(true);
    // another seed is other bytes
    expect(Buffer.from(patternBytes({ kind: 'random', seed: '1234567890124' }, 0, 4096)).equals(file.subarray(0, 4096))).toBe(false);
  });

  it('verify names the first byte changed between the pass and the read-back, and sample:PERCENT reads that share', async () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'v.img'), 16 * MiB), 512);
    const pass = { kind: 'random', seed: '77' } as const;
    expect((await runPattern({ path: d.dev, op: 'write', pass, offset: 0, length: 16 * MiB })).state).toBe('done');
    const ok = await runPattern({ path: d.dev, op: 'verify', pass, offset: 0, length: 16 * MiB });
    expect(ok).toMatchObject({ state: 'done', bytesChecked: 16 * MiB });
    const half = await runPattern({ path: d.dev, op: 'verify', pass, offset: 0, length: 16 * MiB, samplePercent: 50, blockSize: 1 * MiB });
    expect(half.state).toBe('done');
    expect(half.bytesChecked).toBeGreaterThan(0);
    expect(half.bytesChecked).toBeLessThan(16 * MiB);
    // one byte changed behind the job's back, through the device
    const at = 9 * MiB + 1234;
    const fd = openSync(d.dev, 'r+');
    const now = Buffer.from(patternBytes(pass, at, 1));
    writeSync(fd, Buffer.from([now[0] ^ 0x01]), 0, 1, at);
    closeSync(fd);
    const bad = await runPattern({ path: d.dev, op: 'verify', pass, offset: 0, length: 16 * MiB });
    expect(bad.state).toBe('failed');
    expect(bad.error).toMatchObject({ code: 'EILSEQ', offset: at });
    expect(bad.mismatchedBytes).toBe(1);
  });

  it('an erase job fails its drive, naming the offset, when a sector changes between its pass and its verify; the certificate says failed', async () => {
    const d = fx.loop(makeFile(join(fx.dir(), 't.img'), 8 * MiB), 4096);
    const planned = await eraseKind.plan({ kind: 'erase', drive: d.dev, method: 'one', certs }, { version: 'test', commandLine: 'test' }, 1);
    const control = allocateControl();
    const at = 5 * MiB + 4096 * 3 + 17;
    const events: WorkerEvent[] = [];
    const port = {
      postMessage: (e: WorkerEvent) => {
        events.push(e);
        // the pass is written: hold the job, change a byte, let it verify
        if (e.type === 'note' && e.fields?.step === 'pass 1/1 0xff') {
          requestPause(control);
          const fd = openSync(d.dev, 'r+');
          writeSync(fd, Buffer.from([0x00]), 0, 1, at);
          closeSync(fd);
          requestResume(control);
        }
      },
    };
    const result = await eraseKind.run(planned.payload as ErasePayload, { control: new Int32Array(control), port, counters: planned.counters });
    expect(result).toMatchObject({ state: 'failed', code: 'VERIFY_MISMATCH' });
    expect(result.reason).toContain(`at byte ${at}`);
    expect(result.outcome?.errors[0]).toMatchObject({ offset: at });
    planned.settle?.(result);
    const cert = JSON.parse(readFileSync(result.certificate!, 'utf8')) as { result: string; erase: { verifyResult: string; errors: { offset: number }[] } };
    expect(cert.result).toBe('failed');
    expect(cert.erase.verifyResult).toBe('failed');
    expect(cert.erase.errors[0].offset).toBe(at);
  });

  it('an erase cancelled between passes gets an "incomplete" certificate', async () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'c.img'), 4 * MiB), 512);
    const planned = await eraseKind.plan({ kind: 'erase', drive: d.dev, method: 'dod-short', certs }, { version: 'test', commandLine: 'test' }, 1);
    const control = allocateControl();
    const port = { postMessage: (e: WorkerEvent) => void (e.type === 'note' && e.fields?.step === 'pass 1/3 0x00' && requestCancel(control)) };
    const result = await eraseKind.run(planned.payload as ErasePayload, { control: new Int32Array(control), port, counters: planned.counters });
    expect(result.state).toBe('cancelled');
    planned.settle?.(result);
    const cert = JSON.parse(readFileSync(result.certificate!, 'utf8')) as { result: string; erase: { steps: unknown[] } };
    expect(cert.result).toBe('incomplete');
    expect(cert.erase.steps).toHaveLength(1);
    expect(runCli(['erase', 'verify-cert', result.certificate!]).status).toBe(0);
    // and its PDF, next to it, never says erased
    expect(result.pdf).toBe(result.certificate!.replace(/\.json$/, '.pdf'));
    const text = pdfText(result.pdf!);
    expect(text).toMatch(/^\s*INCOMPLETE\s*$/m);
    expect(text).toContain('NOT fully erased');
    expect(text).not.toContain('ERASED');
  });

  it('zeroout and discard leave zeros on loops (discard is read back); secure-discard is refused by loops with a clear error', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'z.img'), 16 * MiB), 512);
    for (const method of ['zeroout', 'discard']) {
      makeFile(d.file, 16 * MiB);
      sh('blockdev', ['--flushbufs', d.dev]);
      const r = erase([d.dev, '--method', method, '--yes', '--report', join(fx.dir(), `${method}.json`)]);
      expect(r.status, r.stderr).toBe(0);
      expect(repeats(readFileSync(d.file), '00'), method).toBe(true);
      const job = (JSON.parse(readFileSync(join(fx.dir(), `${method}.json`), 'utf8')) as { jobs: { verifyResult: string; bytesVerified: number }[] }).jobs[0];
      expect(job).toMatchObject({ verifyResult: 'passed', bytesVerified: 16 * MiB });
    }
    const before = sha256(d.file);
    const s = erase([d.dev, '--method', 'secure-discard', '--yes']);
    expect(s.status).toBe(1);
    expect(s.stderr).toMatch(/secure-discard is not supported by this drive/);
    expect(sha256(d.file)).toBe(before);
    // and a file is no block device
    const f = erase([join(fx.dir(), 'z.img'), '--method', 'zeroout', '--yes']);
    expect(f.status).toBe(2);
    expect(f.stderr).toMatch(/needs a block device.*\[UNSUPPORTED\]/);
  });

  it('refuses a mounted drive, the same drive twice, and (no terminal) drives without --yes: nothing written', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'f.img'), 32 * MiB), 512);
    const e = fx.loop(makeFile(join(fx.dir(), 'g.img'), 8 * MiB), 512);
    const g0 = sha256(e.file);
    const ask = erase([d.dev, e.dev]);
    expect(ask.status).toBe(4);
    expect(ask.stderr).toMatch(/\[CONFIRMATION_REQUIRED\]/);
    const twice = erase([e.dev, e.dev, '--yes']);
    expect(twice.status).toBe(4);
    expect(twice.stderr).toMatch(/can be in one job only \[STATION_CONFLICT\]/);
    sh('mkfs.ext4', ['-q', '-F', d.dev]);
    const mnt = join(fx.dir(), 'mnt');
    mkdirSync(mnt);
    sh('mount', ['-o', 'ro', d.dev, mnt]);
    const f0 = sha256(d.file);
    try {
      const r = erase([d.dev, e.dev, '--yes']);
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/is mounted at .*\[TARGET_MOUNTED\]/);
    } finally {
      umountWhenFree(mnt);
    }
    expect(sha256(d.file)).toBe(f0);
    expect(sha256(e.file)).toBe(g0);
    expect(certsOf(e.dev)).toHaveLength(0);
    const bad = erase([e.dev, '--method', 'pattern:abc', '--yes']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/\[BAD_METHOD\]/);
    const v = erase([e.dev, '--verify', 'sample:0', '--yes']);
    expect(v.status).toBe(2);
    expect(v.stderr).toMatch(/\[BAD_VERIFY\]/);
    expect(sha256(e.file)).toBe(g0);
  });

  it('erases two drives at once (512 and 4096 sectors), a certificate each that verifies, and not once a character changes', () => {
    const a = fx.loop(makeFile(join(fx.dir(), 'a.img'), 16 * MiB), 512);
    const b = fx.loop(makeFile(join(fx.dir(), 'b.img'), 16 * MiB), 4096);
    const r = erase([a.dev, b.dev, '--method', 'random', '--verify', 'all', '--yes', '--operator', 'Ada', '--customer', 'ACME']);
    expect(r.status, r.stderr).toBe(0);
    for (const l of [a, b]) {
      expect(looksRandom(readFileSync(l.file))).toBe(true);
      const files = certsOf(l.dev);
      expect(files).toHaveLength(1);
      const path = join(certs, files[0]);
      const cert = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown> & { signature: { algorithm: string } };
      expect(cert).toMatchObject({ result: 'erased', operator: 'Ada', customer: 'ACME', drive: { path: l.dev, sizeBytes: 16 * MiB, logicalSectorSize: l === a ? 512 : 4096, hpa: 'not readable through this transport' }, erase: { method: 'random', verify: 'all', verifyResult: 'passed', bytesWritten: 16 * MiB, bytesVerified: 16 * MiB } });
      expect(cert.signature.algorithm).toBe('ed25519');
      const ok = runCli(['erase', 'verify-cert', path]);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/signature good/);
      // one character changed: the size
      const text = readFileSync(path, 'utf8');
      const edited = join(fx.dir(), `edited-${files[0]}`);
      writeFileSync(edited, text.replace('"sizeBytes": 16777216', '"sizeBytes": 16777217'));
      expect(readFileSync(edited, 'utf8')).not.toBe(text);
      for (const check of [['erase', 'verify-cert'], ['cert', 'check']]) {
        const no = runCli([...check, edited]);
        expect(no.status).toBe(5);
        expect(no.stderr).toMatch(/does not verify: the signature does not match.*\[CERT_INVALID\]/);
      }
    }
    // the station key was made once, 0600
    expect(sh('stat', ['-c', '%a', env.CLONESTATION_KEY!])).toBe('600');
  });

  it('Ctrl-C in the middle of a pass stops it; the certificate says incomplete, with the bytes written so far', async () => {
    const slow = slowTarget(join(fx.dir(), 'slow'), 64 * MiB, 8 * MiB);
    const saved = process.env.CLONESTATION_KEY;
    process.env.CLONESTATION_KEY = env.CLONESTATION_KEY;
    try {
      const w0 = written(slow.dev);
      const run = startCli(['erase', slow.dev, '--method', 'one', '--yes', '--no-ui', '--no-log', '--certs', certs]);
      await run.waitFor(/station: 1 job/);
      // the pass has begun once the kernel counts writes on the device
      for (let i = 0; i < 400 && written(slow.dev) === w0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(written(slow.dev)).toBeGreaterThan(w0);
      run.child.kill('SIGINT');
      const end = await run.ended;
      expect(end.status).toBe(130);
      const files = certsOf(slow.dev);
      expect(files, run.stderr()).toHaveLength(1);
      const cert = JSON.parse(readFileSync(join(certs, files[0]), 'utf8')) as { result: string; erase: { bytesWritten: number; steps: { state: string }[] } };
      expect(cert.result).toBe('incomplete');
      expect(cert.erase.steps[0].state).toBe('cancelled');
      expect(cert.erase.bytesWritten).toBeLessThan(64 * MiB);
      expect(runCli(['erase', 'verify-cert', join(certs, files[0])]).status).toBe(0);
      const text = pdfText(join(certs, files[0].replace(/\.json$/, '.pdf')));
      expect(text).toMatch(/^\s*INCOMPLETE\s*$/m);
      expect(text).not.toContain('ERASED');
    } finally {
      if (saved === undefined) delete process.env.CLONESTATION_KEY;
      else process.env.CLONESTATION_KEY = saved;
      slow.down();
    }
  });

  it('runs erase jobs from a job file beside a clone in one station', () => {
    const src = fx.loop(makeFile(join(fx.dir(), 'js.img'), 8 * MiB), 512);
    const dst = fx.loop(makeFile(join(fx.dir(), 'jd.img'), 8 * MiB), 512);
    const wipe = fx.loop(makeFile(join(fx.dir(), 'jw.img'), 8 * MiB), 4096);
    const file = join(fx.dir(), 'jobs.json');
    writeFileSync(file, JSON.stringify({ jobs: [{ kind: 'clone', source: src.dev, targets: [dst.dev] }, { kind: 'erase', drive: wipe.dev, method: 'pattern:5a', verify: 'all', operator: 'Job File', certs }] }));
    const r = runCli(['run', file, '--yes', '--no-ui', '--no-log'], undefined, env);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(dst.file)).toBe(sha256(src.file));
    expect(repeats(readFileSync(wipe.file), '5a')).toBe(true);
    const cert = JSON.parse(readFileSync(join(certs, certsOf(wipe.dev)[0]), 'utf8')) as { result: string; operator: string };
    expect(cert).toMatchObject({ result: 'erased', operator: 'Job File' });
  });

  /** A drive behind nbdkit's sh plugin (nbdfuse, then a loop): `op` (pread or pwrite) touching sectors 8200-8207 fails with EIO. */
  const failing = (name: string, op: 'pread' | 'pwrite'): { dev: string; down: () => void } => {
    const dir = join(fx.dir(), name);
    mkdirSync(join(dir, 'mnt'), { recursive: true });
    const data = makeFile(join(dir, 'data.img'), 8 * MiB);
    const script = join(dir, 'drive.sh');
    const bad = `if (( $4 < ${8208 * 512} && $4 + $3 > ${8200 * 512} )); then ${op === 'pwrite' ? 'cat >/dev/null; ' : ''}echo "EIO bad sector" >&2; exit 1; fi`;
    writeFileSync(
      script,
      `#!/bin/bash
f=${data}
case "$1" in
  get_size) stat -c %s "$f" ;;
  can_write) exit 0 ;;
  pread) ${op === 'pread' ? bad : ''}
         dd if="$f" skip="$4" count="$3" iflag=skip_bytes,count_bytes status=none ;;
  pwrite) ${op === 'pwrite' ? bad : ''}
          dd of="$f" seek="$4" oflag=seek_bytes conv=notrunc status=none ;;
  *) exit 2 ;;
esac
`,
      { mode: 0o755 },
    );
    const sock = join(dir, 's');
    sh('nbdkit', ['-U', sock, '-P', join(dir, 'nbdkit.pid'), 'sh', script]);
    const stop = (): void => void spawnSync('bash', ['-c', `kill $(cat ${dir}/nbdkit.pid)`]);
    const fuse = spawnSync('bash', ['-c', `setsid nbdfuse ${dir}/mnt/disk.img --unix ${sock} </dev/null >/dev/null 2>&1 & for i in $(seq 200); do [ -e ${dir}/mnt/disk.img ] && exit 0; sleep 0.05; done; exit 1`]);
    if (fuse.status !== 0) {
      stop();
      throw new Error('nbdfuse did not serve the failing drive');
    }
    const loop = attachLoopRw(join(dir, 'mnt', 'disk.img'));
    return {
      dev: loop.dev,
      down: () => {
        loop.detach();
        spawnSync('fusermount3', ['-u', join(dir, 'mnt')]);
        stop();
      },
    };
  };

  for (const op of ['pwrite', 'pread'] as const) {
    it(`a drive whose ${op === 'pwrite' ? 'writes' : 'reads (the verify)'} fail on sectors 8200-8207 fails alone, naming the first failing sector; the other drive is erased`, () => {
      const good = fx.loop(makeFile(join(fx.dir(), `ok-${op}.img`), 8 * MiB), 512);
      const bad = failing(`f-${op}`, op);
      try {
        const report = join(fx.dir(), `${op}.json`);
        const r = erase([good.dev, bad.dev, '--method', 'zero', '--yes', '--report', report]);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/\[JOBS_FAILED\]/);
        expect(repeats(readFileSync(good.file), '00')).toBe(true);
        const jobs = (JSON.parse(readFileSync(report, 'utf8')) as { jobs: { state: string; verifyResult: string; errors?: { offset: number; code: string; step: string }[]; certificate?: string }[] }).jobs;
        expect(jobs[0]).toMatchObject({ state: 'done', verifyResult: 'passed' });
        expect(jobs[1].state).toBe('failed');
        // the first sector that failed, not its 4 MiB block
        expect(jobs[1].errors?.[0]).toMatchObject({ code: 'EIO', offset: 8200 * 512, step: op === 'pwrite' ? 'pass 1/1 0x00' : 'verify pass 1/1 0x00' });
        const cert = JSON.parse(readFileSync(jobs[1].certificate!, 'utf8')) as { result: string; erase: { verifyResult: string } };
        expect(cert.result).toBe('failed');
        expect(cert.erase.verifyResult).toBe(op === 'pwrite' ? 'not reached' : 'failed');
      } finally {
        bad.down();
      }
    });
  }
});

/** A read-write loop with direct I/O (the FUSE file behind it caches nothing twice). */
function attachLoopRw(file: string): { dev: string; file: string; detach: () => void } {
  const dev = sh('losetup', ['--find', '--show', '--direct-io=on', file]);
  return { dev, file, detach: loopDetacher(dev) };
}
