// GNU ddrescue's mapfile, read and written byte for byte the way ddrescue 1.27 does, so a
// rescue can move between clonestation and ddrescue/ddrescuelog in either direction.
//
//   # Mapfile. Created by GNU ddrescue version 1.27
//   # Command line: ddrescue -b512 src.img dst.img map
//   # Start time:   2026-11-23 22:40:37
//   # Current time: 2026-11-23 22:40:37
//   # Finished
//   # current_pos  current_status  current_pass
//   0x00023000     +               1
//   #      pos        size  status
//   0x00000000  0x00010000  +
//   0x00010000  0x00000200  -
//
// The first data line is the status line; every later one is a block. Blocks are contiguous
// from 0 and never overlap.

import { closeSync, constants, fstatSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InternalError, IoError, UsageError, isSystemCallError } from '../errors.js';
import { checkOutputPath, notAFile, readInputFile } from '../outpath.js';

/** '?' non-tried, '*' non-trimmed, '/' non-scraped, '-' bad sector, '+' finished. */
export type BlockStatus = '?' | '*' | '/' | '-' | '+';
/** '?' copying, '*' trimming, '/' scraping, '-' retrying, 'F' filling, 'G' generating, '+' finished. */
export type PassStatus = '?' | '*' | '/' | '-' | 'F' | 'G' | '+';

export const BLOCK_STATUSES: readonly BlockStatus[] = ['?', '*', '/', '-', '+'];
export const PASS_STATUSES: readonly PassStatus[] = ['?', '*', '/', '-', 'F', 'G', '+'];

export interface MapBlock {
  pos: number;
  size: number;
  status: BlockStatus;
}

export interface RescueMap {
  currentPos: number;
  currentStatus: PassStatus;
  /** 1 or more. Maps from ddrescue before 1.20 have no pass field; they read as pass 1. */
  currentPass: number;
  blocks: MapBlock[];
}

export interface MapHeader {
  commandLine: string;
  /** clonestation's version, written as "Created by clonestation version X". */
  version: string;
  startTime: Date;
  currentTime: Date;
  finished: boolean;
  /**
   * What the rescue was doing, written as a comment in place of "# Finished" while it is
   * unfinished (ddrescue writes e.g. "Copying non-tried blocks... Pass 2 (backwards)").
   * Informational only: no reader depends on it.
   */
  progress?: string;
}

export interface ParseOptions {
  /** Shown in error messages. */
  path: string;
  /** The drive's size in bytes: a shorter map is extended with '?', a longer one refused. */
  deviceSize?: number;
}

// A map larger than this is not a map (someone passed an image or a drive): refuse it before
// reading gigabytes into a string. A 1,000,000-block map is about 30 MB.
const MAX_MAP_BYTES = 256 * 1024 * 1024;

const isBlockStatus = (c: string): c is BlockStatus => c.length === 1 && '?*/-+'.includes(c);
const isPassStatus = (c: string): c is PassStatus => c.length === 1 && '?*/-FG+'.includes(c);

/**
 * The number in C syntax (what ddrescue's %lli reads: 0x hex, leading-0 octal, decimal) in
 * text[start, end), or -1. Unsigned only, and at most 2^53-1 so every byte position stays
 * exact in a double (2^53 bytes is 8 PiB, far past any drive). Works on char codes because
 * a million-line map must not cost a million substrings and regex runs.
 */
function cNumberAt(text: string, start: number, end: number): number {
  if (end <= start) return -1;
  let v = 0;
  let i = start;
  let base = 10;
  if (text.charCodeAt(i) === 0x30 /* 0 */) {
    if (end - i === 1) return 0;
    const x = text.charCodeAt(i + 1) | 0x20;
    if (x === 0x78 /* x or X */) {
      base = 16;
      i += 2;
      if (i === end) return -1;
    } else {
      base = 8;
      i += 1;
    }
  }
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (base === 16 && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x61 + 10;
    else return -1;
    if (d >= base) return -1;
    // Past 2^53 the sum turns inexact but only grows, so the check below still catches it.
    v = v * base + d;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

/** A C-syntax number (see cNumberAt), or undefined. */
export function parseCNumber(token: string): number | undefined {
  const n = cNumberAt(token, 0, token.length);
  return n < 0 ? undefined : n;
}

/** Keeps an offending token readable and one-line in an error message. */
function quote(token: string): string {
  const short = token.length > 40 ? `${token.slice(0, 40)}...` : token;
  return JSON.stringify(short);
}

function hex(n: number): string {
  // ddrescue's 0x%08llX: uppercase, at least 8 digits, more when needed.
  return `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;
}

function badLine(path: string, line: number, problem: string, details: Record<string, unknown> = {}): UsageError {
  return new UsageError(
    `map ${path} line ${line}: ${problem} — fix that line (ddrescuelog -t checks a map) or pass the right map`,
    'BAD_MAP',
    { path, line, ...details },
  );
}

function notANumber(path: string, line: number, what: string, token: string): UsageError {
  return badLine(path, line, `${what} ${quote(token)} is not a number (write decimal, 0x hex or 0-prefixed octal, at most 2^53-1)`, { token });
}

// Whitespace as C's isspace() sees it, minus the newline that ends a line.
const isBlank = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0b || c === 0x0c;
const HASH = 0x23;
const NEWLINE = 0x0a;

/** The block status that is the whole of text[start, end), or undefined. */
function statusAt(text: string, start: number, end: number): BlockStatus | undefined {
  if (end - start !== 1) return undefined;
  switch (text.charCodeAt(start)) {
    case 0x3f:
      return '?';
    case 0x2a:
      return '*';
    case 0x2f:
      return '/';
    case 0x2d:
      return '-';
    case 0x2b:
      return '+';
    default:
      return undefined;
  }
}

/** The first data line: current_pos current_status [current_pass]. */
function parseStatusLine(
  text: string,
  from: readonly number[],
  to: readonly number[],
  count: number,
  path: string,
  lineNo: number,
  lineStart: number,
  lineEnd: number,
): { pos: number; status: PassStatus; pass: number } {
  const field = (k: number): string => text.slice(from[k]!, to[k]!);
  const numberField = (k: number, what: string): number => {
    const n = cNumberAt(text, from[k]!, to[k]!);
    if (n < 0) throw notANumber(path, lineNo, what, field(k));
    return n;
  };
  if (count < 2 || count > 3) {
    const found = quote(text.slice(lineStart, lineEnd).trim());
    throw badLine(path, lineNo, `expected the status line "current_pos current_status [current_pass]", found ${found}`);
  }
  const pos = numberField(0, 'current_pos');
  const status = field(1);
  if (!isPassStatus(status)) throw badLine(path, lineNo, `unknown current_status ${quote(status)} (expected one of ? * / - F G +)`, { status });
  let pass = 1;
  if (count === 3) {
    pass = numberField(2, 'current_pass');
    if (pass < 1) throw badLine(path, lineNo, `current_pass must be 1 or more, found ${quote(field(2))}`);
  }
  return { pos, status, pass };
}

/**
 * Reads a ddrescue mapfile. Throws UsageError BAD_MAP (exit 2) naming the file and line
 * for anything malformed, and MAP_LARGER_THAN_DRIVE when the map reaches past deviceSize.
 * A '#' starts a comment anywhere on a line (ddrescuelog -A appends "# 0 B" annotations).
 *
 * Stricter than ddrescue in two ways, both to catch a wrong file early: extra fields after
 * a line's last field are refused (ddrescue's sscanf ignores them), and the first block
 * must start at 0 (ddrescue fills a leading hole with '?').
 */
export function parseMap(text: string, opts: ParseOptions): RescueMap {
  const { path, deviceSize } = opts;
  let status: { pos: number; status: PassStatus; pass: number } | undefined;
  const blocks: MapBlock[] = [];
  let end = 0;
  // Where the map first goes past the drive, for the error message.
  let firstBeyondLine = 0;
  // Field boundaries of the current line; only the first 3 are kept, the count is exact.
  const from = [0, 0, 0];
  const to = [0, 0, 0];

  const len = text.length;
  let lineNo = 0;
  let i = 0;
  while (i < len) {
    lineNo++;
    const lineStart = i;
    let count = 0;
    while (i < len) {
      let c = text.charCodeAt(i);
      while (isBlank(c) && ++i < len) c = text.charCodeAt(i);
      if (i >= len || c === NEWLINE) break;
      if (c === HASH) {
        const nl = text.indexOf('\n', i);
        i = nl < 0 ? len : nl;
        break;
      }
      const s = i;
      while (++i < len) {
        c = text.charCodeAt(i);
        if (isBlank(c) || c === NEWLINE || c === HASH) break;
      }
      if (count < 3) {
        from[count] = s;
        to[count] = i;
      }
      count++;
    }
    const lineEnd = i;
    i++; // past the newline
    if (count === 0) continue; // blank or comment

    if (status === undefined) {
      status = parseStatusLine(text, from, to, count, path, lineNo, lineStart, lineEnd);
      continue;
    }

    // Substrings are made only for error messages: a million block lines must not cost a
    // million of them. (No closures here either: captured variables are slower to reach.)
    if (count !== 3) {
      throw badLine(path, lineNo, `expected a block line "pos size status", found ${quote(text.slice(lineStart, lineEnd).trim())}`);
    }
    const pos = cNumberAt(text, from[0]!, to[0]!);
    if (pos < 0) throw notANumber(path, lineNo, 'pos', text.slice(from[0]!, to[0]!));
    const size = cNumberAt(text, from[1]!, to[1]!);
    if (size < 0) throw notANumber(path, lineNo, 'size', text.slice(from[1]!, to[1]!));
    const st = statusAt(text, from[2]!, to[2]!);
    if (st === undefined) {
      const token = text.slice(from[2]!, to[2]!);
      throw badLine(path, lineNo, `unknown block status ${quote(token)} (expected one of ? * / - +)`, { status: token });
    }
    // ddrescue refuses 0-size blocks too ("Bad block line in list").
    if (size <= 0) throw badLine(path, lineNo, `block size must be more than 0, found ${quote(text.slice(from[1]!, to[1]!))}`);
    if (pos !== end) {
      if (blocks.length === 0) throw badLine(path, lineNo, `the first block starts at ${hex(pos)}, not at 0`, { pos });
      const problem = pos < end ? 'overlaps the previous block, which' : 'leaves a gap after the previous block, which';
      throw badLine(path, lineNo, `block at ${hex(pos)} ${problem} ends at ${hex(end)}`, { pos, previousEnd: end });
    }
    end = pos + size;
    if (!Number.isSafeInteger(end)) throw badLine(path, lineNo, `block ends past 2^53-1 bytes`, { pos, size });
    if (deviceSize !== undefined && end > deviceSize && firstBeyondLine === 0) firstBeyondLine = lineNo;

    // Merge as we go: ddrescue does the same on load, and it keeps area counts honest.
    const last = blocks[blocks.length - 1];
    if (last !== undefined && last.status === st) last.size += size;
    else blocks.push({ pos, size, status: st });
  }

  if (deviceSize !== undefined && end > deviceSize) {
    throw new UsageError(
      `map ${path} covers ${end} bytes (line ${firstBeyondLine}) but the drive has ${deviceSize}: it belongs to another (larger) drive — pass the right map or drive`,
      'MAP_LARGER_THAN_DRIVE',
      { path, line: firstBeyondLine, mapSize: end, deviceSize },
    );
  }
  // ddrescue extends a short map with non-tried space up to the end of the input.
  if (deviceSize !== undefined && end < deviceSize) {
    const last = blocks[blocks.length - 1];
    if (last !== undefined && last.status === '?') last.size += deviceSize - end;
    else blocks.push({ pos: end, size: deviceSize - end, status: '?' });
  }

  return {
    currentPos: status?.pos ?? 0,
    currentStatus: status?.status ?? '?',
    currentPass: status?.pass ?? 1,
    blocks,
  };
}

/** YYYY-MM-DD HH:MM:SS in local time, as ddrescue writes it (it uses localtime()). */
function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// A newline inside a header value would start a new line that a reader takes for data.
const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

// Uppercase hex digits as bytes, for writing block lines straight into a buffer.
const DIGITS = Buffer.from('0123456789ABCDEF', 'latin1');
// "0x" + 14 digits (2^53) twice, two 2-space gaps, the status and the newline.
const MAX_LINE_BYTES = 38;

/** Writes n as 0x%08llX at buf[at]; returns the offset after it. */
function putHex(buf: Buffer, at: number, n: number): number {
  buf[at++] = 0x30;
  buf[at++] = 0x78;
  // Split at 2^32 so both halves fit 32-bit integer ops (n < 2^53, so hi < 2^21).
  let hi = Math.floor(n / 0x100000000);
  let lo = n >>> 0;
  let hiDigits = 0;
  for (let h = hi; h > 0; h >>>= 4) hiDigits++;
  for (let k = hiDigits - 1; k >= 0; k--, hi >>>= 4) buf[at + k] = DIGITS[hi & 15]!;
  at += hiDigits;
  for (let k = 7; k >= 0; k--, lo >>>= 4) buf[at + k] = DIGITS[lo & 15]!;
  return at + 8;
}

function headerText(map: RescueMap, header: MapHeader): string {
  const { currentPos, currentStatus, currentPass } = map;
  if (!Number.isSafeInteger(currentPos) || currentPos < 0 || !isPassStatus(currentStatus) || !Number.isSafeInteger(currentPass) || currentPass < 1) {
    throw new InternalError(`refusing to write a broken map status line: ${JSON.stringify({ currentPos, currentStatus, currentPass })}`);
  }
  const head = [
    `# Mapfile. Created by clonestation version ${oneLine(header.version)}`,
    `# Command line: ${oneLine(header.commandLine)}`,
    `# Start time:   ${stamp(header.startTime)}`,
    `# Current time: ${stamp(header.currentTime)}`,
  ];
  if (header.finished) head.push('# Finished');
  else if (header.progress !== undefined && header.progress !== '') head.push(`# ${oneLine(header.progress)}`);
  head.push(
    '# current_pos  current_status  current_pass',
    `${hex(currentPos)}     ${currentStatus}               ${currentPass}`,
    '#      pos        size  status',
    '',
  );
  return head.join('\n');
}

/**
 * The mapfile as bytes, ready to write. Block lines are encoded straight into one buffer:
 * per-line strings for a million blocks cost about a second. Refuses (InternalError) to
 * encode a map whose blocks are not contiguous from 0, so a bug never reaches the disk.
 */
export function encodeMap(map: RescueMap, header: MapHeader): Buffer {
  const head = Buffer.from(headerText(map, header), 'utf8');
  const body = Buffer.allocUnsafe(map.blocks.length * MAX_LINE_BYTES);
  let at = 0;
  let end = 0;
  for (const b of map.blocks) {
    if (b.pos !== end || !(b.size > 0) || !Number.isSafeInteger(b.pos + b.size) || !isBlockStatus(b.status)) {
      throw new InternalError(`refusing to write a broken map: block ${JSON.stringify(b)} does not follow the previous one ending at ${end}`);
    }
    end = b.pos + b.size;
    at = putHex(body, at, b.pos);
    body[at++] = 0x20;
    body[at++] = 0x20;
    at = putHex(body, at, b.size);
    body[at++] = 0x20;
    body[at++] = 0x20;
    body[at++] = b.status.charCodeAt(0);
    body[at++] = 0x0a;
  }
  return Buffer.concat([head, body.subarray(0, at)]);
}

/** The mapfile text, in ddrescue 1.27's exact layout (only line 1 names clonestation). */
export function formatMap(map: RescueMap, header: MapHeader): string {
  return encodeMap(map, header).toString('utf8');
}

function saveError(e: unknown, path: string): IoError {
  const why = e instanceof Error ? e.message : String(e);
  return new IoError('MAP_SAVE_FAILED', `cannot save map ${path}: ${why} — free some space or pass a map path on a writable disk`, {
    path,
    errno: isSystemCallError(e) ? e.code : undefined,
  });
}

// Saving over a symlinked map must update the file it points to, not replace the link.
async function target(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}
function targetSync(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * A save renames a new file over `dest`: never over a device, FIFO or folder (rename would
 * replace /dev/null with a map). The temporary file is opened without following a link and
 * without blocking (a FIFO left there fails at once), and must be a regular file.
 */
const TMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function notAMap(path: string, kind: string): UsageError {
  return new UsageError(`cannot write the map ${path}: ${kind}: give the map a file of its own`, 'BAD_MAP', { path });
}

function checkDestSync(dest: string, path: string): void {
  let kind: string | undefined;
  try {
    kind = notAFile(statSync(dest));
  } catch {
    return; // a new map, or an error the rename will report
  }
  if (kind) throw notAMap(path, kind);
}

/**
 * Saves the map crash-safely: the new text goes to `<path>.tmp` in the same folder, is
 * fsynced, renamed over `path`, and the folder is fsynced, so after a crash or power cut
 * the map is either the old one or the new one, never a torn mix. Callers must not run two
 * saves of the same path at once (they share the .tmp file): await each before the next.
 */
export async function saveMap(path: string, map: RescueMap, header: MapHeader): Promise<void> {
  const bytes = encodeMap(map, header);
  const dest = await target(path);
  const tmp = `${dest}.tmp`;
  const kind = await stat(dest).then(notAFile, () => undefined);
  if (kind) throw notAMap(path, kind);
  try {
    const fh = await open(tmp, TMP_FLAGS, 0o644);
    try {
      const tmpKind = notAFile(await fh.stat());
      if (tmpKind) throw notAMap(tmp, tmpKind);
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
    const dir = await open(dirname(dest), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (e) {
    if (e instanceof UsageError) throw e; // not a file of ours: left alone
    await rm(tmp, { force: true }).catch(() => undefined);
    throw saveError(e, path);
  }
}

/** saveMap for places that cannot await: signal handlers and exit paths. */
export function saveMapSync(path: string, map: RescueMap, header: MapHeader): void {
  const bytes = encodeMap(map, header);
  const dest = targetSync(path);
  const tmp = `${dest}.tmp`;
  checkDestSync(dest, path);
  try {
    const fd = openSync(tmp, TMP_FLAGS, 0o644);
    try {
      const tmpKind = notAFile(fstatSync(fd));
      if (tmpKind) throw notAMap(tmp, tmpKind);
      writeFileSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, dest);
    const dir = openSync(dirname(dest), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e; // not a file of ours: left alone
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The save error below is the one worth reporting.
    }
    throw saveError(e, path);
  }
}

function loadError(e: unknown, path: string): Error {
  if (isSystemCallError(e) && (e.code === 'EACCES' || e.code === 'EPERM')) {
    return new IoError('PERMISSION_DENIED', `no permission to read map ${path}: run as root or fix its permissions`, { path, errno: e.code });
  }
  const why = e instanceof Error ? e.message : String(e);
  return new IoError('MAP_READ_FAILED', `cannot read map ${path}: ${why}`, { path, errno: isSystemCallError(e) ? e.code : undefined });
}

/**
 * The text of a map, undefined when there is none. A folder, FIFO or device is refused
 * with BAD_MAP before it is opened (and never waited on: see readInputFile), and so is
 * anything larger than MAX_MAP_BYTES, without reading it.
 */
export function readMapText(path: string, what = 'map'): string | undefined {
  try {
    return readInputFile(path, what, MAX_MAP_BYTES, { code: 'BAD_MAP', tooLarge: 'too large to be a mapfile — pass the map, not an image or a drive' })?.toString('utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw loadError(e, path);
  }
}

/**
 * Checks, before anything is written, that `path` can be this run's map: an existing
 * regular file or a new name in a writable folder (never a device, FIFO or folder, which
 * a save would rename a file over), and that a map already there parses.
 */
export function checkMapPath(path: string, deviceSize?: number): RescueMap | undefined {
  checkOutputPath(path, 'the map', { code: 'BAD_MAP', fix: 'give the map a file of its own' });
  const text = readMapText(path);
  return text === undefined ? undefined : parseMap(text, deviceSize === undefined ? { path } : { path, deviceSize });
}

/**
 * Reads and parses a map. Undefined when the file does not exist: the caller starts a
 * fresh rescue. A leftover `<path>.tmp` from a crash mid-save is ignored on purpose: the
 * rename never happened, so `path` still holds the last complete map.
 */
export async function loadMap(path: string, deviceSize?: number): Promise<RescueMap | undefined> {
  const text = readMapText(path);
  if (text === undefined) return undefined;
  return parseMap(text, deviceSize === undefined ? { path } : { path, deviceSize });
}

/**
 * The text of a finished-looking map of `size` bytes whose `bad` extents (sorted, apart) are
 * '-' and the rest '+': what --simulate-errors reads, for the demo and the tests.
 */
export function badAreasMap(size: number, bad: readonly { offset: number; length: number }[]): string {
  const lines = ['0x00000000 + 1'];
  let at = 0;
  for (const b of bad) {
    if (b.offset > at) lines.push(`0x${at.toString(16)} 0x${(b.offset - at).toString(16)} +`);
    lines.push(`0x${b.offset.toString(16)} 0x${b.length.toString(16)} -`);
    at = b.offset + b.length;
  }
  if (at < size) lines.push(`0x${at.toString(16)} 0x${(size - at).toString(16)} +`);
  return `${lines.join('\n')}\n`;
}
