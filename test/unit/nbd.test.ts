// The read-only NBD server against hand-made client streams: the handshake, reads, and every
// hostile or unsupported message answered by the protocol's rules, never a crash or a write.
import { describe, expect, it } from 'vitest';
import { NBD_MAX_REQUEST, NbdProtocolError, serveNbd, type NbdExport } from '../../src/image/nbd.js';

const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;

const u16 = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff]);
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const u64 = (v: bigint | number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
};
const option = (opt: number, data: Buffer = Buffer.alloc(0)): Buffer => Buffer.concat([u64(IHAVEOPT), u32(opt), u32(data.length), data]);
const go = (name = ''): Buffer => option(7, Buffer.concat([u32(Buffer.byteLength(name)), Buffer.from(name), u16(1), u16(3)]));
const request = (type: number, cookie: number, offset: number | bigint, length: number): Buffer =>
  Buffer.concat([u32(0x25609513), u16(0), u16(type), u64(cookie), u64(offset), u32(length)]);

/** An export of `size` bytes where byte i is i mod 251; counts the bytes it was asked for. */
function memoryExport(size: number): NbdExport & { asked: number } {
  const e = {
    size,
    asked: 0,
    readAt: async (offset: number, length: number): Promise<Uint8Array> => {
      e.asked += length;
      const b = Buffer.alloc(length);
      for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
      return b;
    },
  };
  return e;
}

/** Runs the server over `chunks` (split as given) and returns everything it wrote. */
async function converse(exp: NbdExport, chunks: Buffer[]): Promise<{ out: Buffer; error?: unknown }> {
  const written: Buffer[] = [];
  async function* input(): AsyncGenerator<Buffer> {
    for (const c of chunks) yield c;
  }
  try {
    await serveNbd(exp, input(), async (b) => void written.push(Buffer.from(b)));
    return { out: Buffer.concat(written) };
  } catch (error) {
    return { out: Buffer.concat(written), error };
  }
}

/** Reads the server's messages off `out` in order. */
class Replies {
  private at = 0;
  constructor(private readonly out: Buffer) {}
  greeting(): number {
    expect(this.out.subarray(0, 16).toString('latin1')).toBe('NBDMAGICIHAVEOPT');
    this.at = 18;
    return this.out.readUInt16BE(16);
  }
  option(): { opt: number; type: number; data: Buffer } {
    expect(this.out.readBigUInt64BE(this.at)).toBe(OPT_REPLY_MAGIC);
    const opt = this.out.readUInt32BE(this.at + 8);
    const type = this.out.readUInt32BE(this.at + 12);
    const len = this.out.readUInt32BE(this.at + 16);
    const data = this.out.subarray(this.at + 20, this.at + 20 + len);
    this.at += 20 + len;
    return { opt, type, data };
  }
  simple(dataLength = 0): { error: number; cookie: bigint; data: Buffer } {
    expect(this.out.readUInt32BE(this.at)).toBe(0x67446698);
    const error = this.out.readUInt32BE(this.at + 4);
    const cookie = this.out.readBigUInt64BE(this.at + 8);
    const n = error === 0 ? dataLength : 0;
    const data = this.out.subarray(this.at + 16, this.at + 16 + n);
    this.at += 16 + n;
    return { error, cookie, data };
  }
  rest(): number {
    return this.out.length - this.at;
  }
}

describe('the NBD server', () => {
  it('negotiates with GO, answers reads with the export\'s bytes (split across stream chunks), refuses writes and trims, ends at DISC', async () => {
    const exp = memoryExport(1 << 20);
    const stream = Buffer.concat([u32(3), option(8), go(), request(0, 11, 1000, 5000), request(1, 12, 0, 4), Buffer.from('junk'), request(4, 13, 0, 512), request(3, 14, 0, 0), request(2, 15, 0, 0)]);
    // one byte at a time: every message boundary is crossed
    const { out, error } = await converse(exp, [...stream].map((b) => Buffer.from([b])));
    expect(error).toBeUndefined();
    const r = new Replies(out);
    expect(r.greeting()).toBe(3);
    expect(r.option()).toMatchObject({ opt: 8, type: 0x80000001 });
    const info = r.option();
    expect(info).toMatchObject({ opt: 7, type: 3 });
    expect(info.data.readUInt16BE(0)).toBe(0);
    expect(Number(info.data.readBigUInt64BE(2))).toBe(1 << 20);
    expect(info.data.readUInt16BE(10) & 2).toBe(2);
    expect(r.option()).toMatchObject({ opt: 7, type: 1 });
    const read = r.simple(5000);
    expect(read).toMatchObject({ error: 0, cookie: 11n });
    expect([...read.data.subarray(0, 3)]).toEqual([1000 % 251, 1001 % 251, 1002 % 251]);
    expect(r.simple()).toMatchObject({ error: 1, cookie: 12n });
    expect(r.simple()).toMatchObject({ error: 1, cookie: 13n });
    expect(r.simple()).toMatchObject({ error: 0, cookie: 14n });
    expect(r.rest()).toBe(0);
    expect(exp.asked).toBe(5000);
  });

  it('reads past the end, of length 0 or over the limit are EINVAL without touching the export', async () => {
    const exp = memoryExport(4096);
    const { out, error } = await converse(exp, [
      Buffer.concat([u32(1), go(), request(0, 1, 4000, 200), request(0, 2, 0, 0), request(0, 3, 0, NBD_MAX_REQUEST + 1), request(0, 4, 2n ** 63n, 1), request(9, 5, 0, 1), request(0, 6, 4095, 1)]),
    ]);
    expect(error).toBeUndefined();
    const r = new Replies(out);
    r.greeting();
    r.option();
    r.option();
    for (const cookie of [1n, 2n, 3n, 4n, 5n]) expect(r.simple()).toMatchObject({ error: 22, cookie });
    expect(r.simple(1)).toMatchObject({ error: 0, cookie: 6n });
    expect(exp.asked).toBe(1);
  });

  it('EXPORT_NAME gets the size and flags with the old zeroes unless the client declined them; LIST and INFO keep haggling; ABORT ends', async () => {
    for (const flags of [1, 3]) {
      const { out } = await converse(memoryExport(8192), [Buffer.concat([u32(flags), option(3), option(6, Buffer.concat([u32(0), u16(0)])), option(1, Buffer.from('x'))])]);
      const r = new Replies(out);
      r.greeting();
      expect(r.option()).toMatchObject({ opt: 3, type: 2 });
      expect(r.option()).toMatchObject({ opt: 3, type: 1 });
      expect(r.option()).toMatchObject({ opt: 6, type: 3 });
      expect(r.option()).toMatchObject({ opt: 6, type: 1 });
      expect(r.rest()).toBe(8 + 2 + (flags === 3 ? 0 : 124));
    }
    const { out, error } = await converse(memoryExport(1), [Buffer.concat([u32(1), option(2)])]);
    expect(error).toBeUndefined();
    const r = new Replies(out);
    r.greeting();
    expect(r.option()).toMatchObject({ opt: 2, type: 1 });
  });

  it('a malformed GO is NBD_REP_ERR_INVALID and the client may try again', async () => {
    const bad = option(7, Buffer.concat([u32(1000), Buffer.from('short')]));
    const { out, error } = await converse(memoryExport(512), [Buffer.concat([u32(1), bad, go('name'), request(2, 0, 0, 0)])]);
    expect(error).toBeUndefined();
    const r = new Replies(out);
    r.greeting();
    expect(r.option()).toMatchObject({ opt: 7, type: 0x80000003 });
    expect(r.option()).toMatchObject({ opt: 7, type: 3 });
  });

  it('protocol breaks end the session with NbdProtocolError: old-style clients, bad magic, huge options, a stream cut mid-message', async () => {
    const cases: Buffer[] = [
      u32(0),
      Buffer.concat([u32(1), u64(0x1234n), u32(7), u32(0)]),
      Buffer.concat([u32(1), option(7, Buffer.alloc(0)).subarray(0, 12), u32(1 << 30)]),
      Buffer.concat([u32(1), go(), Buffer.from([0xde, 0xad, 0xbe, 0xef]), Buffer.alloc(24)]),
      Buffer.concat([u32(1), go(), request(0, 1, 0, 10).subarray(0, 20)]),
      Buffer.concat([u32(1), go(), request(1, 1, 0, 100), Buffer.alloc(10)]),
    ];
    for (const c of cases) {
      const exp = memoryExport(4096);
      const { error } = await converse(exp, [c]);
      expect(error).toBeInstanceOf(NbdProtocolError);
      expect(exp.asked).toBe(0);
    }
  });

  it('a failing read is EIO for that request only', async () => {
    const exp: NbdExport = { size: 8192, readAt: async (offset) => (offset === 0 ? Promise.reject(new Error('frame checksum')) : Buffer.alloc(512, 7)) };
    const { out, error } = await converse(exp, [Buffer.concat([u32(1), go(), request(0, 1, 0, 512), request(0, 2, 512, 512)])]);
    expect(error).toBeUndefined();
    const r = new Replies(out);
    r.greeting();
    r.option();
    r.option();
    expect(r.simple()).toMatchObject({ error: 5, cookie: 1n });
    expect(r.simple(512)).toMatchObject({ error: 0, cookie: 2n });
  });
});
