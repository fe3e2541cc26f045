// The bad-input runner: builds one case's fixture (files, FIFOs, links, loops, mounts,
// hand-edited manifests and maps), snapshots everything the CLI could touch, runs the CLI
// once, and lists every way the run broke the rules (status, one-line error, no trace,
// nothing written). Cases are data: test/integration/bad-input/*.ts.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync,
  readSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync, type Stats,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { cli, sh } from './fixtures.js';
import { loopDetacher } from '../../src/loop.js';

/** A parsed JSON document a case edits by hand (a manifest): any shape on purpose. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- hostile edits make any shape
export type Json = any;

/**
 * One step of a case's fixture. Paths are relative to the case's folder (the CLI's working
 * directory); `%NAME%` in any path or text is a loop device (`%S%`, `%T%`, `%SMALL%` are shared
 * ones), `%dir%` the case's folder.
 */
export type Step =
  | { file: string; size: number; fill?: 'random' | 'zero'; sparse?: boolean }
  | { text: string; content: string | Buffer }
  | { dir: string }
  | { fifo: string }
  /** a character device node in the folder, the same device as /dev/null or /dev/zero: a stand-in that a buggy run may replace without breaking the machine */
  | { node: string; like: '/dev/null' | '/dev/zero' }
  | { symlink: string; to: string }
  | { hardlink: string; to: string }
  | { copy: string; to: string }
  | { remove: string }
  | { truncate: string; size: number }
  | { chmod: string; mode: number }
  /** a copy of a template image made once per run: raw b.img (sha256, md5), zip z.zip, split raw s.img.00N, split zip sz.zip.00N */
  | { image: 'raw' | 'zip' | 'split' | 'splitzip'; into?: string }
  /** a JSON file edited by a function (return the new document) */
  | { json: string; edit: (doc: Json) => Json }
  /** a loop device over a file (or over another loop: file '%A%'), named for %NAME% */
  | { loop: string; file: string; offset?: number; sizelimit?: number; readOnly?: boolean }
  /** an MBR with one partition (start and size in 512-byte sectors) on a file, as a loop with its partition as NAME and NAME1 (partx) */
  | { partitioned: string; file: string; size: number; start: number; sectors: number }
  | { mkfs: string }
  | { mount: string; at: string; readOnly?: boolean }
  /** a tmpfs of this size at `at` (its own file system: full, or read-only after `remountRo`) */
  | { tmpfs: string; size: string }
  | { remountRo: string };

export interface BadInputCase {
  name: string;
  /** needs root: loop devices, mounts */
  root?: boolean;
  /** no default src.img and dst.img in the folder */
  bare?: boolean;
  setup?: Step[];
  /** the CLI's arguments (after `node dist/src/cli.js`), cwd = the case's folder */
  args: string[];
  /** the exit status; 0 only for the few safety cases where the command may succeed but must touch nothing it was not asked to */
  status: 0 | 1 | 2 | 4 | 5;
  /** the error code, or a few acceptable codes where the name is not settled */
  code?: string;
  codes?: string[];
  /** paths (relative, or ending in '*' for a prefix) the run may create or change; for status 0 cases */
  outputs?: string[];
  /** status 0 cases writing into an existing file: its bytes outside [offset, offset + length) must stay as they were (issue 11 item 8) */
  keepOutside?: { file: string; offset: number; length: number };
  /** paths outside the folder that must not change (besides /dev/null and /dev/zero, always checked) */
  victims?: string[];
  /** which issue-11 item (or 'own') the case comes from */
  from?: string;
  /** lines may come before the error line (notes of a read-only check, e.g. "no manifest") */
  notes?: boolean;
  /** one more variant of a case that runs by default (another command on the same bad input): runs with BAD_INPUT_ALL=1 */
  extended?: boolean;
}

export interface CaseResult {
  name: string;
  status: number | null;
  signal: string | null;
  stderr: string;
  seconds: number;
  problems: string[];
}

const MiB = 1024 * 1024;
/** the CLI under test: this tree's build, or BAD_INPUT_CLI (another build, e.g. a merge candidate) */
const cliPath = process.env.BAD_INPUT_CLI ?? cli;
const HASH_LIMIT = 16 * MiB;

interface Entry {
  type: string;
  size?: number;
  mtimeMs?: number;
  hash?: string;
  link?: string;
  rdev?: number;
}

function typeOf(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'socket';
}

function hashFile(path: string, limit = HASH_LIMIT): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(MiB);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
      if (pos >= limit) break;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function entryOf(path: string, st: Stats): Entry {
  const type = typeOf(st);
  if (type === 'file') return { type, size: st.size, mtimeMs: st.mtimeMs, hash: st.size <= HASH_LIMIT ? hashFile(path) : undefined };
  if (type === 'symlink') return { type, link: readFileLink(path) };
  if (type === 'char' || type === 'block') return { type, rdev: st.rdev };
  return { type };
}

function readFileLink(path: string): string {
  return spawnSync('readlink', [path], { encoding: 'utf8' }).stdout.trim();
}

/** Every entry under `dir` (not crossing into other file systems), by relative path. */
function snapshotTree(dir: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const rootDev = lstatSync(dir).dev;
  const walk = (rel: string): void => {
    const abs = rel ? join(dir, rel) : dir;
    for (const name of readdirSync(abs)) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      out.set(r, entryOf(join(dir, r), st));
      if (st.isDirectory() && st.dev === rootDev) walk(r);
    }
  };
  walk('');
  return out;
}

function snapshotPath(path: string): Entry {
  if (!existsSync(path)) {
    try {
      lstatSync(path);
    } catch {
      return { type: 'absent' };
    }
  }
  return entryOf(path, lstatSync(path));
}

function same(a: Entry | undefined, b: Entry | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function describe(e: Entry | undefined): string {
  if (!e) return 'absent';
  return e.type === 'file' ? `file of ${e.size} bytes${e.hash ? ` sha256 ${e.hash.slice(0, 12)}` : ''}` : e.type;
}

function allowed(rel: string, outputs: string[]): boolean {
  return outputs.some((o) => (o.endsWith('*') ? rel.startsWith(o.slice(0, -1)) : rel === o));
}

/** An MBR with one Linux partition, as fdisk would write it (CHS fields left 0xfe/0xff: LBA only). */
function writeMbr(path: string, size: number, start: number, sectors: number): void {
  writeFileSync(path, Buffer.alloc(0));
  truncateSync(path, size);
  const mbr = Buffer.alloc(512);
  const e = 446;
  mbr[e] = 0x00;
  mbr.writeUIntLE(0xfeffff, e + 1, 3);
  mbr[e + 4] = 0x83;
  mbr.writeUIntLE(0xfeffff, e + 5, 3);
  mbr.writeUInt32LE(start, e + 8);
  mbr.writeUInt32LE(sectors, e + 12);
  mbr.writeUInt32LE(0x1234abcd, 440);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, mbr, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
}

export interface Shared {
  /** the folder of templates (src.img, dst.img, images) */
  templates: string;
  /** shared loop devices by name (S, T, SMALL), empty without root */
  loops: Record<string, string>;
}

/** Builds the templates every case copies from: two 1 MiB files and four backups of src.img. */
export function makeTemplates(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const rand = (p: string, n: number): void => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 65536) b.set(createHash('sha512').update(`${p}${i}`).digest().subarray(0, 64), i);
    // not compressible and not zero: a mixture of pseudo-random 64-byte runs and text
    for (let i = 64; i < n; i += 128) b.write(`clonestation bad-input fixture ${p} ${i}\n`.padEnd(64, '.'), i);
    writeFileSync(join(dir, p), b);
  };
  rand('src.img', MiB);
  rand('dst.img', MiB);
  const env = { ...process.env, CLONESTATION_LOG_DIR: join(dir, '.logs') };
  const backup = (args: string[]): void => {
    const r = spawnSync(process.execPath, [cliPath, 'backup', 'src.img', ...args], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`making template ${args.join(' ')}: ${r.stderr}`);
  };
  backup(['b.img', '--hash', 'sha256,md5']);
  backup(['z.zip']);
  backup(['s.img', '--split', '300KiB']);
  backup(['sz.zip', '--split', '300KiB', '--level', '0']);
  // the cases remove parts 002..004 of both split sets: they must exist
  for (const f of ['s.img.004', 'sz.zip.004']) if (!existsSync(join(dir, f))) throw new Error(`template ${f} missing: the split sets are too short`);
  rmSync(join(dir, '.logs'), { recursive: true, force: true });
}

const imageFiles: Record<string, (names: string[]) => string[]> = {
  raw: (n) => n.filter((f) => f.startsWith('b.img')),
  zip: (n) => n.filter((f) => f.startsWith('z.zip')),
  split: (n) => n.filter((f) => f.startsWith('s.img')),
  splitzip: (n) => n.filter((f) => f.startsWith('sz.zip')),
};

/** A case's folder, loops and mounts, torn down by `cleanup()`. */
class Fixture {
  readonly loops: Record<string, string>;
  private readonly mine: string[] = [];
  private readonly mounts: string[] = [];
  constructor(
    readonly dir: string,
    private readonly shared: Shared,
  ) {
    this.loops = { ...shared.loops };
  }

  sub(text: string): string {
    return text.replace(/%([A-Za-z0-9_]+)%/g, (all, name: string) => {
      if (name === 'dir') return this.dir;
      const dev = this.loops[name];
      if (!dev) throw new Error(`no loop device named ${name} in this case`);
      return dev;
    });
  }

  path(p: string): string {
    const s = this.sub(p);
    return s.startsWith('/') ? s : join(this.dir, s);
  }

  build(c: BadInputCase): void {
    mkdirSync(this.dir, { recursive: true });
    if (!c.bare) {
      copyFileSync(join(this.shared.templates, 'src.img'), join(this.dir, 'src.img'));
      copyFileSync(join(this.shared.templates, 'dst.img'), join(this.dir, 'dst.img'));
    }
    for (const s of c.setup ?? []) this.step(s);
  }

  private step(s: Step): void {
    if ('loop' in s) {
      const args = ['--find', '--show'];
      if (s.offset !== undefined) args.push('--offset', String(s.offset));
      if (s.sizelimit !== undefined) args.push('--sizelimit', String(s.sizelimit));
      if (s.readOnly) args.push('--read-only');
      const dev = sh('losetup', [...args, this.path(s.file)]);
      this.mine.push(dev);
      this.loops[s.loop] = dev;
    } else if ('partitioned' in s) {
      const file = this.path(s.file);
      writeMbr(file, s.size, s.start, s.sectors);
      const dev = sh('losetup', ['--find', '--show', file]);
      this.mine.push(dev);
      this.loops[s.partitioned] = dev;
      sh('partx', ['-a', dev]);
      const part = `${dev}p1`;
      const deadline = Date.now() + 3000;
      while (!existsSync(part) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
      if (!existsSync(part)) throw new Error(`partx made no ${part}`);
      this.loops[`${s.partitioned}1`] = part;
    } else if ('file' in s) {
      const p = this.path(s.file);
      mkdirSync(dirname(p), { recursive: true });
      if (s.sparse || s.fill === 'zero') {
        writeFileSync(p, Buffer.alloc(0));
        truncateSync(p, s.size);
      } else {
        const b = Buffer.alloc(s.size);
        for (let i = 0; i < s.size; i += 32) createHash('sha256').update(`${s.file}${i}`).digest().copy(b, i);
        writeFileSync(p, b);
      }
    } else if ('text' in s) {
      const p = this.path(s.text);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, typeof s.content === 'string' ? this.sub(s.content) : s.content);
    } else if ('dir' in s) mkdirSync(this.path(s.dir), { recursive: true });
    else if ('fifo' in s) sh('mkfifo', [this.path(s.fifo)]);
    else if ('node' in s) {
      const rdev = lstatSync(s.like).rdev;
      sh('mknod', [this.path(s.node), 'c', String(Math.floor(rdev / 256) & 0xfff), String((rdev & 0xff) | ((rdev >> 12) & 0xfff00))]);
    }
    else if ('symlink' in s) symlinkSync(this.sub(s.to), this.path(s.symlink));
    else if ('hardlink' in s) linkSync(this.path(s.to), this.path(s.hardlink));
    else if ('copy' in s) copyFileSync(this.path(s.copy), this.path(s.to));
    else if ('remove' in s) rmSync(this.path(s.remove), { recursive: true, force: true });
    else if ('truncate' in s) truncateSync(this.path(s.truncate), s.size);
    else if ('chmod' in s) chmodSync(this.path(s.chmod), s.mode);
    else if ('image' in s) {
      const into = this.path(s.into ?? '.');
      mkdirSync(into, { recursive: true });
      for (const f of imageFiles[s.image](readdirSync(this.shared.templates))) copyFileSync(join(this.shared.templates, f), join(into, f));
    } else if ('json' in s) {
      const p = this.path(s.json);
      const doc: Json = JSON.parse(readFileSync(p, 'utf8'));
      writeFileSync(p, this.sub(`${JSON.stringify(s.edit(doc), null, 2)}\n`));
    } else if ('mkfs' in s) sh('mkfs.ext4', ['-q', '-F', this.path(s.mkfs)]);
    else if ('mount' in s) {
      const at = this.path(s.at);
      mkdirSync(at, { recursive: true });
      sh('mount', [...(s.readOnly ? ['-o', 'ro'] : []), this.sub(s.mount), at]);
      this.mounts.push(at);
    } else if ('tmpfs' in s) {
      const at = this.path(s.tmpfs);
      mkdirSync(at, { recursive: true });
      sh('mount', ['-t', 'tmpfs', '-o', `size=${s.size}`, 'tmpfs', at]);
      this.mounts.push(at);
    } else if ('remountRo' in s) sh('mount', ['-o', 'remount,ro', this.path(s.remountRo)]);
  }

  /** Loop devices of this case and the shared ones, hashed whole. */
  deviceHashes(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, dev] of Object.entries(this.loops)) out.set(`${name} (${dev})`, hashFile(dev));
    return out;
  }

  cleanup(): void {
    for (const m of this.mounts.splice(0).reverse()) spawnSync('umount', ['-l', m]);
    for (const d of this.mine.splice(0).reverse()) {
      spawnSync('partx', ['-d', d]);
      spawnSync('losetup', ['-d', d]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const ONE_LINE = /^clonestation: .+ \[([A-Z_]+)\]$/;

/** Runs one case in `dir` (created and removed here) and returns what went wrong, if anything. */
export function runCase(c: BadInputCase, dir: string, logDir: string, shared: Shared, timeoutMs = 10_000): CaseResult {
  const fx = new Fixture(dir, shared);
  const problems: string[] = [];
  try {
    fx.build(c);
    const victims = ['/dev/null', '/dev/zero', ...(c.victims ?? [])];
    const treeBefore = snapshotTree(dir);
    const victimsBefore = victims.map((v) => snapshotPath(v));
    const devBefore = fx.deviceHashes();
    const keep = c.keepOutside;
    const keptBefore = keep ? readFileSync(fx.path(keep.file)) : undefined;
    const args = c.args.map((a) => fx.sub(a));
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [cliPath, ...args], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * MiB,
      env: { ...process.env, CLONESTATION_LOG_DIR: logDir, CLONESTATION_TRACE: '' },
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const stderr = r.stderr ?? '';
    if (r.signal) problems.push(`killed by ${r.signal} after ${seconds.toFixed(1)} s (a hang, or a crash)`);
    if (r.status !== c.status) problems.push(`exit status ${r.status}, expected ${c.status}`);
    if (c.status !== 0) {
      const lines = stderr.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      if (lines.length !== 1 && !(c.notes && lines.length > 1)) problems.push(`stderr has ${lines.length} lines, expected 1`);
      if (lines.filter((l) => l.startsWith('clonestation: ')).length > 1) problems.push('stderr has more than one error line');
      const m = ONE_LINE.exec(lines[lines.length - 1] ?? '');
      if (!m) problems.push('the last stderr line is not "clonestation: ... [CODE]"');
      const want = c.codes ?? (c.code ? [c.code] : []);
      if (m && want.length > 0 && !want.includes(m[1])) problems.push(`code ${m[1]}, expected ${want.join(' or ')}`);
    }
    if (/^\s+at /m.test(stderr) || /(^|\s)(\w*Error):/m.test(stderr)) problems.push('stderr holds a stack trace or a raw Error');
    // nothing outside the allowed outputs changed
    const treeAfter = snapshotTree(dir);
    const outputs = c.outputs ?? [];
    for (const [rel, before] of treeBefore) {
      if (allowed(rel, outputs)) continue;
      const after = treeAfter.get(rel);
      if (!same(before, after)) problems.push(`${rel} changed: ${describe(before)} -> ${describe(after)}`);
    }
    for (const [rel, after] of treeAfter) if (!treeBefore.has(rel) && !allowed(rel, outputs)) problems.push(`${rel} was created (${describe(after)})`);
    victims.forEach((v, i) => {
      const after = snapshotPath(v);
      if (same(victimsBefore[i], after)) return;
      problems.push(`victim ${v} changed: ${describe(victimsBefore[i])} -> ${describe(after)}`);
      // a file the run made where none was (a typo'd /dev name): remove it, so the next run and the machine are clean
      if (victimsBefore[i].type === 'absent' && after.type === 'file') rmSync(v, { force: true });
    });
    if (keep && keptBefore) {
      const after = existsSync(fx.path(keep.file)) ? readFileSync(fx.path(keep.file)) : Buffer.alloc(0);
      const end = keep.offset + keep.length;
      if (after.length < keptBefore.length) problems.push(`${keep.file} was cut from ${keptBefore.length} to ${after.length} bytes`);
      else if (!after.subarray(0, keep.offset).equals(keptBefore.subarray(0, keep.offset)) || !after.subarray(end, keptBefore.length).equals(keptBefore.subarray(end)))
        problems.push(`${keep.file} changed outside the ${keep.length} bytes written at ${keep.offset}`);
    }
    const devAfter = fx.deviceHashes();
    for (const [name, h] of devBefore) if (devAfter.get(name) !== h) problems.push(`loop device ${name} was written`);
    // a refusal (2, 4) leaves no log; a run that started (1) may
    if ((c.status === 2 || c.status === 4) && existsSync(logDir)) {
      const logs = readdirSync(logDir, { recursive: true }).map(String);
      if (logs.length > 0) problems.push(`a refused run left files in the log folder: ${logs.join(', ')}`);
    }
    return { name: c.name, status: r.status, signal: r.signal, stderr, seconds, problems };
  } finally {
    fx.cleanup();
    rmSync(logDir, { recursive: true, force: true });
  }
}

/** The shared loop devices: S and T (1 MiB, random), SMALL (256 KiB). */
export function attachShared(dir: string): { loops: Record<string, string>; detach: () => void } {
  const loops: Record<string, string> = {};
  const specs: [string, number][] = [
    ['S', MiB],
    ['T', MiB],
    ['SMALL', 256 * 1024],
  ];
  for (const [name, size] of specs) {
    const file = join(dir, `shared-${name}.img`);
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i += 32) createHash('sha256').update(`shared${name}${i}`).digest().copy(b, i);
    writeFileSync(file, b);
    loops[name] = sh('losetup', ['--find', '--show', file]);
  }
  const detachers = Object.values(loops).map((dev) => loopDetacher(dev));
  return {
    loops,
    detach: () => {
      for (const detach of detachers) detach();
    },
  };
}
