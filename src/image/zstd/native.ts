// The typed face of the engine's zstd pool (native/zstd.cc): frames compressed and
// decompressed on native threads, one ZSTD_CCtx/ZSTD_DCtx per thread.
import { engine } from '../../native.js';
import { UsageError } from '../../errors.js';

export interface NativeZstdPool {
  /** one frame (content size and checksum in it) of `input` into `output`: bytes written */
  compress(input: Uint8Array, output: Uint8Array, level: number): Promise<number>;
  /** exactly one frame, into at most output.length bytes: bytes produced (rejects with code ZSTD_FAILED) */
  decompress(input: Uint8Array, output: Uint8Array): Promise<number>;
  /** stops the threads (after the tasks queued so far) */
  close(): void;
}

interface ZstdAddon {
  ZstdPool: new (threads: number) => NativeZstdPool;
  zstdInfo: { version: string; minLevel: number; maxLevel: number; compressBound(n: number): number };
}

/** The engine's zstd part, or the refusal a build without libzstd's headers gives (binding.gyp). */
function addon(): ZstdAddon {
  const a = engine as unknown as Partial<ZstdAddon>;
  if (!a.ZstdPool || !a.zstdInfo)
    throw new UsageError('this build of clonestation has no zstd: install libzstd-dev (apt-get install libzstd-dev, or bash scripts/system-deps.sh) and run npm rebuild', 'ZSTD_UNAVAILABLE');
  return a as ZstdAddon;
}

export function createZstdPool(threads: number): NativeZstdPool {
  return new (addon().ZstdPool)(Math.max(1, Math.floor(threads)));
}

/** The largest frame zstd can make of `n` bytes. */
export function compressBound(n: number): number {
  return addon().zstdInfo.compressBound(n);
}

/** The linked libzstd's version (for the manifest and the report). */
export function zstdVersion(): string {
  return addon().zstdInfo.version;
}
