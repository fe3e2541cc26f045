// Backup images for restore/verify tests, written the way `clonestation backup` writes them
// (raw X.img, split X.img.001..., X.zip, split X.zip.001..., the manifest beside them, and a
// sha256sum-style hash file), so the tests do not depend on the backup command.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openPartSink } from '../../src/image/parts.js';
import { manifestPath, saveManifest, MANIFEST_FORMAT, type Manifest } from '../../src/image/manifest.js';
import { ZipImageWriter } from '../../src/image/zip/writer.js';
import { hashFileText } from '../../src/image/hash.js';

export type Kind = 'raw' | 'split' | 'zip' | 'splitzip';

export interface MadeImage {
  /** X.img or X.zip (the base name of a split set) */
  name: string;
  manifest: string;
  parts: string[];
}

function digests(data: Uint8Array): { sha256: string; md5: string } {
  return { sha256: createHash('sha256').update(data).digest('hex'), md5: createHash('md5').update(data).digest('hex') };
}

/** Writes `data` as an image of `kind` named `dir/base.img|zip`, with its manifest and hash file. */
export async function makeImage(dir: string, base: string, kind: Kind, data: Buffer, splitSize = 0): Promise<MadeImage> {
  const zip = kind === 'zip' || kind === 'splitzip';
  const split = kind === 'split' || kind === 'splitzip';
  const name = join(dir, `${base}.${zip ? 'zip' : 'img'}`);
  const sink = openPartSink(name, split ? { partSize: splitSize, hash: 'sha256', overwrite: true } : { hash: 'sha256', overwrite: true });
  let compressedSize: number | undefined;
  if (zip) {
    const w = new ZipImageWriter({ sink, entryName: `${base}.img`, level: 6, threads: 2, chunkSize: 256 * 1024 });
    await w.write(data);
    const r = await w.finish();
    compressedSize = r.compressedSize;
    return finish(name, r.parts.parts, data, 'zip', split ? splitSize : undefined, compressedSize);
  }
  await sink.write(data);
  const r = await sink.close();
  return finish(name, r.parts, data, 'raw', split ? splitSize : undefined, undefined);
}

function finish(
  name: string,
  parts: { path: string; size: number; hash?: string }[],
  data: Buffer,
  format: 'raw' | 'zip',
  splitSize: number | undefined,
  compressedSize: number | undefined,
): MadeImage {
  const hashes = digests(data);
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    tool: { name: 'clonestation', version: '0.1.0' },
    complete: true,
    startedAt: new Date().toISOString(),
    endedAt: new Date().toISOString(),
    source: { path: '/dev/test', kind: 'block', size: data.length, logicalSectorSize: 512, physicalSectorSize: 4096 },
    range: { offset: 0, length: data.length },
    image: {
      format,
      name: basename(name),
      ...(splitSize ? { splitSize } : {}),
      ...(format === 'zip' ? { entryName: basename(name).replace(/\.zip$/, '.img'), level: 6, compressedSize } : {}),
      parts: parts.map((p) => ({ name: basename(p.path), size: p.size, hashes: { sha256: p.hash ?? '' } })),
    },
    hashes,
  };
  const mPath = manifestPath(name);
  saveManifest(mPath, m);
  writeFileSync(`${name}.sha256`, hashFileText(parts.map((p) => ({ name: basename(p.path), hex: p.hash ?? '' }))));
  return { name, manifest: mPath, parts: parts.map((p) => p.path) };
}

export function editManifest(path: string, edit: (m: Manifest) => void): void {
  const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  edit(m);
  saveManifest(path, m);
}
