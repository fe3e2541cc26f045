// backup, restore and verify: OUT names, options, hostile manifests (schema, paths out of the
// folder), damaged archives and split sets, and targets that are the image's own files.
import type { BadInputCase, Json, Step } from '../../helpers/bad-input.js';

const MiB = 1024 * 1024;
/** The raw template's manifest, edited. */
const raw = (edit: (m: Json) => Json): Step[] => [{ image: 'raw' }, { json: 'b.img.manifest.json', edit }];
const zip = (edit: (m: Json) => Json): Step[] => [{ image: 'zip' }, { json: 'z.zip.manifest.json', edit }];
const set = (path: string, value: unknown) => (m: Json): Json => {
  const keys = path.split('.');
  let o = m;
  for (const k of keys.slice(0, -1)) o = o[k];
  if (value === undefined) delete o[keys[keys.length - 1]];
  else o[keys[keys.length - 1]] = value;
  return m;
};
/** An empty ZIP archive: only the end-of-central-directory record. */
const emptyZip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x05, 0x06]), Buffer.alloc(18)]);

/** Manifests that are not valid manifests: IMAGE_CORRUPT (exit 2) for restore and verify. */
const badManifests: [string, Step[], string[]?][] = [
  ['null', raw(() => null)],
  ['an array', raw(() => [])],
  ['a number', raw(() => 42)],
  ['not JSON', [{ image: 'raw' }, { text: 'b.img.manifest.json', content: '{"format": "clonestation-image/1", ' }]],
  ['an empty file', [{ image: 'raw' }, { text: 'b.img.manifest.json', content: '' }]],
  ['an unknown manifest format', raw(set('format', 'clonestation-image/9'))],
  ['an unknown image format (tar)', raw(set('image.format', 'tar'))],
  ['a zip image claiming to be raw', zip(set('image.format', 'raw'))],
  ['a raw image claiming to be a zip', raw(set('image.format', 'zip')), ['IMAGE_CORRUPT', 'IMAGE_TRUNCATED']],
  ['"parts" an object', raw(set('image.parts', { name: 'b.img' }))],
  ['"parts" empty', raw(set('image.parts', []))],
  ['a part that is null', raw(set('image.parts', [null]))],
  ['a part size that is a string', raw(set('image.parts.0.size', '1048576'))],
  ['a part size that is negative', raw(set('image.parts.0.size', -1))],
  ['a part size that is fractional', raw(set('image.parts.0.size', 1048575.5))],
  ['a part name that is a number', raw(set('image.parts.0.name', 7))],
  ['a part name that is empty', raw(set('image.parts.0.name', ''))],
  ['a part name outside the folder (../victim)', [{ text: 'victim', content: 'precious\n' }, { dir: 'img' }, { image: 'raw', into: 'img' }, { json: 'img/b.img.manifest.json', edit: set('image.parts.0.name', '../victim') }], ['IMAGE_CORRUPT', 'IMAGE_PART_MISSING']],
  ['a part name that is an absolute path', raw(set('image.parts.0.name', '/etc/hostname')), ['IMAGE_CORRUPT', 'IMAGE_PART_MISSING']],
  ['"range" missing', raw(set('range', undefined))],
  ['"range.offset" negative', raw(set('range.offset', -4096))],
  ['"range.offset" a string', raw(set('range.offset', '0'))],
  ['"range.length" not the parts\' total', raw(set('range.length', 4096))],
  ['"range.length" negative', raw(set('range.length', -1))],
  ['"source" null', raw(set('source', null))],
  ['"source.size" a string', raw(set('source.size', 'big'))],
  ['"complete" a string', raw(set('complete', 'yes'))],
  ['"hashes" a string', raw(set('hashes', 'sha256'))],
  ['a sha256 of the wrong length', raw(set('hashes.sha256', 'abcd'))],
  ['a sha256 that is not hex', raw(set('hashes.sha256', 'z'.repeat(64)))],
  ['a part md5 that is not hex', raw(set('image.parts.0.hashes.md5', 'g'.repeat(32)))],
  ['a hash that is a number', raw(set('hashes.md5', 12345))],
  ['a zip whose "entryName" is a number', zip(set('image.entryName', 1))],
];

/** The image argument for a manifest case: the zip, the raw image, or the raw image in img/. */
const imageArg = (steps: Step[]): string => (steps.some((s) => 'image' in s && s.image === 'zip') ? 'z.zip' : steps.some((s) => 'into' in s) ? 'img/b.img' : 'b.img');
/** The manifest cases verify runs by default (all of them run for restore; BAD_INPUT_ALL=1 runs all for verify too). */
const verifyManifests = new Set(['null', 'not JSON', 'an unknown image format (tar)', 'a part that is null', 'a part name outside the folder (../victim)', '"range.offset" negative', 'a sha256 that is not hex', '"complete" a string']);

/** Damaged images and sets: [what, setup, image argument, codes]. */
const damaged: [string, Step[], string, string[]][] = [
  ['a split set with a missing middle part', [{ image: 'split' }, { remove: 's.img.002' }], 's.img', ['IMAGE_PART_MISSING']],
  ['a split set with a missing last part', [{ image: 'split' }, { remove: 's.img.004' }], 's.img.manifest.json', ['IMAGE_PART_MISSING']],
  ['a split set with a part cut short', [{ image: 'split' }, { truncate: 's.img.003', size: 4096 }], 's.img.001', ['IMAGE_CORRUPT']],
  ['a split set with two parts swapped in size', [{ image: 'split' }, { truncate: 's.img.002', size: 126976 }], 's.img', ['IMAGE_CORRUPT']],
  ['a split zip with a missing part', [{ image: 'splitzip' }, { remove: 'sz.zip.003' }], 'sz.zip', ['IMAGE_PART_MISSING']],
  ['a split zip without its manifest and a missing last part', [{ image: 'splitzip' }, { remove: 'sz.zip.manifest.json' }, { remove: 'sz.zip.004' }], 'sz.zip.001', ['IMAGE_PART_MISSING', 'IMAGE_TRUNCATED']],
  ['a raw image cut short', [{ image: 'raw' }, { truncate: 'b.img', size: 512 * 1024 }], 'b.img', ['IMAGE_CORRUPT']],
  ['a raw image whose file is missing', [{ image: 'raw' }, { remove: 'b.img' }], 'b.img.manifest.json', ['IMAGE_PART_MISSING', 'IMAGE_NOT_FOUND']],
  ['a truncated zip (manifest present)', [{ image: 'zip' }, { truncate: 'z.zip', size: 400 * 1024 }], 'z.zip', ['IMAGE_CORRUPT', 'IMAGE_TRUNCATED']],
  ['a truncated zip (no manifest)', [{ image: 'zip' }, { remove: 'z.zip.manifest.json' }, { truncate: 'z.zip', size: 400 * 1024 }], 'z.zip', ['IMAGE_TRUNCATED', 'IMAGE_CORRUPT']],
  ['a zip cut inside its central directory (no manifest)', [{ image: 'zip' }, { remove: 'z.zip.manifest.json' }, { truncate: 'z.zip', size: 1048576 + 100 }], 'z.zip', ['IMAGE_TRUNCATED', 'IMAGE_CORRUPT']],
  ['a zip with no file entry (manifest sized to it)', [{ image: 'zip' }, { text: 'z.zip', content: emptyZip }, { json: 'z.zip.manifest.json', edit: (m: Json) => { m.image.parts[0].size = 22; m.image.parts[0].hashes = {}; return m; } }], 'z.zip', ['IMAGE_CORRUPT']],
  ['a zip with no file entry (no manifest)', [{ image: 'zip' }, { remove: 'z.zip.manifest.json' }, { text: 'z.zip', content: emptyZip }], 'z.zip', ['IMAGE_CORRUPT']],
  ['a .zip that is not a zip (no manifest)', [{ file: 'n.zip', size: 64 * 1024 }], 'n.zip', ['IMAGE_CORRUPT', 'IMAGE_TRUNCATED']],
  ['an incomplete backup (complete: false)', raw(set('complete', false)), 'b.img', ['IMAGE_INCOMPLETE']],
  ['an interrupted backup (.partial files only)', [{ image: 'raw' }, { copy: 'b.img', to: 'b.img.partial' }, { remove: 'b.img' }, { json: 'b.img.manifest.json', edit: set('complete', false) }], 'b.img', ['IMAGE_INCOMPLETE', 'IMAGE_PART_MISSING']],
];

/** Image arguments that are not images. */
const notImages: [string, Step[], string, string[]][] = [
  ['does not exist', [], 'none.img', ['IMAGE_NOT_FOUND', 'NOT_FOUND']],
  ['is a directory', [{ dir: 'i.img' }], 'i.img', ['IMAGE_NOT_FOUND', 'BAD_PATH', 'BAD_TARGET', 'USAGE', 'IMAGE_CORRUPT']],
  ['is a FIFO (must not hang)', [{ fifo: 'i.img' }], 'i.img', ['IMAGE_NOT_FOUND', 'BAD_PATH', 'BAD_TARGET', 'USAGE', 'IMAGE_CORRUPT']],
  ['is /dev/zero', [], '/dev/zero', ['IMAGE_NOT_FOUND', 'BAD_PATH', 'BAD_TARGET', 'USAGE', 'IMAGE_CORRUPT']],
  ['is an empty path', [], '', ['IMAGE_NOT_FOUND', 'NOT_FOUND', 'USAGE', 'BAD_PATH', 'BAD_OUTPUT']],
  ['is a manifest that is a FIFO (must not hang)', [{ fifo: 'f.img.manifest.json' }], 'f.img.manifest.json', ['IMAGE_CORRUPT', 'IMAGE_NOT_FOUND', 'BAD_PATH', 'USAGE']],
];

export const backupCases: BadInputCase[] = [
  { name: 'backup: no arguments', args: ['backup'], status: 2, code: 'USAGE' },
  { name: 'backup: no OUT', args: ['backup', 'src.img'], status: 2, code: 'USAGE' },
  { name: 'backup: one argument too many', args: ['backup', 'src.img', 'o.img', 'x.img'], status: 2, code: 'USAGE' },
  { name: 'backup: OUT without an extension', args: ['backup', 'src.img', 'out'], status: 2, code: 'USAGE' },
  { name: 'backup: OUT .tar', args: ['backup', 'src.img', 'out.tar'], status: 2, code: 'USAGE' },
  { name: 'backup: an empty source (a reader without a card, a detached loop) makes no image', setup: [{ file: 'e.img', size: 0 }], args: ['backup', 'e.img', 'out.img', '--hash', 'sha256'], status: 2, code: 'RANGE', from: 'own' },
  { name: 'backup: --length 0', args: ['backup', 'src.img', 'out.zip', '--length', '0'], status: 2, code: 'RANGE', from: 'own' },
  { name: 'backup: OUT with an unknown field', args: ['backup', 'src.img', '{bogus}.img'], status: 2, code: 'USAGE' },
  { name: 'backup: OUT in a missing folder', args: ['backup', 'src.img', 'nope/o.img'], status: 2, code: 'NOT_FOUND' },
  { name: 'backup: OUT empty', args: ['backup', 'src.img', ''], status: 2, codes: ['USAGE', 'BAD_PATH', 'BAD_OUTPUT', 'NOT_FOUND'], from: '7' },
  { name: 'backup: OUT with a trailing slash', args: ['backup', 'src.img', 'o.img/'], status: 2, codes: ['USAGE', 'BAD_PATH', 'BAD_OUTPUT', 'NOT_FOUND'], from: '7' },
  { name: 'backup: OUT name too long', args: ['backup', 'src.img', `${'o'.repeat(300)}.img`], status: 2, codes: ['USAGE', 'BAD_PATH', 'BAD_OUTPUT'], from: '7' },
  { name: 'backup: OUT through a file (src.img/o.img)', args: ['backup', 'dst.img', 'src.img/o.img'], status: 2, codes: ['NOT_FOUND', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE'] },
  { name: 'backup: OUT exists', setup: [{ image: 'raw' }], args: ['backup', 'src.img', 'b.img'], status: 4, code: 'OUTPUT_EXISTS' },
  { name: 'backup: OUT exists as a split set', setup: [{ image: 'split' }], args: ['backup', 'src.img', 's.img', '--split', '300KiB'], status: 4, code: 'OUTPUT_EXISTS' },
  { name: 'backup: OUT is the source', args: ['backup', 'src.img', 'src.img'], status: 4, codes: ['SAME_DRIVE', 'OUTPUT_EXISTS'] },
  { name: 'backup: OUT is the source, with --force', args: ['backup', 'src.img', './src.img', '--force'], status: 4, code: 'SAME_DRIVE' },
  { name: 'backup: OUT is a directory, with --force', setup: [{ dir: 'o.img' }, { text: 'o.img/keep', content: 'keep me\n' }], args: ['backup', 'src.img', 'o.img', '--force'], status: 2, codes: ['BAD_PATH', 'BAD_OUTPUT', 'USAGE', 'BAD_TARGET'], from: '7' },
  { name: 'backup: OUT is a FIFO, with --force (must not hang)', setup: [{ fifo: 'o.img' }], args: ['backup', 'src.img', 'o.img', '--force'], status: 2, codes: ['BAD_PATH', 'BAD_OUTPUT', 'USAGE', 'BAD_TARGET'], from: '7' },
  { name: 'backup: source does not exist', args: ['backup', 'none.img', 'o.img'], status: 2, code: 'NOT_FOUND' },
  { name: 'backup: source is a directory', setup: [{ dir: 'd' }], args: ['backup', 'd', 'o.img'], status: 2, codes: ['BAD_TARGET', 'BAD_SOURCE', 'USAGE'] },
  { name: 'backup: source is a FIFO (must not hang)', setup: [{ fifo: 'f' }], args: ['backup', 'f', 'o.img'], status: 2, codes: ['BAD_TARGET', 'BAD_SOURCE', 'USAGE'] },
  { name: 'backup: source is /dev/zero (must not read forever)', args: ['backup', '/dev/zero', 'o.img'], status: 2, codes: ['BAD_TARGET', 'BAD_SOURCE', 'USAGE'] },
  { name: 'backup: --split 100', args: ['backup', 'src.img', 'o.img', '--split', '100'], status: 2, code: 'BAD_SIZE' },
  { name: 'backup: --split 5000 (not a multiple of 512)', args: ['backup', 'src.img', 'o.img', '--split', '5000'], status: 2, code: 'BAD_SIZE' },
  { name: 'backup: --split= (empty)', args: ['backup', 'src.img', 'o.img', '--split='], status: 2, codes: ['BAD_SIZE', 'USAGE'], from: '10' },
  { name: 'backup: --split -1MiB', args: ['backup', 'src.img', 'o.img', '--split=-1MiB'], status: 2, code: 'BAD_SIZE' },
  { name: 'backup: --level 10', args: ['backup', 'src.img', 'o.zip', '--level', '10'], status: 2, code: 'BAD_NUMBER' },
  { name: 'backup: --level=-1', args: ['backup', 'src.img', 'o.zip', '--level=-1'], status: 2, code: 'BAD_NUMBER' },
  { name: 'backup: --level= (empty)', args: ['backup', 'src.img', 'o.zip', '--level='], status: 2, codes: ['BAD_NUMBER', 'USAGE'], from: '10' },
  { name: 'backup: --hash sha256, (empty name)', args: ['backup', 'src.img', 'o.img', '--hash', 'sha256,'], status: 2, code: 'USAGE', from: '10' },
  { name: 'backup: --hash md4 (unknown)', args: ['backup', 'src.img', 'o.img', '--hash', 'md4'], status: 2, code: 'USAGE' },
  { name: 'backup: --hash= (empty)', args: ['backup', 'src.img', 'o.img', '--hash='], status: 2, code: 'USAGE', from: '10' },
  { name: 'backup: --keep 0', args: ['backup', 'src.img', 'o.img', '--keep', '0'], status: 2, code: 'BAD_NUMBER' },
  { name: 'backup: --keep many', args: ['backup', 'src.img', 'o.img', '--keep', 'many'], status: 2, code: 'BAD_NUMBER' },
  { name: 'backup: --keep= (empty)', args: ['backup', 'src.img', 'o.img', '--keep='], status: 2, codes: ['BAD_NUMBER', 'USAGE'], from: '10' },
  { name: 'backup: --split with --rescue', args: ['backup', 'src.img', 'o.img', '--split', '300KiB', '--rescue'], status: 2, code: 'USAGE' },
  { name: 'backup: --rescue into a zip', args: ['backup', 'src.img', 'o.zip', '--rescue'], status: 2, code: 'USAGE' },
  { name: 'backup: --offset past the end', args: ['backup', 'src.img', 'o.img', '--offset', '2MiB'], status: 2, code: 'RANGE' },
  { name: 'backup: --offset + --length past the end', args: ['backup', 'src.img', 'o.img', '--offset', '1020KiB', '--length', '8KiB'], status: 2, code: 'RANGE' },
  { name: 'backup: --length abc', args: ['backup', 'src.img', 'o.img', '--length', 'abc'], status: 2, code: 'BAD_SIZE' },
  { name: 'backup: --block-size 1000', args: ['backup', 'src.img', 'o.img', '--block-size', '1000'], status: 2, code: 'BAD_SIZE' },
  { name: 'backup: --block-size= (empty)', args: ['backup', 'src.img', 'o.img', '--block-size='], status: 2, codes: ['BAD_SIZE', 'USAGE'], from: '10' },
  { name: 'backup: --depth 0', args: ['backup', 'src.img', 'o.img', '--depth', '0'], status: 2, code: 'BAD_NUMBER' },
  { name: 'backup: --backend nope', args: ['backup', 'src.img', 'o.img', '--backend', 'nope'], status: 2, code: 'USAGE' },
  { name: 'backup: near-miss --splt', args: ['backup', 'src.img', 'o.img', '--splt', '1MiB'], status: 2, code: 'USAGE' },
  { name: 'backup: --target-offset is not a backup option', args: ['backup', 'src.img', 'o.img', '--target-offset', '0'], status: 2, code: 'USAGE' },
  { name: 'backup --rescue: the map is a /dev/null node', setup: [{ node: 'null', like: '/dev/null' }], args: ['backup', 'src.img', 'o.img', '--map', 'null'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'backup --rescue: the map is a FIFO (must not hang)', setup: [{ fifo: 'm.fifo' }], args: ['backup', 'src.img', 'o.img', '--map', 'm.fifo'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'backup --rescue: the map is a directory', setup: [{ dir: 'm.d' }], args: ['backup', 'src.img', 'o.img', '--map', 'm.d'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'backup --rescue: the map is garbage', setup: [{ text: 'm.map', content: 'garbage\n' }], args: ['backup', 'src.img', 'o.img', '--map', 'm.map'], status: 2, code: 'BAD_MAP' },
  { name: 'backup --rescue: the map is the source', args: ['backup', 'src.img', 'o.img', '--map', 'src.img'], status: 2, codes: ['BAD_MAP', 'USAGE'] },
  // --keep with hostile manifests in the folder: the backup may succeed, but nothing outside the folder is deleted
  {
    name: 'backup --keep 1: a manifest in the folder lists ../victim as a part',
    setup: [{ text: 'victim', content: 'precious\n' }, { dir: 'bk' }, { image: 'raw', into: 'bk' }, { json: 'bk/b.img.manifest.json', edit: (m: Json) => { m.startedAt = '2000-01-01T00:00:00.000Z'; m.image.parts[0].name = '../victim'; return m; } }],
    args: ['backup', 'src.img', 'bk/new.img', '--keep', '1'],
    status: 0,
    outputs: ['bk/*'],
    from: '5',
  },
  {
    name: 'backup --keep 1: a manifest in the folder lists ../victim as its map',
    setup: [{ text: 'victim', content: 'precious\n' }, { dir: 'bk' }, { image: 'raw', into: 'bk' }, { json: 'bk/b.img.manifest.json', edit: (m: Json) => { m.startedAt = '2000-01-01T00:00:00.000Z'; m.rescue = { map: '../victim', badBytes: 0, badAreas: 0, fill: '0x00', unreadable: [] }; return m; } }],
    args: ['backup', 'src.img', 'bk/new.img', '--keep', '1'],
    status: 0,
    outputs: ['bk/*'],
    from: '5',
  },
  {
    name: 'backup --keep 1: a manifest in the folder names its image ../victim (hash files ../victim.sha256)',
    setup: [{ text: 'victim', content: 'precious\n' }, { text: 'victim.sha256', content: 'precious too\n' }, { dir: 'bk' }, { image: 'raw', into: 'bk' }, { json: 'bk/b.img.manifest.json', edit: (m: Json) => { m.startedAt = '2000-01-01T00:00:00.000Z'; m.image.name = '../victim'; return m; } }],
    args: ['backup', 'src.img', 'bk/new.img', '--keep', '1'],
    status: 0,
    outputs: ['bk/*'],
    from: '5',
  },
  {
    name: 'backup --keep 1: a manifest in the folder lists an absolute path',
    setup: [{ text: 'victim', content: 'precious\n' }, { dir: 'bk' }, { image: 'raw', into: 'bk' }, { json: 'bk/b.img.manifest.json', edit: (m: Json) => { m.startedAt = '2000-01-01T00:00:00.000Z'; m.image.parts[0].name = '%dir%/victim'; return m; } }],
    args: ['backup', 'src.img', 'bk/new.img', '--keep', '1'],
    status: 0,
    outputs: ['bk/*'],
    from: '5',
  },
];

export const restoreCases: BadInputCase[] = [
  { name: 'restore: no arguments', args: ['restore'], status: 2, code: 'USAGE' },
  { name: 'restore: no TARGET', setup: [{ image: 'raw' }], args: ['restore', 'b.img'], status: 2, code: 'USAGE' },
  { name: 'restore: one argument too many', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', 'x.img'], status: 2, code: 'USAGE' },
  { name: 'restore: near-miss --no-chek', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--no-chek', '--yes'], status: 2, code: 'USAGE' },
  { name: 'restore: --force=yes', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--force=yes', '--yes'], status: 2, code: 'USAGE' },
  { name: 'restore: --offset past the end of the image', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--offset', '2MiB', '--yes'], status: 2, code: 'RANGE' },
  { name: 'restore: --offset + --length past the end', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--offset', '512KiB', '--length', '1MiB', '--yes'], status: 2, code: 'RANGE' },
  { name: 'restore: --offset 1.5', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--offset', '1.5', '--yes'], status: 2, code: 'BAD_SIZE' },
  { name: 'restore: --length= (empty)', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--length=', '--yes'], status: 2, codes: ['BAD_SIZE', 'USAGE'], from: '10' },
  { name: 'restore: --target-offset garbage', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--target-offset', '12Q', '--yes'], status: 2, code: 'BAD_SIZE' },
  { name: 'restore: --hash sha256, (empty name)', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--hash', 'sha256,', '--yes'], status: 2, code: 'USAGE', from: '10' },
  { name: 'restore: --block-size 1000', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--block-size', '1000', '--yes'], status: 2, code: 'BAD_SIZE' },
  { name: 'restore: --block-size= (empty)', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--block-size=', '--yes'], status: 2, codes: ['BAD_SIZE', 'USAGE'], from: '10' },
  { name: 'restore: --depth 0', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--depth', '0', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { name: 'restore: --backend nope', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--backend', 'nope', '--yes'], status: 2, code: 'USAGE' },
  { name: 'restore: target is a directory', setup: [{ image: 'raw' }, { dir: 'd' }], args: ['restore', 'b.img', 'd', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE'] },
  { name: 'restore: target is a FIFO (must not hang)', setup: [{ image: 'raw' }, { fifo: 'f' }], args: ['restore', 'b.img', 'f', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE'] },
  { name: 'restore: target is a /dev/null node', setup: [{ image: 'raw' }, { node: 'null', like: '/dev/null' }], args: ['restore', 'b.img', 'null', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE'] },
  { name: 'restore: target under /dev that does not exist', setup: [{ image: 'raw' }], args: ['restore', 'b.img', '/dev/cs-no-such-drive', '--yes'], status: 2, code: 'NOT_FOUND', victims: ['/dev/cs-no-such-drive'] },
  { name: 'restore: target in a missing folder', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'nope/t.img', '--yes'], status: 2, code: 'NOT_FOUND' },
  { name: 'restore: empty target', setup: [{ image: 'raw' }], args: ['restore', 'b.img', '', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE', 'NOT_FOUND'], from: '7' },
  { name: 'restore: target with a trailing slash', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 't.img/', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE', 'NOT_FOUND'], from: '7' },
  { name: 'restore: target name too long', setup: [{ image: 'raw' }], args: ['restore', 'b.img', `${'t'.repeat(300)}.img`, '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE'], from: '7' },
  { name: 'restore: target is the image itself', setup: [{ image: 'raw' }], args: ['restore', 'b.img', './b.img', '--yes'], status: 4, code: 'SAME_DRIVE' },
  { name: 'restore: target is a part of the split image', setup: [{ image: 'split' }], args: ['restore', 's.img', 's.img.003', '--yes'], status: 4, code: 'SAME_DRIVE' },
  { name: 'restore: target is the image\'s manifest', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'b.img.manifest.json', '--yes'], status: 4, codes: ['SAME_DRIVE'] },
  { name: 'restore: target is a symlink to the image', setup: [{ image: 'zip' }, { symlink: 't.img', to: 'z.zip' }], args: ['restore', 'z.zip', 't.img', '--yes'], status: 4, code: 'SAME_DRIVE' },
  { name: 'restore: target is a hard link of the image', setup: [{ image: 'raw' }, { hardlink: 't.img', to: 'b.img' }], args: ['restore', 'b.img', 't.img', '--yes'], status: 4, code: 'SAME_DRIVE' },
  { name: 'restore onto a larger file keeps the rest', setup: [{ image: 'raw' }, { file: 'big.img', size: 2 * MiB }], args: ['restore', 'b.img', 'big.img', '--yes'], status: 0, outputs: ['big.img'], keepOutside: { file: 'big.img', offset: 0, length: MiB }, from: '8' },
  { name: 'restore of a zip onto a larger file keeps the rest', setup: [{ image: 'zip' }, { file: 'big.img', size: 2 * MiB }], args: ['restore', 'z.zip', 'big.img', '--yes'], status: 0, outputs: ['big.img'], keepOutside: { file: 'big.img', offset: 0, length: MiB }, from: '8' },
  { name: 'restore: missing hashes without --no-check', setup: raw((m: Json) => { m.hashes = {}; m.image.parts[0].hashes = {}; return m; }), args: ['restore', 'b.img', 'dst.img', '--yes'], status: 2, from: '6' },
  ...notImages.map(([what, steps, image, codes]): BadInputCase => ({ name: `restore: the image ${what}`, setup: steps, args: ['restore', image, 'dst.img', '--yes'], status: 2, codes })),
  ...badManifests.map(([what, steps, codes]): BadInputCase => ({ name: `restore: a manifest that is ${what}`, setup: steps, args: ['restore', imageArg(steps), 'dst.img', '--yes'], status: 2, codes: codes ?? ['IMAGE_CORRUPT'], from: '6' })),
  ...damaged.map(([what, steps, image, codes]): BadInputCase => ({ name: `restore: ${what}`, setup: steps, args: ['restore', image, 'dst.img', '--yes'], status: 2, codes, notes: what.includes('no manifest'), from: '6' })),
];

export const verifyCases: BadInputCase[] = [
  { name: 'verify: no arguments', args: ['verify'], status: 2, code: 'USAGE' },
  { name: 'verify: three arguments', setup: [{ image: 'raw' }], args: ['verify', 'b.img', 'dst.img', 'x.img'], status: 2, code: 'USAGE' },
  { name: 'verify: unknown option --deep', setup: [{ image: 'raw' }], args: ['verify', 'b.img', '--deep'], status: 2, code: 'USAGE' },
  { name: 'verify: --offset past the end of the image', setup: [{ image: 'raw' }], args: ['verify', 'b.img', 'dst.img', '--offset', '2MiB'], status: 2, code: 'RANGE' },
  { name: 'verify: --depth 0', setup: [{ image: 'raw' }], args: ['verify', 'b.img', '--depth', '0'], status: 2, code: 'BAD_NUMBER' },
  { name: 'verify: --block-size= (empty)', setup: [{ image: 'raw' }], args: ['verify', 'b.img', 'dst.img', '--block-size='], status: 2, codes: ['BAD_SIZE', 'USAGE'], from: '10' },
  { name: 'verify: the drive does not exist', setup: [{ image: 'raw' }], args: ['verify', 'b.img', 'none.img'], status: 2, code: 'NOT_FOUND' },
  { name: 'verify: the drive is a FIFO (must not hang)', setup: [{ image: 'raw' }, { fifo: 'f' }], args: ['verify', 'b.img', 'f'], status: 2, codes: ['BAD_TARGET', 'BAD_SOURCE', 'USAGE'] },
  { name: 'verify: the drive is a directory', setup: [{ image: 'raw' }, { dir: 'd' }], args: ['verify', 'b.img', 'd'], status: 2, codes: ['BAD_TARGET', 'BAD_SOURCE', 'USAGE'] },
  ...notImages.map(([what, steps, image, codes], i): BadInputCase => ({ extended: i % 2 === 1, name: `verify: the image ${what}`, setup: steps, args: ['verify', image], status: 2, codes })),
  ...badManifests.map(([what, steps, codes]): BadInputCase => ({ extended: !verifyManifests.has(what), name: `verify: a manifest that is ${what}`, setup: steps, args: ['verify', imageArg(steps)], status: 2, codes: codes ?? ['IMAGE_CORRUPT'], notes: codes !== undefined, from: '6' })),
  ...damaged.map(([what, steps, image, codes], i): BadInputCase => ({ extended: i % 3 !== 0, name: `verify: ${what}`, setup: steps, args: ['verify', image], status: 2, codes, notes: true, from: '6' })),
];

export const imageRootCases: BadInputCase[] = [
  { name: 'restore: to a block device without --yes and no terminal', root: true, setup: [{ image: 'raw' }], args: ['restore', 'b.img', '%T%'], status: 4, code: 'CONFIRMATION_REQUIRED' },
  { name: 'restore: target is the backing file of a mounted loop', root: true, setup: [{ image: 'raw' }, { file: 'fs.img', size: 4 * MiB, fill: 'zero' }, { mkfs: 'fs.img' }, { loop: 'A', file: 'fs.img' }, { mount: '%A%', at: 'mnt', readOnly: true }], args: ['restore', 'b.img', 'fs.img', '--yes'], status: 4, codes: ['TARGET_MOUNTED', 'TARGET_BUSY'], from: '3' },
  { name: 'restore: target is a loop over the image', root: true, setup: [{ image: 'raw' }, { loop: 'A', file: 'b.img' }], args: ['restore', 'b.img', '%A%', '--yes'], status: 4, code: 'SAME_DRIVE' },
  { name: 'restore: target is a loop over a hard link of the image', root: true, setup: [{ image: 'raw' }, { hardlink: 'h.img', to: 'b.img' }, { loop: 'A', file: 'h.img' }], args: ['restore', 'b.img', '%A%', '--yes'], status: 4, code: 'SAME_DRIVE', from: '4' },
  { name: 'restore: target is a loop over part of a split image', root: true, setup: [{ image: 'split' }, { loop: 'A', file: 's.img.002' }], args: ['restore', 's.img', '%A%', '--yes'], status: 4, code: 'SAME_DRIVE' },
  { name: 'restore: target device smaller than the image', root: true, setup: [{ image: 'raw' }], args: ['restore', 'b.img', '%SMALL%', '--yes'], status: 4, code: 'TARGET_TOO_SMALL' },
  { name: 'restore: the image is a block device', root: true, args: ['restore', '%S%', 'dst.img', '--yes'], status: 2, codes: ['USAGE', 'BAD_TARGET'] },
  { name: 'restore: read-only loop target', root: true, setup: [{ image: 'raw' }, { loop: 'A', file: 'dst.img', readOnly: true }], args: ['restore', 'b.img', '%A%', '--yes'], status: 1, code: 'READ_ONLY', notes: true },
  { name: 'restore: manifest with range.offset negative onto a loop', root: true, setup: raw(set('range.offset', -4096)), args: ['restore', 'b.img', '%T%', '--yes'], status: 2, code: 'IMAGE_CORRUPT', from: '6' },
  { name: 'restore: a zip with no file entry onto a loop', root: true, setup: [{ image: 'zip' }, { remove: 'z.zip.manifest.json' }, { text: 'z.zip', content: emptyZip }], args: ['restore', 'z.zip', '%T%', '--yes'], status: 2, code: 'IMAGE_CORRUPT', from: '6' },
  { name: 'backup: OUT onto the source loop\'s backing file', root: true, setup: [{ loop: 'A', file: 'dst.img' }], args: ['backup', '%A%', 'dst.img', '--force'], status: 4, code: 'SAME_DRIVE' },
  { name: 'backup: OUT on a read-only file system', root: true, setup: [{ tmpfs: 'ro', size: '4m' }, { remountRo: 'ro' }], args: ['backup', 'src.img', 'ro/o.img'], status: 2, codes: ['BAD_OUTPUT', 'BAD_PATH', 'USAGE'] },
  { name: 'restore: --grow-last to an image file', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--grow-last'], status: 4, code: 'PARTITION_OPTION_FILE', from: '15' },
  { name: 'restore: --partition 0', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--partition', '0'], status: 2, code: 'BAD_NUMBER', from: '15' },
  { name: 'restore: --partition 1,1', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--partition', '1,1'], status: 2, code: 'BAD_NUMBER', from: '15' },
  { name: 'restore: --partition of an image with no table', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--partition', '1'], status: 2, code: 'NO_PARTITION_TABLE', from: '15' },
  { name: 'restore: --to without --partition', setup: [{ image: 'raw' }], args: ['restore', 'b.img', '--to', 'dst.img'], status: 2, code: 'USAGE', from: '15' },
  { name: 'restore: --partition with --offset', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--partition', '1', '--offset', '0'], status: 2, code: 'PARTITION_OPTION_RANGE', from: '15' },
  { name: 'backup: --partition of a source with no table', args: ['backup', 'src.img', 'o.img', '--partition', '1'], status: 2, code: 'NO_PARTITION_TABLE', from: '15' },
  { name: 'backup: --partition with --length', args: ['backup', 'src.img', 'o.img', '--partition', '1', '--length', '4096'], status: 2, code: 'PARTITION_OPTION_RANGE', from: '15' },
  { name: 'image info: the image does not exist', args: ['image', 'info', 'missing.img'], status: 2, codes: ['IMAGE_NOT_FOUND', 'NOT_FOUND'], from: '15' },
  { name: 'image mount: a ZIP image', setup: [{ image: 'zip' }, { dir: 'm' }], args: ['image', 'mount', 'z.zip', 'm'], status: 2, code: 'IMAGE_NOT_RAW', from: '15' },
  { name: 'image mount: the folder does not exist', setup: [{ image: 'raw' }], args: ['image', 'mount', 'b.img', 'nowhere'], status: 2, code: 'NOT_FOUND', from: '15' },
  { name: 'image mount: an image with no table', setup: [{ image: 'raw' }, { dir: 'm' }], args: ['image', 'mount', 'b.img', 'm'], status: 2, code: 'NO_PARTITION_TABLE', from: '15' },
  { name: 'image umount: a folder nothing was mounted in', setup: [{ dir: 'm' }], args: ['image', 'umount', 'm'], status: 2, code: 'NOT_MOUNTED', from: '15' },
  { name: 'restore: --mount-rw without --mount', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--mount-rw'], status: 2, code: 'USAGE', from: '15' },
  { name: 'restore: --mount into a folder that is not empty', setup: [{ image: 'raw' }, { dir: 'm' }, { text: 'm/x', content: 'x' }], args: ['restore', 'b.img', 'dst.img', '--mount', 'm'], status: 2, code: 'BAD_PATH', from: '15' },
  { name: 'restore: --grow-fs without --grow-last', setup: [{ image: 'raw' }], args: ['restore', 'b.img', 'dst.img', '--grow-fs'], status: 2, code: 'GROW_FS_NEEDS_GROW_LAST', from: '15' },
  { name: 'backup: raw OUT on a file system too small', root: true, setup: [{ tmpfs: 'tiny', size: '256k' }], args: ['backup', 'src.img', 'tiny/o.img'], status: 4, code: 'TARGET_TOO_SMALL', from: '13' },
];
