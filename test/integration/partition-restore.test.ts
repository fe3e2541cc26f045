// Partition-level operations on loop devices: backup records the table and each partition's
// hash; restore --partition N[,M] (raw, split, ZIP) writes only those partitions (everything else
// hashed before and after; a zstd image read frame by frame), --to DEV, the refusals, a damaged partition caught by its hash;
// clone --partition N; backup --partition N.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, readAt, runCli, sh, useLoopScratch } from '../helpers/fixtures.js';
import { ourTable } from '../helpers/partition-tools.js';

const MiB = 1 << 20;

const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** sha256 of every byte of `path` outside the ranges, in order (what must not change). */
function hashOutside(path: string, size: number, ranges: { start: number; size: number }[]): string {
  const h = createHash('sha256');
  let at = 0;
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    h.update(readAt(path, at, r.start - at));
    at = r.start + r.size;
  }
  h.update(readAt(path, at, size - at));
  return h.digest('hex');
}

describeRoot('partitions one by one: backup, restore --partition, clone --partition', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let seq = 0;
  let src = '';
  let parts: { number: number; start: number; size: number }[] = [];
  const images: Record<string, string> = {};

  function disk(size: number, fill: 'zero' | 'random' = 'zero'): { dev: string; file: string } {
    const file = join(fx.dir(), `d${seq++}.img`);
    if (fill === 'random') sh('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', `count=${size / MiB}`, 'status=none']);
    else sh('truncate', ['-s', String(size), file]);
    return { dev: fx.loop(file, 512).dev, file };
  }

  /** A target of random bytes with a GPT whose partitions 1..3 are 8, 20 and 12 MiB (2 larger than the source's, 3 smaller... or not). */
  function target(sizes: [number, number, number]): { dev: string; file: string } {
    const d = disk(64 * MiB, 'random');
    sh('sgdisk', ['-Z', d.dev]);
    sh('sgdisk', [`-n1:0:+${sizes[0]}M`, `-n2:0:+${sizes[1]}M`, `-n3:0:+${sizes[2]}M`, d.dev]);
    return d;
  }

  beforeAll(async () => {
    const d = disk(64 * MiB, 'random');
    src = d.dev;
    sh('sgdisk', ['-Z', src]);
    sh('sgdisk', ['-n1:0:+8M', '-t1:ef00', '-n2:0:+16M', '-t2:8300', '-c2:root', '-n3:0:+12M', '-t3:8300', src]);
    parts = (await ourTable(src)).partitions.map((p) => ({ number: p.number, start: p.start, size: p.size }));
    for (const [name, out, extra] of [
      ['raw', 'disk.img', []],
      ['split', 'disk-s.img', ['--split', '10MiB']],
      ['zip', 'disk.zip', []],
      ['zstd', 'disk.img.zst', []],
    ] as const) {
      const path = join(fx.dir(), out);
      const r = runCli(['backup', src, path, '--json', '--hash', 'sha256,xxh3', ...extra]);
      expect(r.status, r.stderr).toBe(0);
      images[name] = path;
    }
  });

  it('backup records the table and a hash of each partition in the manifest', () => {
    const m = JSON.parse(readFileSync(`${images.raw}.manifest.json`, 'utf8')) as { partitionTable: { scheme: string; partitions: { number: number; start: number }[] }; partitions: { number: number; start: number; size: number; hashes: { xxh3: string } }[] };
    expect(m.partitionTable.scheme).toBe('gpt');
    expect(m.partitionTable.partitions.map((p) => [p.number, p.start])).toEqual(parts.map((p) => [p.number, p.start]));
    expect(m.partitions.map((p) => ({ number: p.number, start: p.start, size: p.size }))).toEqual(parts);
    expect(m.partitions.every((p) => /^[0-9a-f]{16}$/.test(p.hashes.xxh3))).toBe(true);
  });

  for (const kind of ['raw', 'split', 'zip', 'zstd'] as const) {
    it(`restore --partition 2,3 from a ${kind} image writes those partitions and nothing else`, () => {
      const dst = target([8, 20, 12]);
      const t = parts.map((p) => p); // same starts for 1, 2; 3 starts later on the target
      const dstParts = JSON.parse(sh('sfdisk', ['--json', dst.dev])).partitiontable.partitions.map((p: { start: number; size: number }) => ({ start: p.start * 512, size: p.size * 512 }));
      const outside = hashOutside(dst.dev, 64 * MiB, [dstParts[1], dstParts[2]]);
      const r = runCli(['restore', images[kind], dst.dev, '--partition', '2,3', '--yes', '--json']);
      expect(r.status, r.stderr).toBe(0);
      const done = lastEvent(r, 'done') as { partitions: { number: number; checked?: string }[] };
      expect(done.partitions.map((p) => [p.number, p.checked])).toEqual([
        [2, 'xxh3'],
        [3, 'xxh3'],
      ]);
      expect(hashOutside(dst.dev, 64 * MiB, [dstParts[1], dstParts[2]])).toBe(outside);
      for (const i of [1, 2]) expect(hash(readAt(dst.dev, dstParts[i].start, t[i].size))).toBe(hash(readAt(src, t[i].start, t[i].size)));
    });
  }

  it('restore --partition is one restore job: its metrics file (promtool accepts it) and its ledger line', () => {
    const dst = target([8, 20, 12]);
    const prom = join(fx.dir(), 'partition.prom');
    const ledger = join(fx.dir(), 'partition.jsonl');
    const r = runCli(['restore', images.zip, dst.dev, '--partition', '2', '--yes', '--metrics-file', prom, '--ledger', ledger]);
    expect(r.status, r.stderr).toBe(0);
    const text = readFileSync(prom, 'utf8');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(text).toMatch(/^clonestation_job_state\{station="[^"]+",job_id="1",kind="restore",state="done"\} 1$/m);
    expect(text).toContain(`clonestation_drive_info{station=`);
    expect(text).toContain(`drive="${dst.dev}"`);
    const recs = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(recs.length).toBe(1);
    expect(recs[0]).toMatchObject({ kind: 'restore', outcome: 'done', bytesBad: 0 });
    expect(recs[0].bytesDone).toBe(parts[1].size);
    expect(recs[0].drives).toEqual([
      { role: 'source', path: images.zip },
      { role: 'target', path: dst.dev, size: 64 * MiB, state: 'done', verified: true },
    ]);
  });

  it('--partition N --to DEV, and the refusals: a smaller partition, a missing one, --to with two', () => {
    const to = disk(16 * MiB);
    let r = runCli(['restore', images.raw, '--partition', '2', '--to', to.dev, '--yes', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(hash(readAt(to.dev, 0, 16 * MiB))).toBe(hash(readAt(src, parts[1].start, parts[1].size)));
    const small = target([8, 12, 12]);
    const before = hash(readAt(small.dev, 0, 64 * MiB));
    r = runCli(['restore', images.raw, small.dev, '--partition', '2', '--yes']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/\[PARTITION_TOO_SMALL\]/);
    r = runCli(['restore', images.raw, small.dev, '--partition', '7', '--yes']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/partitions are 1, 2, 3.*\[PARTITION_NOT_FOUND\]/);
    r = runCli(['restore', images.raw, '--partition', '2,3', '--to', to.dev, '--yes']);
    expect(r.status).toBe(2);
    expect(hash(readAt(small.dev, 0, 64 * MiB))).toBe(before);
  });

  it('a damaged partition in the image is caught by its own hash (VERIFY_MISMATCH), the others restore clean', () => {
    const bad = join(fx.dir(), 'bad.img');
    sh('cp', [images.raw, bad]);
    sh('cp', [`${images.raw}.manifest.json`, `${bad}.manifest.json`]);
    const m = JSON.parse(readFileSync(`${bad}.manifest.json`, 'utf8'));
    m.image.name = 'bad.img';
    m.image.parts[0].name = 'bad.img';
    sh('sh', ['-c', `cat > ${bad}.manifest.json <<'EOF'\n${JSON.stringify(m)}\nEOF`]);
    const fd = openSync(bad, 'r+');
    writeSync(fd, Buffer.from([readAt(bad, parts[2].start + 5000, 1)[0] ^ 0xff]), 0, 1, parts[2].start + 5000);
    closeSync(fd);
    const dst = target([8, 20, 12]);
    let r = runCli(['restore', bad, dst.dev, '--partition', '2', '--yes']);
    expect(r.status, r.stderr).toBe(0);
    r = runCli(['restore', bad, dst.dev, '--partition', '3', '--yes']);
    expect(r.status).toBe(5);
    expect(r.stderr).toMatch(/partition 3 differs from its manifest.*\[VERIFY_MISMATCH\]/);
  });

  it('clone --partition N into the target\'s partition N, nothing else written', () => {
    const dst = target([8, 20, 12]);
    const dstParts = JSON.parse(sh('sfdisk', ['--json', dst.dev])).partitiontable.partitions.map((p: { start: number; size: number }) => ({ start: p.start * 512, size: p.size * 512 }));
    const outside = hashOutside(dst.dev, 64 * MiB, [dstParts[2]]);
    const r = runCli(['clone', src, dst.dev, '--partition', '3', '--yes', '--json', '--verify']);
    expect(r.status, r.stderr).toBe(0);
    expect(hashOutside(dst.dev, 64 * MiB, [dstParts[2]])).toBe(outside);
    expect(hash(readAt(dst.dev, dstParts[2].start, parts[2].size))).toBe(hash(readAt(src, parts[2].start, parts[2].size)));
  });

  it('backup --partition N images that partition; the manifest says which and keeps the table', () => {
    const out = join(fx.dir(), 'p2.img');
    let r = runCli(['backup', src, out, '--partition', '2', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(hash(readFileSync(out))).toBe(hash(readAt(src, parts[1].start, parts[1].size)));
    const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8')) as { partition: number; range: { offset: number; length: number }; partitionTable: { partitions: unknown[] } };
    expect(m.partition).toBe(2);
    expect(m.range).toEqual({ offset: parts[1].start, length: parts[1].size });
    expect(m.partitionTable.partitions).toHaveLength(3);
    // a partition image is restored whole (to a partition), not with --partition
    const to = disk(16 * MiB);
    r = runCli(['restore', out, to.dev, '--target-offset', '0', '--yes']);
    expect(r.status, r.stderr).toBe(0);
    expect(hash(readAt(to.dev, 0, 16 * MiB))).toBe(hash(readFileSync(out)));
    r = runCli(['restore', out, to.dev, '--partition', '1', '--yes']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/\[IMAGE_NOT_WHOLE_DISK\]/);
  });
});
