// One shared buffer of zeros, never written: what free extents are fed to hashes and writers
// as (a used-only copy), without a buffer per extent.

/** Bytes of zeros fed at once for a free extent: one shared, never written buffer. */
export const ZERO_CHUNK = 16 << 20;
let zeros: Uint8Array | undefined;

/** A view of at most ZERO_CHUNK zero bytes in shared memory (a HashThread reads it in place; nobody writes it). */
export function zeroBytes(length: number): Uint8Array {
  zeros ??= new Uint8Array(new SharedArrayBuffer(ZERO_CHUNK));
  return zeros.subarray(0, Math.min(length, ZERO_CHUNK));
}

/** Calls `feed` with views of zeros adding up to `length` bytes (each at most ZERO_CHUNK). */
export function feedZeros(length: number, feed: (z: Uint8Array, done: number) => void | Promise<void>): Promise<void>[] {
  const out: Promise<void>[] = [];
  for (let done = 0; done < length; ) {
    const z = zeroBytes(length - done);
    const r = feed(z, done);
    if (r) out.push(r);
    done += z.length;
  }
  return out;
}
