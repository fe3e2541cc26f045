// Malformed and hostile manifests, as data: each is a mutation of a good manifest (a path
// into it and the value to put there, or DELETE), the field the refusal must name, and the
// code. Shared by the schema's unit test and the CLI test (restore and verify).
import type { Manifest } from '../../src/image/manifest.js';

export const DELETE = Symbol('delete');

export interface BadManifest {
  label: string;
  /** dotted path with [n] indexes; '' replaces the whole document */
  at: string;
  value: unknown;
  /** the field the message must name (a regex source) */
  field: string;
  code: string;
}

const c = 'IMAGE_CORRUPT';

export const BAD_MANIFESTS: BadManifest[] = [
  { label: 'null', at: '', value: null, field: 'the document must be a JSON object', code: c },
  { label: 'a list', at: '', value: [], field: 'the document must be a JSON object', code: c },
  { label: 'a string', at: '', value: 'clonestation-image/1', field: 'the document must be a JSON object', code: c },
  { label: 'a number', at: '', value: 42, field: 'the document must be a JSON object', code: c },
  { label: 'another format', at: 'format', value: 'clonestation-image/2', field: 'format', code: c },
  { label: 'no format', at: 'format', value: DELETE, field: 'format is missing', code: c },
  { label: 'complete as a string', at: 'complete', value: 'yes', field: 'complete', code: c },
  { label: 'complete null', at: 'complete', value: null, field: 'complete', code: c },
  { label: 'no tool', at: 'tool', value: DELETE, field: 'tool is missing', code: c },
  { label: 'another tool', at: 'tool.name', value: 'partclone', field: 'tool.name', code: c },
  { label: 'startedAt not a date', at: 'startedAt', value: 'yesterday', field: 'startedAt', code: c },
  { label: 'startedAt an impossible date', at: 'startedAt', value: '2026-13-45T99:00:00.000Z', field: 'startedAt', code: c },
  { label: 'range null', at: 'range', value: null, field: 'range', code: c },
  { label: 'range.offset negative', at: 'range.offset', value: -4096, field: 'range\\.offset must be a non-negative integer', code: c },
  { label: 'range.offset fractional', at: 'range.offset', value: 1.5, field: 'range\\.offset', code: c },
  { label: 'range.offset a string', at: 'range.offset', value: '0', field: 'range\\.offset', code: c },
  { label: 'range.length unsafe', at: 'range.length', value: 2 ** 60, field: 'range\\.length', code: c },
  { label: 'range.length missing', at: 'range.length', value: DELETE, field: 'range\\.length is missing', code: c },
  { label: 'range past the source', at: 'source.size', value: 4096, field: "range must be within the source's 4096 bytes", code: c },
  { label: 'source.kind unknown', at: 'source.kind', value: 'nbd', field: 'source\\.kind', code: c },
  { label: 'source.size negative', at: 'source.size', value: -1, field: 'source\\.size', code: c },
  { label: 'sector size zero', at: 'source.logicalSectorSize', value: 0, field: 'source\\.logicalSectorSize', code: c },
  { label: 'image null', at: 'image', value: null, field: 'image must be a JSON object', code: c },
  { label: 'image.format tar', at: 'image.format', value: 'tar', field: 'image\\.format must be one of "raw", "zip"', code: c },
  { label: 'image.format missing', at: 'image.format', value: DELETE, field: 'image\\.format is missing', code: c },
  { label: 'image.format zip on a raw name', at: 'image.format', value: 'zip', field: 'image\\.name', code: c },
  { label: 'image.name a path', at: 'image.name', value: '../x.img', field: 'image\\.name must be a plain file name', code: c },
  { label: 'image.name absolute', at: 'image.name', value: '/tmp/x.img', field: 'image\\.name', code: c },
  { label: 'parts not a list', at: 'image.parts', value: {}, field: 'image\\.parts must be a list', code: c },
  { label: 'parts empty though complete', at: 'image.parts', value: [], field: 'image\\.parts', code: c },
  { label: 'part ../victim', at: 'image.parts[0].name', value: '../victim', field: 'image\\.parts\\[0\\]\\.name must be a plain file name', code: c },
  { label: 'part /etc/passwd', at: 'image.parts[0].name', value: '/etc/passwd', field: 'image\\.parts\\[0\\]\\.name', code: c },
  { label: 'part .', at: 'image.parts[0].name', value: '.', field: 'image\\.parts\\[0\\]\\.name', code: c },
  { label: 'part ..', at: 'image.parts[0].name', value: '..', field: 'image\\.parts\\[0\\]\\.name', code: c },
  { label: 'part empty name', at: 'image.parts[0].name', value: '', field: 'image\\.parts\\[0\\]\\.name', code: c },
  { label: 'part name with NUL', at: 'image.parts[0].name', value: 'a\u0000b.img', field: 'image\\.parts\\[0\\]\\.name', code: c },
  { label: 'part name with a newline', at: 'image.parts[0].name', value: 'a\nb.img', field: 'image\\.parts\\[0\\]\\.name', code: c },
  { label: 'part name too long', at: 'image.parts[0].name', value: `${'x'.repeat(300)}.img`, field: 'image\\.parts\\[0\\]\\.name', code: c },
  { label: 'part of another image', at: 'image.parts[0].name', value: 'other.img', field: 'image\\.parts\\[0\\]\\.name must be "r\\.img"', code: c },
  { label: 'part size negative', at: 'image.parts[0].size', value: -1, field: 'image\\.parts\\[0\\]\\.size', code: c },
  { label: 'parts do not hold the range', at: 'image.parts[0].size', value: 4096, field: 'image\\.parts must be files holding range\\.length', code: c },
  { label: 'part hash not hex', at: 'image.parts[0].hashes.sha256', value: 'z'.repeat(64), field: 'image\\.parts\\[0\\]\\.hashes\\.sha256', code: c },
  { label: 'splitSize zero', at: 'image.splitSize', value: 0, field: 'image\\.splitSize', code: c },
  { label: 'level 10', at: 'image.level', value: 10, field: 'image\\.level', code: c },
  { label: 'entryName a number', at: 'image.entryName', value: 5, field: 'image\\.entryName', code: c },
  { label: 'hashes null', at: 'hashes', value: null, field: 'hashes must be a JSON object|hashes must be an object', code: c },
  { label: 'unknown hash algorithm', at: 'hashes.sha999', value: '00', field: 'hashes\\.sha999 is not known', code: c },
  { label: 'a hash key with a newline', at: 'hashes.a\nb', value: '00', field: 'hashes\\."a\\\\nb" is not known', code: c },
  { label: 'sha256 of the wrong length', at: 'hashes.sha256', value: 'abcd', field: 'hashes\\.sha256 must be 64 hex digits', code: c },
  { label: 'rescue map ../victim', at: 'rescue', value: { map: '../victim', badBytes: 0, badAreas: 0, fill: '0x00', unreadable: [] }, field: 'rescue\\.map', code: c },
  { label: 'unreadable past the image', at: 'rescue', value: { map: 'r.img.map', badBytes: 512, badAreas: 1, fill: '0x00', unreadable: [{ offset: 1 << 30, length: 512 }] }, field: 'rescue\\.unreadable\\[0\\]', code: c },
  { label: 'a reason of two lines', at: 'incompleteReason', value: 'killed\nclonestation: fake [OK]', field: 'incompleteReason must be one line of text', code: c },
  { label: 'a model with an escape sequence', at: 'source.model', value: 'disk\u001b[2J', field: 'source\\.model', code: c },
  { label: 'seconds negative', at: 'seconds', value: -3, field: 'seconds', code: c },
  { label: 'writer pid zero', at: 'writer', value: { host: 'h', pid: 0, since: '1' }, field: 'writer\\.pid', code: c },
];

/** `good` with one mutation applied (a deep copy; `good` is not changed). */
export function mutate(good: Manifest, bad: BadManifest): unknown {
  if (bad.at === '') return bad.value;
  const doc = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
  const keys = bad.at.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== '');
  let cur: Record<string, unknown> = doc;
  for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  const last = keys[keys.length - 1] ?? '';
  if (bad.value === DELETE) delete cur[last];
  else cur[last] = bad.value;
  return doc;
}
