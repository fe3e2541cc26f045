// A read-only NBD server (the fixed-newstyle handshake, then simple replies) over one byte
// stream: nbdfuse runs it as its command, so a compressed image appears as a plain file a loop
// device can map, and every read decompresses only the frames it falls in. Everything the
// client sends is untrusted: lengths are bounded, unknown options and commands answered with
// the protocol's errors, writes refused (the image is never changed).

/** What the server exports: its size, and a read of any bytes inside it. */
export interface NbdExport {
  size: number;
  readAt(offset: number, length: number): Promise<Uint8Array>;
}

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;

const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;
/** transmission flags: HAS_FLAGS | READ_ONLY | SEND_FLUSH | CAN_MULTI_CONN (reads only: any connection sees the same bytes) */
const TRANSMISSION_FLAGS = 1 | 2 | 4 | (1 << 8);

const OPT = { exportName: 1, abort: 2, list: 3, info: 6, go: 7 } as const;
const REP = { ack: 1, server: 2, info: 3, errUnsup: 0x80000001, errInvalid: 0x80000003 } as const;
const CMD = { read: 0, write: 1, disc: 2, flush: 3 } as const;
const ERR = { perm: 1, io: 5, inval: 22 } as const;

/** Larger option payloads are refused: a name is at most 4 KiB, a GO adds a few info requests. */
const MAX_OPTION = 16 << 10;
/** Larger requests are refused (EINVAL): libnbd's own limit is 32 MiB, the kernel's far less. */
export const NBD_MAX_REQUEST = 32 << 20;

/** Reads exact byte counts from a stream of chunks. */
class ExactReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private readonly it: AsyncIterator<Buffer>;
  constructor(input: AsyncIterable<Buffer>) {
    this.it = input[Symbol.asyncIterator]();
  }

  /** `n` bytes, or undefined at a clean end of stream before any of them. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.have < n) {
      const r = await this.it.next();
      if (r.done) {
        if (this.have === 0) return undefined;
        throw new NbdProtocolError(`the client closed the connection in the middle of a message (${this.have} of ${n} bytes)`);
      }
      this.chunks.push(r.value);
      this.have += r.value.length;
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.have -= n;
    return out;
  }

  async must(n: number): Promise<Buffer> {
    const b = await this.read(n);
    if (!b) throw new NbdProtocolError(`the client closed the connection where ${n} more bytes were due`);
    return b;
  }
}

export class NbdProtocolError extends Error {
  readonly code = 'NBD_PROTOCOL';
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

function u64(v: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

/**
 * Serves `exp` to one client on `input`/`write` until it disconnects. Resolves when the client
 * ends the session (NBD_CMD_DISC, NBD_OPT_ABORT or the end of the stream); rejects with
 * NbdProtocolError when it breaks the protocol. Reads are answered in the order they came.
 */
export async function serveNbd(exp: NbdExport, input: AsyncIterable<Buffer>, write: (b: Uint8Array) => Promise<void>, log: (line: string) => void = () => {}): Promise<void> {
  const r = new ExactReader(input);
  await write(Buffer.concat([u64(NBDMAGIC), u64(IHAVEOPT), u16(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)]));
  const clientFlags = (await r.must(4)).readUInt32BE(0);
  if ((clientFlags & FLAG_FIXED_NEWSTYLE) === 0) throw new NbdProtocolError('the client does not speak the fixed newstyle handshake');
  const noZeroes = (clientFlags & FLAG_NO_ZEROES) !== 0;
  const reply = (option: number, type: number, data: Buffer = Buffer.alloc(0)): Promise<void> =>
    write(Buffer.concat([u64(OPT_REPLY_MAGIC), u32(option), u32(type), u32(data.length), data]));
  const exportInfo = Buffer.concat([u16(0), u64(exp.size), u16(TRANSMISSION_FLAGS)]);

  // Option haggling, until the client chooses the export (GO or EXPORT_NAME) or gives up.
  for (;;) {
    const head = await r.read(16);
    if (!head) return;
    if (head.readBigUInt64BE(0) !== IHAVEOPT) throw new NbdProtocolError('an option without the IHAVEOPT magic');
    const option = head.readUInt32BE(8);
    const length = head.readUInt32BE(12);
    if (length > MAX_OPTION) throw new NbdProtocolError(`option ${option} carries ${length} bytes, more than any option needs`);
    const data = await r.must(length);
    if (option === OPT.exportName) {
      // no reply header: the size and flags, and the zeroes of old unless the client said no
      await write(Buffer.concat([u64(exp.size), u16(TRANSMISSION_FLAGS), noZeroes ? Buffer.alloc(0) : Buffer.alloc(124)]));
      break;
    }
    if (option === OPT.abort) {
      await reply(option, REP.ack);
      return;
    }
    if (option === OPT.list) {
      await reply(option, REP.server, u32(0));
      await reply(option, REP.ack);
      continue;
    }
    if (option === OPT.go || option === OPT.info) {
      // name length, name, number of info requests, the requests: checked, then the one export
      const nameLength = data.length >= 4 ? data.readUInt32BE(0) : -1;
      const requests = nameLength >= 0 && data.length >= 6 + nameLength ? data.readUInt16BE(4 + nameLength) : -1;
      if (requests < 0 || data.length !== 6 + nameLength + 2 * requests) {
        await reply(option, REP.errInvalid);
        continue;
      }
      await reply(option, REP.info, exportInfo);
      await reply(option, REP.ack);
      if (option === OPT.go) break;
      continue;
    }
    // structured replies, meta contexts, TLS, ...: the simple protocol is enough for reads
    await reply(option, REP.errUnsup);
  }

  // Transmission: requests in, simple replies out.
  const simple = (cookie: Buffer, error: number, data?: Uint8Array): Promise<void> =>
    write(data ? Buffer.concat([u32(SIMPLE_REPLY_MAGIC), u32(error), cookie, data]) : Buffer.concat([u32(SIMPLE_REPLY_MAGIC), u32(error), cookie]));
  for (;;) {
    const req = await r.read(28);
    if (!req) return;
    if (req.readUInt32BE(0) !== REQUEST_MAGIC) throw new NbdProtocolError('a request without the request magic');
    const type = req.readUInt16BE(6);
    const cookie = Buffer.from(req.subarray(8, 16));
    const offset = req.readBigUInt64BE(16);
    const length = req.readUInt32BE(24);
    if (type === CMD.disc) return;
    if (type === CMD.write) {
      if (length > NBD_MAX_REQUEST) throw new NbdProtocolError(`a write of ${length} bytes`);
      await r.must(length);
      await simple(cookie, ERR.perm);
      continue;
    }
    if (type === CMD.flush) {
      await simple(cookie, 0);
      continue;
    }
    if (type !== CMD.read) {
      await simple(cookie, type === 4 || type === 6 ? ERR.perm : ERR.inval);
      continue;
    }
    if (length === 0 || length > NBD_MAX_REQUEST || offset + BigInt(length) > BigInt(exp.size)) {
      await simple(cookie, ERR.inval);
      continue;
    }
    let data: Uint8Array;
    try {
      data = await exp.readAt(Number(offset), length);
    } catch (e) {
      log(`read of ${length} bytes at ${offset} failed: ${e instanceof Error ? e.message : String(e)}`);
      await simple(cookie, ERR.io);
      continue;
    }
    if (data.length !== length) {
      await simple(cookie, ERR.io);
      continue;
    }
    await simple(cookie, 0, data);
  }
}
