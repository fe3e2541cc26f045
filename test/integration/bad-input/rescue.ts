// rescue and map show: map paths that are not maps, malformed maps, and rescue's options.
import type { BadInputCase, Step } from '../../helpers/bad-input.js';

const MiB = 1024 * 1024;
const status = '0x00000000     ?               1\n';
/** A map file with these data lines after the status line. */
const map = (name: string, blocks: string, head = status): Step => ({ text: name, content: `# Mapfile. Created by hand\n# current_pos  current_status  current_pass\n${head}#      pos        size  status\n${blocks}` });

/** Malformed maps: each must be BAD_MAP (exit 2) for map show and for rescue. */
const badMaps: [string, Step][] = [
  ['garbage lines', { text: 'm.map', content: 'hello\nthis is not a map\n' }],
  ['binary bytes', { file: 'm.map', size: 4096 }],
  ['no status line', { text: 'm.map', content: '# only a comment\n0x0 0x100000 +\n0x100000\n' }],
  ['a wrong block status character', map('m.map', '0x00000000  0x00080000  +\n0x00080000  0x00080000  X\n')],
  ['a wrong current status character', map('m.map', '0x00000000  0x00100000  +\n', '0x00000000  Z  1\n')],
  ['overlapping blocks', map('m.map', '0x00000000  0x00080000  +\n0x00040000  0x00080000  -\n')],
  ['a gap between blocks', map('m.map', '0x00000000  0x00040000  +\n0x00080000  0x00080000  -\n')],
  ['a negative size', map('m.map', '0x00000000  -0x00080000  +\n')],
  ['a huge number (beyond 2^53)', map('m.map', '0x00000000  0xFFFFFFFFFFFFFFFFFF  +\n')],
  ['hex garbage in a position', map('m.map', '0xZZ  0x00100000  +\n')],
  ['a fractional size', map('m.map', '0x00000000  1.5  +\n')],
  ['a missing size column', map('m.map', '0x00000000  +\n')],
];

/** Map paths that are not regular files or new paths (issue 11 item 2). */
const notAFile: [string, Step[], string][] = [
  ['a /dev/null node', [{ node: 'null', like: '/dev/null' }], 'null'],
  ['a /dev/zero node (must not read forever)', [{ node: 'zero', like: '/dev/zero' }], 'zero'],
  ['a FIFO (must not hang)', [{ fifo: 'm.fifo' }], 'm.fifo'],
  ['a directory', [{ dir: 'm.d' }], 'm.d'],
];

export const mapCases: BadInputCase[] = [
  { name: 'map: no subcommand', args: ['map'], status: 2, code: 'USAGE' },
  { name: 'map: near-miss subcommand shw', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'shw', 'm.map'], status: 2, code: 'USAGE' },
  { name: 'map show: no MAPFILE', args: ['map', 'show'], status: 2, code: 'USAGE' },
  { name: 'map show: two MAPFILEs', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'show', 'm.map', 'm.map'], status: 2, code: 'USAGE' },
  { name: 'map show: missing file', args: ['map', 'show', 'none.map'], status: 2, code: 'NOT_FOUND' },
  { name: 'map show: --width 0', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'show', 'm.map', '--width', '0'], status: 2, code: 'BAD_NUMBER' },
  { name: 'map show: --width abc', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'show', 'm.map', '--width', 'abc'], status: 2, code: 'BAD_NUMBER' },
  { name: 'map show: --rows 100000', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'show', 'm.map', '--rows', '100000'], status: 2, code: 'BAD_NUMBER' },
  { name: 'map show: --rows= (empty)', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'show', 'm.map', '--rows='], status: 2, codes: ['BAD_NUMBER', 'USAGE'], from: '10' },
  { name: 'map show: --size=-1', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'show', 'm.map', '--size=-1'], status: 2, code: 'BAD_SIZE' },
  { name: 'map show: --size smaller than the map', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'show', 'm.map', '--size', '4096'], status: 2, code: 'MAP_LARGER_THAN_DRIVE' },
  { name: 'map show: --colour (near miss)', setup: [map('m.map', '0x0 0x100000 ?\n')], args: ['map', 'show', 'm.map', '--no-colour'], status: 2, code: 'USAGE' },
  { name: 'map show: a 2 GiB sparse file as a map (size limit)', setup: [{ file: 'big.map', size: 2 * 1024 * MiB, sparse: true }], args: ['map', 'show', 'big.map'], status: 2, code: 'BAD_MAP' },
  ...badMaps.map(([what, step]): BadInputCase => ({ name: `map show: ${what}`, setup: [step], args: ['map', 'show', 'm.map'], status: 2, code: 'BAD_MAP' })),
  ...notAFile.map(([what, steps, path]): BadInputCase => ({ name: `map show: the map is ${what}`, setup: steps, args: ['map', 'show', path], status: 2, code: 'BAD_MAP', from: '2' })),
];

export const rescueCases: BadInputCase[] = [
  { name: 'rescue: no arguments', args: ['rescue'], status: 2, code: 'USAGE' },
  { name: 'rescue: no MAPFILE', args: ['rescue', 'src.img', 'dst.img'], status: 2, code: 'USAGE' },
  { name: 'rescue: one argument too many', args: ['rescue', 'src.img', 'dst.img', 'm.map', 'extra'], status: 2, code: 'USAGE' },
  { name: 'rescue: near-miss --revers', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--revers'], status: 2, code: 'USAGE' },
  { extended: true, name: 'rescue: near-miss --retry', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--retry', '2'], status: 2, code: 'USAGE' },
  { name: 'rescue: source does not exist', args: ['rescue', 'missing.img', 'dst.img', 'm.map', '--yes'], status: 2, code: 'NOT_FOUND' },
  { name: 'rescue: source is a directory', setup: [{ dir: 'd' }], args: ['rescue', 'd', 'dst.img', 'm.map', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_SOURCE', 'USAGE'] },
  { name: 'rescue: source is a FIFO (must not hang)', setup: [{ fifo: 'f' }], args: ['rescue', 'f', 'dst.img', 'm.map', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_SOURCE', 'USAGE'] },
  { extended: true, name: 'rescue: source is /dev/zero', args: ['rescue', '/dev/zero', 'dst.img', 'm.map', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_SOURCE', 'USAGE'] },
  { name: 'rescue: target is a directory', setup: [{ dir: 'd' }], args: ['rescue', 'src.img', 'd', 'm.map', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE'] },
  { name: 'rescue: target is a /dev/null node', setup: [{ node: 'null', like: '/dev/null' }], args: ['rescue', 'src.img', 'null', 'm.map', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE'] },
  { name: 'rescue: target under /dev that does not exist', args: ['rescue', 'src.img', '/dev/cs-no-such-drive', 'm.map', '--yes'], status: 2, code: 'NOT_FOUND', victims: ['/dev/cs-no-such-drive'] },
  { name: 'rescue: empty target', args: ['rescue', 'src.img', '', 'm.map', '--yes'], status: 2, codes: ['BAD_TARGET', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE', 'NOT_FOUND'], from: '7' },
  { name: 'rescue: empty map path', args: ['rescue', 'src.img', 'dst.img', '', '--yes'], status: 2, codes: ['BAD_MAP', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE', 'NOT_FOUND'], from: '7' },
  { name: 'rescue: map path with a trailing slash', args: ['rescue', 'src.img', 'dst.img', 'new.map/', '--yes'], status: 2, codes: ['BAD_MAP', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE', 'NOT_FOUND'], from: '7' },
  { name: 'rescue: map name too long', args: ['rescue', 'src.img', 'dst.img', `${'m'.repeat(300)}.map`, '--yes'], status: 2, codes: ['BAD_MAP', 'BAD_PATH', 'BAD_OUTPUT', 'USAGE'], from: '7' },
  { name: 'rescue: map in a folder that does not exist', args: ['rescue', 'src.img', 'dst.img', 'nope/m.map', '--yes'], status: 2, code: 'NOT_FOUND' },
  { name: 'rescue: the map is the source', args: ['rescue', 'src.img', 'dst.img', 'src.img', '--yes'], status: 2, codes: ['USAGE', 'BAD_MAP'] },
  { name: 'rescue: the map is the target', args: ['rescue', 'src.img', 'dst.img', 'dst.img', '--yes'], status: 2, codes: ['USAGE', 'BAD_MAP'] },
  { name: 'rescue: the map is a symlink to the target', setup: [{ symlink: 'm.map', to: 'dst.img' }], args: ['rescue', 'src.img', 'dst.img', 'm.map', '--yes'], status: 2, codes: ['USAGE', 'BAD_MAP'] },
  { name: 'rescue: source and target the same file', args: ['rescue', 'src.img', './src.img', 'm.map', '--yes'], status: 4, code: 'SAME_DRIVE' },
  { name: 'rescue: source and target hard links of one file', setup: [{ hardlink: 'h.img', to: 'src.img' }], args: ['rescue', 'src.img', 'h.img', 'm.map', '--yes'], status: 4, code: 'SAME_DRIVE' },
  { name: 'rescue: --offset past the end', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--offset', '2MiB', '--yes'], status: 2, code: 'RANGE', from: '10' },
  { name: 'rescue: --offset + --length past the end', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--offset', '512KiB', '--length', '1MiB', '--yes'], status: 2, code: 'RANGE' },
  { name: 'rescue: --offset=-512', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--offset=-512', '--yes'], status: 2, code: 'BAD_SIZE' },
  { name: 'rescue: --sector-size 100', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--sector-size', '100', '--yes'], status: 2, code: 'BAD_SIZE' },
  { name: 'rescue: --sector-size 0', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--sector-size', '0', '--yes'], status: 2, code: 'BAD_SIZE' },
  { extended: true, name: 'rescue: --sector-size 1MiB', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--sector-size', '1MiB', '--yes'], status: 2, code: 'BAD_SIZE' },
  { name: 'rescue: --cluster 1000 (not a multiple of the sector)', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--cluster', '1000', '--yes'], status: 2, code: 'BAD_SIZE' },
  { extended: true, name: 'rescue: --cluster 0', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--cluster', '0', '--yes'], status: 2, code: 'BAD_SIZE' },
  { extended: true, name: 'rescue: --cluster 1GiB', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--cluster', '1GiB', '--yes'], status: 2, code: 'BAD_SIZE' },
  { name: 'rescue: --cluster= (empty)', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--cluster=', '--yes'], status: 2, codes: ['BAD_SIZE', 'USAGE'], from: '10' },
  { name: 'rescue: --retries=-1', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--retries=-1', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { extended: true, name: 'rescue: --retries 1.5', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--retries', '1.5', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { name: 'rescue: --retries= (empty)', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--retries=', '--yes'], status: 2, codes: ['BAD_NUMBER', 'USAGE'], from: '10' },
  { name: 'rescue: --timeout abc', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--timeout', 'abc', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { name: 'rescue: --max-errors=-3', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--max-errors=-3', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { name: 'rescue: --gone-after 1e3', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--gone-after', '1e3', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { name: 'rescue: --save-interval 99999999999', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--save-interval', '99999999999', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { name: 'rescue: --min-read-rate fast', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--min-read-rate', 'fast', '--yes'], status: 2, code: 'BAD_SIZE' },
  { name: 'rescue: --fill= (empty)', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--fill=', '--yes'], status: 2, code: 'USAGE', from: '10' },
  { name: 'rescue: --depth 0', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--depth', '0', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { extended: true, name: 'rescue: --depth 100000', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--depth', '100000', '--yes'], status: 2, code: 'BAD_NUMBER' },
  { name: 'rescue: --backend posix', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--backend', 'posix', '--yes'], status: 2, code: 'USAGE' },
  { name: 'rescue: --domain that does not exist', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--domain', 'none.map', '--yes'], status: 2, code: 'NOT_FOUND' },
  { name: 'rescue: --domain is a FIFO (must not hang)', setup: [{ fifo: 'd.fifo' }], args: ['rescue', 'src.img', 'dst.img', 'm.map', '--domain', 'd.fifo', '--yes'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'rescue: --domain is /dev/zero (must not read forever)', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--domain', '/dev/zero', '--yes'], status: 2, code: 'BAD_MAP', from: '2' },
  { extended: true, name: 'rescue: --domain is garbage', setup: [{ text: 'd.map', content: 'not a map\n' }], args: ['rescue', 'src.img', 'dst.img', 'm.map', '--domain', 'd.map', '--yes'], status: 2, code: 'BAD_MAP' },
  { name: 'rescue: --simulate-errors does not exist', args: ['rescue', 'src.img', 'dst.img', 'm.map', '--simulate-errors', 'none.map', '--yes'], status: 2, code: 'NOT_FOUND' },
  { name: 'rescue: --simulate-errors is a FIFO (must not hang)', setup: [{ fifo: 'e.fifo' }], args: ['rescue', 'src.img', 'dst.img', 'm.map', '--simulate-errors', 'e.fifo', '--yes'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'rescue: --simulate-errors is a directory', setup: [{ dir: 'e.d' }], args: ['rescue', 'src.img', 'dst.img', 'm.map', '--simulate-errors', 'e.d', '--yes'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'rescue: a map larger than the drive', setup: [map('m.map', '0x00000000  0x00200000  ?\n')], args: ['rescue', 'src.img', 'dst.img', 'm.map', '--yes'], status: 2, code: 'MAP_LARGER_THAN_DRIVE' },
  { name: 'rescue: a map of a different (larger) drive, half rescued', setup: [map('m.map', '0x00000000  0x00100000  +\n0x00100000  0x00F00000  ?\n')], args: ['rescue', 'src.img', 'dst.img', 'm.map', '--yes'], status: 2, code: 'MAP_LARGER_THAN_DRIVE' },
  { name: 'clone --map: the map is a /dev/null node', setup: [{ node: 'null', like: '/dev/null' }], args: ['clone', 'src.img', 'dst.img', '--map', 'null', '--yes'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'clone --map: the map is a FIFO (must not hang)', setup: [{ fifo: 'm.fifo' }], args: ['clone', 'src.img', 'dst.img', '--map', 'm.fifo', '--yes'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'clone --map= (empty)', args: ['clone', 'src.img', 'dst.img', '--map=', '--yes'], status: 2, codes: ['BAD_MAP', 'USAGE', 'BAD_PATH', 'NOT_FOUND'], from: '10' },
  { name: 'rescue: map is a 2 GiB sparse file (size limit)', setup: [{ file: 'big.map', size: 2 * 1024 * MiB, sparse: true }], args: ['rescue', 'src.img', 'dst.img', 'big.map', '--yes'], status: 2, code: 'BAD_MAP', from: '2' },
  ...badMaps.map(([what, step], i): BadInputCase => ({ extended: i > 2, name: `rescue: a map with ${what}`, setup: [step], args: ['rescue', 'src.img', 'dst.img', 'm.map', '--yes'], status: 2, code: 'BAD_MAP' })),
  ...notAFile.map(([what, steps, path]): BadInputCase => ({ name: `rescue: the map is ${what}`, setup: steps, args: ['rescue', 'src.img', 'dst.img', path, '--yes'], status: 2, code: 'BAD_MAP', from: '2' })),
];

export const rescueRootCases: BadInputCase[] = [
  { name: 'rescue: to a block device without --yes and no terminal', root: true, args: ['rescue', 'src.img', '%T%', 'm.map'], status: 4, code: 'CONFIRMATION_REQUIRED' },
  { name: 'rescue: target is the backing file of a mounted loop', root: true, setup: [{ file: 'fs.img', size: 4 * MiB, fill: 'zero' }, { mkfs: 'fs.img' }, { loop: 'A', file: 'fs.img' }, { mount: '%A%', at: 'mnt', readOnly: true }], args: ['rescue', 'src.img', 'fs.img', 'm.map', '--yes'], status: 4, codes: ['TARGET_MOUNTED', 'TARGET_BUSY'], from: '3' },
  { name: 'rescue: two loop devices over one file', root: true, setup: [{ loop: 'A', file: 'dst.img' }, { loop: 'B', file: 'dst.img' }], args: ['rescue', '%A%', '%B%', 'm.map', '--yes'], status: 4, code: 'SAME_DRIVE', from: '4' },
  { name: 'rescue: a loop stacked on the source loop', root: true, setup: [{ loop: 'A', file: 'dst.img' }, { loop: 'B', file: '%A%' }], args: ['rescue', '%A%', '%B%', 'm.map', '--yes'], status: 4, code: 'SAME_DRIVE', from: '4' },
  { name: 'rescue: overlapping offset loops', root: true, setup: [{ file: 'big.img', size: 2 * MiB }, { loop: 'A', file: 'big.img', sizelimit: MiB }, { loop: 'B', file: 'big.img', offset: 256 * 1024, sizelimit: MiB }], args: ['rescue', '%A%', '%B%', 'm.map', '--yes'], status: 4, code: 'SAME_DRIVE', from: '4' },
  { name: 'rescue: the map is the target loop device', root: true, args: ['rescue', 'src.img', '%T%', '%T%', '--yes'], status: 2, codes: ['USAGE', 'BAD_MAP'] },
  { name: 'rescue: the map is another loop device', root: true, args: ['rescue', 'src.img', 'dst.img', '%T%', '--yes'], status: 2, code: 'BAD_MAP', from: '2' },
  { name: 'rescue: a map larger than the source loop', root: true, setup: [map('m.map', '0x00000000  0x00200000  ?\n')], args: ['rescue', '%S%', 'dst.img', 'm.map', '--yes'], status: 2, code: 'MAP_LARGER_THAN_DRIVE' },
  { name: 'rescue: target device smaller than the source', root: true, args: ['rescue', '%S%', '%SMALL%', 'm.map', '--yes'], status: 4, code: 'TARGET_TOO_SMALL' },
  { name: 'rescue: read-only loop target', root: true, setup: [{ loop: 'A', file: 'dst.img', readOnly: true }], args: ['rescue', 'src.img', '%A%', 'm.map', '--yes'], status: 1, code: 'READ_ONLY', notes: true, outputs: ['m.map'] },
];
