// Writing a JS byte stream (the inflated ZIP entry) to a drive or file the way the engine
// would: large sequential writes from 4096-aligned memory with O_DIRECT, a few in flight
// (node's fs.write runs on libuv's pool, so writes overlap each other and the inflate),
// the unaligned tail through a buffered twin, fdatasync at the end. Used where the bytes do
// not come from a file the native engine could read itself.
import { closeSync, constants as fsConstants, fdatasync, openSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { engine } from '../native.js';
import { CloneStationError, IoError, isSystemCallError, openError } from '../errors.js';

const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);

/** Alignment that is always safe for O_DIRECT memory (NOTES.md). */
const MEM_ALIGN = 4096;

export interface TargetWriterOptions {
  path: string;
  kind: 'block' | 'file';
  /** where the first byte lands on the target */
  offset: number;
  /** O_DIRECT when the target and the offset allow it */
  direct: boolean;
  /** the target's O_DIRECT offset/length alignment (logical sector size, or 4096 to be safe) */
  align: number;
  /** bytes per write (a multiple of 4096) */
  slotSize?: number;
  /** writes in flight */
  depth?: number;
  /** also given each slot as it is written (a HashThread): the slot is reused when both are done */
  tap?: (slot: Uint8Array) => Promise<void>;
}

/** Measured with bench/restore.ts: see docs/ARCHITECTURE.md ("Restore and verify"). */
export const DEFAULT_SLOT_SIZE = 4 << 20;
export const DEFAULT_WRITE_DEPTH = 3;

export class TargetWriter {
  readonly direct: boolean;
  readonly directNote: string;
  /** bytes accepted (copied into slots or written) */
  accepted = 0;
  /** bytes the kernel has taken */
  written = 0;
  /** bytes passed over by skip(): left as the target has them */
  skipped = 0;
  /** tap calls for skipped bytes, awaited with the writes */
  private readonly skipTaps = new Set<Promise<void>>();
  private readonly fd: number;
  /** buffered twin for the unaligned tail (O_DIRECT only) */
  private readonly tailFd: number | undefined;
  private readonly slots: Uint8Array[] = [];
  private readonly inFlight: (Promise<void> | undefined)[] = [];
  private cur = 0;
  private fill = 0;
  private pos: number;
  private failure: CloneStationError | undefined;
  private closed = false;

  constructor(private readonly o: TargetWriterOptions) {
    const slotSize = o.slotSize ?? DEFAULT_SLOT_SIZE;
    const depth = o.depth ?? DEFAULT_WRITE_DEPTH;
    this.pos = o.offset;
    let direct = o.direct;
    let note = o.direct ? '' : 'direct I/O not requested';
    if (direct && o.offset % o.align !== 0) {
      direct = false;
      note = `offset not aligned to ${o.align} bytes`;
    }
    // O_EXCL on a block device: the kernel's last word against writing a drive in use.
    const flags = fsConstants.O_WRONLY | (o.kind === 'block' ? fsConstants.O_EXCL : 0);
    let fd: number | undefined;
    if (direct) {
      try {
        fd = openSync(o.path, flags | fsConstants.O_DIRECT);
      } catch (e) {
        if (!isSystemCallError(e) || e.code !== 'EINVAL') throw openError(e, 'target', o.path);
        direct = false;
        note = 'the file system refuses O_DIRECT';
      }
    }
    try {
      this.fd = fd ?? openSync(o.path, flags);
      this.tailFd = direct ? openSync(o.path, fsConstants.O_WRONLY) : undefined;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      throw openError(e, 'target', o.path);
    }
    this.direct = direct;
    this.directNote = note;
    // One allocation for the ring (shared, so a hashing thread reads the slots in place); the
    // native helper says where its first aligned byte is.
    const mem = new Uint8Array(new SharedArrayBuffer(MEM_ALIGN + depth * slotSize));
    const pad = engine.alignPad(mem, MEM_ALIGN);
    for (let i = 0; i < depth; i++) this.slots.push(mem.subarray(pad + i * slotSize, pad + (i + 1) * slotSize));
    this.inFlight.length = depth;
  }

  /** Copies data into the ring; resolves when it may be reused (at once, unless the ring is full). */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      if (this.failure) throw this.failure;
      const slot = this.slots[this.cur];
      if (!slot) throw new Error('TargetWriter: no slot');
      if (this.fill === 0) await this.inFlight[this.cur]; // the slot's last write must be done
      const n = Math.min(slot.length - this.fill, data.length - off);
      slot.set(data.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      this.accepted += n;
      if (this.fill === slot.length) this.submit(false);
    }
  }

  /**
   * Passes over the next `length` bytes of the target, leaving them as they are (a used-only
   * image's free extents); the tap sees them as the zeros the image holds. Where O_DIRECT
   * would then be out of alignment the zeros are written instead.
   */
  async skip(length: number, zeros: (n: number) => Uint8Array): Promise<void> {
    if (length <= 0) return;
    const at = this.pos + this.fill;
    if (this.direct && (at % this.o.align !== 0 || (at + length) % this.o.align !== 0)) {
      for (let done = 0; done < length; ) {
        const z = zeros(length - done);
        await this.write(z);
        done += z.length;
      }
      return;
    }
    if (this.failure) throw this.failure;
    if (this.fill > 0) this.submit(false);
    for (let done = 0; done < length; ) {
      const z = zeros(length - done);
      const t = this.o.tap?.(z);
      if (t) {
        const p: Promise<void> = t.then(
          () => void this.skipTaps.delete(p),
          (e: unknown) => {
            this.skipTaps.delete(p);
            this.failure ??= e instanceof CloneStationError ? e : new IoError('INCOMPLETE', `${e instanceof Error ? e.message : String(e)}: target ${this.o.path} is incomplete`);
          },
        );
        this.skipTaps.add(p);
      }
      done += z.length;
    }
    this.pos += length;
    this.accepted += length;
    this.skipped += length;
  }

  /** Writes what is left, waits for every write, fdatasync; then closes. */
  async finish(): Promise<void> {
    if (this.fill > 0) this.submit(true);
    await this.drain();
    if (this.failure) throw this.failure;
    try {
      await fdatasyncAsync(this.fd);
      if (this.tailFd !== undefined) await fdatasyncAsync(this.tailFd);
    } catch (e) {
      throw this.writeFailure(e, this.pos, 'fdatasync');
    } finally {
      this.close();
    }
  }

  /** After a failure or a cancel: waits for the writes in flight, closes without syncing. */
  async abort(): Promise<void> {
    await this.drain().catch(() => undefined);
    this.close();
  }

  private async drain(): Promise<void> {
    await Promise.all(this.inFlight.map((p) => p?.catch(() => undefined)));
    await Promise.all([...this.skipTaps]);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    if (this.tailFd !== undefined) closeSync(this.tailFd);
  }

  private submit(last: boolean): void {
    const slot = this.slots[this.cur];
    if (!slot) return;
    const len = this.fill;
    const at = this.pos;
    this.pos += len;
    const i = this.cur;
    const tapped = this.o.tap?.(slot.subarray(0, len));
    this.inFlight[i] = Promise.all([this.writeSlot(slot, len, at, last), tapped]).then(
      () => undefined,
      (e: unknown) => {
        this.failure ??= e instanceof CloneStationError ? e : new IoError('INCOMPLETE', `${e instanceof Error ? e.message : String(e)}: target ${this.o.path} is incomplete`);
      },
    );
    this.cur = (this.cur + 1) % this.slots.length;
    this.fill = 0;
  }

  private async writeSlot(slot: Uint8Array, len: number, at: number, last: boolean): Promise<void> {
    // O_DIRECT takes whole aligned units: the aligned prefix goes direct, the tail of the
    // last write (an image of odd size) through the buffered twin, after it.
    const directLen = this.direct ? len - (len % this.o.align) : len;
    if (!last && directLen !== len) throw new Error('TargetWriter: a full slot is not aligned');
    await this.writeAll(this.fd, slot, 0, directLen, at);
    if (directLen < len && this.tailFd !== undefined) await this.writeAll(this.tailFd, slot, directLen, len - directLen, at + directLen);
  }

  private async writeAll(fd: number, buf: Uint8Array, off: number, len: number, at: number): Promise<void> {
    let done = 0;
    while (done < len) {
      let n: number;
      try {
        ({ bytesWritten: n } = await writeAsync(fd, buf, off + done, len - done, at + done));
      } catch (e) {
        throw this.writeFailure(e, at + done, 'write');
      }
      if (n === 0) throw this.writeFailure(Object.assign(new Error('no progress'), { code: 'ENOSPC' }), at + done, 'write');
      done += n;
      this.written += n;
    }
  }

  private writeFailure(e: unknown, at: number, op: string): CloneStationError {
    const code = isSystemCallError(e) ? e.code : undefined;
    const details = { path: this.o.path, offset: at, errno: code, op };
    if (code === 'ENOSPC')
      return new IoError('TARGET_FULL', `target ${this.o.path} is full at offset ${at} (ENOSPC): choose a larger target; it is incomplete`, details);
    if (op === 'fdatasync')
      return new IoError('WRITE_FAILED', `flushing target ${this.o.path} to the device failed (${code}): the target may be failing; its contents are not trustworthy`, details);
    return new IoError('WRITE_FAILED', `writing target ${this.o.path} failed at offset ${at} (${code ?? String(e)}): the target may be failing; choose another target`, details);
  }
}
