// The commands with few inputs (list, demo, erase's and certificates' inputs) and the command line itself.
import type { BadInputCase } from '../../helpers/bad-input.js';

export const miscCases: BadInputCase[] = [
  { name: 'top level: unknown command', args: ['frobnicate'], status: 2, code: 'USAGE' },
  { name: 'top level: near-miss command clon', args: ['clon', 'src.img', 'dst.img'], status: 2, code: 'USAGE' },
  { name: 'top level: near-miss --verison', args: ['--verison'], status: 2, code: 'USAGE' },
  { name: 'top level: an option before the command', args: ['--yes', 'clone', 'src.img', 'dst.img'], status: 2, code: 'USAGE' },
  { name: 'top level: empty command', args: [''], status: 2, code: 'USAGE' },
  { name: 'list: an argument', args: ['list', 'sda'], status: 2, code: 'USAGE' },
  { name: 'list: near-miss --loop', args: ['list', '--loop'], status: 2, code: 'USAGE' },
  { name: 'list: --json=yes', args: ['list', '--json=yes'], status: 2, code: 'USAGE' },
  { name: 'demo: an argument', args: ['demo', 'now'], status: 2, code: 'USAGE' },
  { name: 'demo: near-miss --kep', args: ['demo', '--kep'], status: 2, code: 'USAGE' },
  { name: 'demo: --size abc', args: ['demo', '--size', 'abc'], status: 2, code: 'BAD_SIZE' },
  { name: 'demo: --size=-1MiB', args: ['demo', '--size=-1MiB'], status: 2, code: 'BAD_SIZE' },
  { name: 'demo: --size= (empty)', args: ['demo', '--size='], status: 2, codes: ['BAD_SIZE', 'USAGE'], from: '10' },
  { name: 'demo: --size 16PiB (beyond 2^53)', args: ['demo', '--size', '16PiB'], status: 2, code: 'BAD_SIZE' },
  { name: 'demo: --throttle fast', args: ['demo', '--throttle', 'fast'], status: 2, code: 'BAD_SIZE' },
  { name: 'demo: --throttle= (empty)', args: ['demo', '--throttle='], status: 2, codes: ['BAD_SIZE', 'USAGE'], from: '10' },
  { name: 'demo: --ui without a terminal', args: ['demo', '--ui'], status: 2, code: 'USAGE' },
  { name: 'erase: --include-hpa on a file', args: ['erase', 'src.img', '--include-hpa', '--yes'], status: 2, code: 'UNSUPPORTED', from: 'own' },
  { name: 'cert pdf: no certificate named', args: ['cert', 'pdf'], status: 2, code: 'USAGE', from: 'own' },
  { name: 'cert pdf: a certificate that does not exist', args: ['cert', 'pdf', 'missing.json'], status: 2, code: 'NOT_FOUND', from: 'own' },
  { name: 'cert check: a FIFO (must not hang)', setup: [{ fifo: 'c.json' }], args: ['cert', 'check', 'c.json'], status: 2, code: 'BAD_PATH', from: 'own' },
  { name: 'cert check: not JSON', setup: [{ text: 'c.json', content: '{"drive": ' }], args: ['cert', 'check', 'c.json'], status: 5, code: 'CERT_INVALID', from: 'own' },
];
