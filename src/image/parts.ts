// Images as one file or as a byte split OUT.001, OUT.002, ... (the 7-Zip / `split -d -a 3`
// convention: concatenating the parts in order gives the whole image back). Raw and zip
// images share this naming, so a split zip opens in 7-Zip as `7z x OUT.zip.001`.
//
// Writing: a PartSink takes the image as one byte stream and cuts it into parts of a fixed
// size (the last one shorter); parts are created when their first byte arrives, each one is
// fsynced and closed when it is full, and close() reports every part's size and hash.
// Reading: findParts() discovers a set, PartSet reads any byte range across it.
import { constants as fsConstants } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ImageError, isSystemCallError } from '../errors.js';
import { MultiHash, type HashAlgorithm } from './hash.js';

/** The path of part `index` (1-based) of a split image: OUT.001, OUT.002, ..., OUT.1000. */
export function partPath(out: string, index: number): string {
  if (!Number.isInteger(index) || index < 1) throw new RangeError(`part index ${index} is not a positive integer`);
  return `${out}.${String(index).padStart(3, '0')}`;
}

/**
 * The parts OUT.001, OUT.002, ... of a split image, in order. Throws IMAGE_NOT_FOUND when
 * there is none, IMAGE_PART_MISSING when the first part or one in the middle is missing
 * (a missing *last* part cannot be seen from names: readers find it by structure).
 */
export async function findParts(out: string): Promise<string[]> {
  const dir = dirname(out);
  const base = basename(out);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new ImageError('IMAGE_NOT_FOUND', `cannot list ${dir} to find the parts of ${out}: ${errText(e)}`, { path: out });
  }
  const indexes: number[] = [];
  for (const n of names) {
    if (!n.startsWith(`${base}.`)) continue;
    const suffix = n.slice(base.length + 1);
    // three digits at least, as partPath writes them (OUT.1 or OUT.bak are not parts)
    if (/^\d{3,}$/.test(suffix)) indexes.push(Number(suffix));
  }
  indexes.sort((a, b) => a - b);
  if (indexes.length === 0) {
    throw new ImageError('IMAGE_NOT_FOUND', `no image parts ${partPath(out, 1)}, ${basename(partPath(out, 2))}, ... found: check the path`, { path: out });
  }
  if (indexes[0] !== 1) {
    throw new ImageError(
      'IMAGE_PART_MISSING',
      `the first part ${partPath(out, 1)} is missing (the set starts at ${basename(partPath(out, indexes[0] ?? 1))}): copy it back beside the others`,
      { path: out, missing: 1 },
    );
  }
  for (let i = 0; i < indexes.length; i++) {
    if (indexes[i] !== i + 1) {
      throw new ImageError(
        'IMAGE_PART_MISSING',
        `part ${partPath(out, i + 1)} is missing (there is a ${basename(partPath(out, indexes[i] ?? i + 2))}): copy it back beside the others`,
        { path: out, missing: i + 1 },
      );
    }
  }
  return indexes.map((i) => partPath(out, i));
}

// ---------------------------------------------------------------------------------------
// Writing

export interface PartInfo {
  path: string;
  size: number;
  /** hex digest of the part's bytes by the first algorithm asked for, if any */
  hash?: string;
  /** hex digests of the part's bytes by every algorithm asked for */
  hashes?: Partial<Record<HashAlgorithm, string>>;
}

export interface PartsSummary {
  /** bytes written in all parts */
  size: number;
  parts: PartInfo[];
  /** the hash algorithm of PartInfo.hash, if any */
  hashAlgorithm?: HashAlgorithm;
}

/** A byte stream written to one file or to a byte split of it. Not for concurrent use. */
export interface PartSink {
  /** Appends data; resolves when it has been written (the caller may then reuse data). */
  write(data: Uint8Array): Promise<void>;
  /** Flushes, fsyncs and closes every part; reports them. The sink is done afterwards. */
  close(): Promise<PartsSummary>;
  /** Closes whatever is open without fsync (after a failure); keeps the files. */
  abort(): Promise<void>;
  /** Bytes accepted so far. */
  readonly bytesWritten: number;
}

export interface PartSinkOptions {
  /** Cut the stream into OUT.001, OUT.002, ... of this many bytes; unset: one file OUT. */
  partSize?: number;
  /** The algorithm(s) to hash every part with (sha256, md5, xxh3, ...); unset: none. */
  hash?: HashAlgorithm | readonly HashAlgorithm[];
  /** Replace existing files (default false: an existing file is IMAGE_WRITE_FAILED). */
  overwrite?: boolean;
}

/** A PartSink writing to `out` (or, with partSize, to partPath(out, 1), ...). */
export function openPartSink(out: string, opts: PartSinkOptions = {}): PartSink {
  if (opts.partSize !== undefined && (!Number.isSafeInteger(opts.partSize) || opts.partSize <= 0)) {
    throw new RangeError(`part size ${opts.partSize} is not a positive integer`);
  }
  return new FilePartSink(out, opts);
}

class FilePartSink implements PartSink {
  bytesWritten = 0;
  private readonly done: PartInfo[] = [];
  private current: { path: string; fh: FileHandle; size: number; hash?: MultiHash } | undefined;
  private closed = false;
  private readonly algorithms: readonly HashAlgorithm[];

  constructor(
    private readonly out: string,
    private readonly opts: PartSinkOptions,
  ) {
    this.algorithms = opts.hash === undefined ? [] : typeof opts.hash === 'string' ? [opts.hash] : opts.hash;
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('PartSink: write after close');
    let pos = 0;
    while (pos < data.length) {
      const part = this.current ?? (await this.openNext());
      const room = this.opts.partSize === undefined ? data.length - pos : this.opts.partSize - part.size;
      const n = Math.min(room, data.length - pos);
      const piece = data.subarray(pos, pos + n);
      await this.writeAll(part.fh, piece, part.path);
      part.hash?.update(piece);
      part.size += n;
      pos += n;
      this.bytesWritten += n;
      if (this.opts.partSize !== undefined && part.size === this.opts.partSize) await this.closeCurrent();
    }
  }

  async close(): Promise<PartsSummary> {
    if (this.closed) throw new Error('PartSink: closed twice');
    // an empty stream still leaves its (empty) first part, so the image exists
    if (this.done.length === 0 && !this.current) await this.openNext();
    await this.closeCurrent();
    this.closed = true;
    await syncDir(dirname(this.out));
    return { size: this.bytesWritten, parts: [...this.done], ...(this.algorithms[0] ? { hashAlgorithm: this.algorithms[0] } : {}) };
  }

  async abort(): Promise<void> {
    this.closed = true;
    const c = this.current;
    this.current = undefined;
    await c?.fh.close().catch(() => undefined);
  }

  private async openNext(): Promise<NonNullable<FilePartSink['current']>> {
    const path = this.opts.partSize === undefined ? this.out : partPath(this.out, this.done.length + 1);
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | (this.opts.overwrite ? fsConstants.O_TRUNC : fsConstants.O_EXCL);
    // the hashers first: nothing is left open if one cannot be made
    const hash = this.algorithms.length > 0 ? await MultiHash.create(this.algorithms) : undefined;
    let fh: FileHandle;
    try {
      fh = await open(path, flags, 0o644);
    } catch (e) {
      throw writeError(e, path, 'create');
    }
    this.current = { path, fh, size: 0, ...(hash ? { hash } : {}) };
    return this.current;
  }

  private async closeCurrent(): Promise<void> {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    try {
      // fsync each part as it is finished: a report never names a part still in the page cache
      await c.fh.sync();
    } catch (e) {
      await c.fh.close().catch(() => undefined);
      throw writeError(e, c.path, 'fsync');
    }
    await c.fh.close();
    const hashes = c.hash?.digest();
    const first = this.algorithms[0];
    this.done.push({ path: c.path, size: c.size, ...(hashes && first ? { hash: hashes[first], hashes } : {}) });
  }

  private async writeAll(fh: FileHandle, piece: Uint8Array, path: string): Promise<void> {
    let off = 0;
    while (off < piece.length) {
      let n: number;
      try {
        ({ bytesWritten: n } = await fh.write(piece, off, piece.length - off));
      } catch (e) {
        throw writeError(e, path, 'write');
      }
      if (n === 0) throw writeError(Object.assign(new Error('no progress'), { code: 'ENOSPC' }), path, 'write');
      off += n;
    }
  }
}

/** fsync a folder, so the names of new parts survive a power cut too (not every file system can). */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // EINVAL/EISDIR on file systems that cannot sync folders (and /dev for /dev/full): nothing to do
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function writeError(e: unknown, path: string, what: string): ImageError {
  const errno = isSystemCallError(e) ? e.code : undefined;
  if (errno === 'ENOSPC' || errno === 'EDQUOT' || errno === 'EFBIG') {
    return new ImageError('OUTPUT_FULL', `no room left to write ${path} (${errno}): free some space or write the image elsewhere (or split it with a smaller part size)`, {
      path,
      errno,
    });
  }
  if (errno === 'EEXIST') {
    return new ImageError('IMAGE_WRITE_FAILED', `${path} already exists: remove it or choose another name`, { path, errno });
  }
  return new ImageError('IMAGE_WRITE_FAILED', `cannot ${what} ${path}: ${errText(e)}`, { path, errno });
}

// ---------------------------------------------------------------------------------------
// Reading

/** Random access over the concatenation of one or more files. */
export class PartSet {
  private constructor(
    readonly paths: string[],
    readonly sizes: number[],
    /** starts[i]: offset of part i in the whole */
    private readonly starts: number[],
    private readonly handles: FileHandle[],
    readonly size: number,
  ) {}

  /**
   * Opens `path`: a single file, or a split set when `path` is OUT.001 or when `path`
   * does not exist but OUT.001 does; or exactly the files of a list, in its order.
   * IMAGE_NOT_FOUND / IMAGE_PART_MISSING otherwise.
   */
  static async open(path: string | readonly string[]): Promise<PartSet> {
    let paths: string[];
    // the files as a manifest lists them: exactly those, in that order (a part beyond the
    // manifest's last one is not part of the image)
    if (typeof path !== 'string') paths = [...path];
    else if (/\.0*1$/.test(path) && /\.\d{3,}$/.test(path)) {
      paths = await findParts(path.replace(/\.\d{3,}$/, ''));
    } else {
      const st = await stat(path).catch(() => undefined);
      if (st) paths = [path];
      else {
        try {
          paths = await findParts(path);
        } catch (e) {
          if (e instanceof ImageError && e.code === 'IMAGE_NOT_FOUND') {
            throw new ImageError('IMAGE_NOT_FOUND', `image ${path} does not exist (nor ${partPath(path, 1)}): check the path`, { path });
          }
          throw e;
        }
      }
    }
    const handles: FileHandle[] = [];
    const sizes: number[] = [];
    try {
      for (const p of paths) {
        const fh = await open(p, 'r');
        handles.push(fh);
        sizes.push((await fh.stat()).size);
      }
    } catch (e) {
      await Promise.all(handles.map((h) => h.close().catch(() => undefined)));
      throw new ImageError('IMAGE_READ_FAILED', `cannot open image part ${paths[handles.length]}: ${errText(e)}`, { path: paths[handles.length] });
    }
    const starts: number[] = [];
    let total = 0;
    for (const s of sizes) {
      starts.push(total);
      total += s;
    }
    return new PartSet(paths, sizes, starts, handles, total);
  }

  /** Reads exactly `length` bytes at `position` of the whole into buf[offset..]; IMAGE_TRUNCATED past the end. */
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    if (position + length > this.size) {
      throw new ImageError('IMAGE_TRUNCATED', `the image ends at byte ${this.size}, before byte ${position + length}: it is truncated or a part is missing`, {
        size: this.size,
      });
    }
    let done = 0;
    let i = this.partAt(position);
    while (done < length) {
      const fh = this.handles[i];
      const start = this.starts[i];
      const size = this.sizes[i];
      if (fh === undefined || start === undefined || size === undefined) throw new Error('PartSet: ran past the last part');
      const inPart = position + done - start;
      const want = Math.min(length - done, size - inPart);
      let got = 0;
      while (got < want) {
        let n: number;
        try {
          ({ bytesRead: n } = await fh.read(buf, offset + done + got, want - got, inPart + got));
        } catch (e) {
          throw new ImageError('IMAGE_READ_FAILED', `cannot read ${this.paths[i]}: ${errText(e)}`, { path: this.paths[i] });
        }
        if (n === 0) {
          throw new ImageError('IMAGE_TRUNCATED', `${this.paths[i]} became shorter while being read: is something else writing it?`, { path: this.paths[i] });
        }
        got += n;
      }
      done += want;
      i++;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.close().catch(() => undefined)));
  }

  /** The path of the part holding byte `position` of the whole (for messages). */
  pathAt(position: number): string {
    return this.paths[this.partAt(Math.max(0, Math.min(position, this.size - 1)))] ?? this.paths[0] ?? '';
  }

  /** The part holding byte `position`: the last one starting at or before it (so empty parts are passed over). */
  private partAt(position: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= position) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
