// A Linux swap area uses only its header page; a swap area holding a hibernation image is mapped whole.
import { formatUuid, labelText } from './ext.js';
import { FsInconsistentError, fsName, wholeMap, type MapOptions, type UsedMap } from './types.js';

const PAGE_SIZES = [4096, 8192, 16384, 65536];
const SWAP_MAGICS = ['SWAPSPACE2', 'SWAP-SPACE'];
/** Signatures hibernation (swsusp, uswsusp, TuxOnIce) writes over the swap magic. */
const HIBERNATION = ['S1SUSPEND', 'S2SUSPEND', 'ULSUSPEND', 'LINHIB0001'];

export type SwapProbe = { pageSize: number; hibernated: boolean } | null;

/** Finds the swap signature at the end of the first page, for each page size Linux uses. */
export function probeSwap(head: Buffer): SwapProbe {
  for (const pageSize of PAGE_SIZES) {
    if (head.length < pageSize) break;
    const sig = head.toString('latin1', pageSize - 10, pageSize);
    if (SWAP_MAGICS.includes(sig)) return { pageSize, hibernated: false };
    if (HIBERNATION.some((h) => sig.startsWith(h) || sig.endsWith(h))) return { pageSize, hibernated: true };
  }
  return null;
}

export function swapUsedMap(size: number, head: Buffer, probe: NonNullable<SwapProbe>, opts: MapOptions = {}): UsedMap {
  if (probe.hibernated) return wholeMap(size, 'swap holding a hibernation image: mapped whole', 'swap');
  const { pageSize } = probe;
  let version = head.readUInt32LE(1024);
  let lastPage = head.readUInt32LE(1028);
  if (version !== 1 && head.readUInt32BE(1024) === 1) {
    version = 1;
    lastPage = head.readUInt32BE(1028);
  }
  const isV1 = head.toString('latin1', pageSize - 10, pageSize) === 'SWAPSPACE2' && version === 1;
  const fsSize = isV1 ? (lastPage + 1) * pageSize : size;
  if (fsSize > size) {
    throw new FsInconsistentError(`${fsName('swap', opts.where)} says it has ${lastPage + 1} pages of ${pageSize} bytes, more than the ${size} bytes that hold it`, 'recreate it with mkswap', { lastPage, pageSize, size });
  }
  const flat = fsSize < size ? Float64Array.of(0, pageSize, fsSize, size - fsSize) : Float64Array.of(0, pageSize);
  const used = pageSize + (size - fsSize);
  const label = isV1 ? labelText(head.subarray(1052, 1068)) : '';
  return {
    fsType: 'swap',
    blockSize: pageSize,
    size,
    fsSize,
    usedBytes: used,
    extentCount: flat.length / 2,
    flat,
    label: label || undefined,
    uuid: isV1 ? formatUuid(head.subarray(1036, 1052)) : undefined,
  };
}
