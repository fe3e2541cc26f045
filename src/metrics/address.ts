// `--metrics ADDRESS:PORT` read and checked: a host or IP (IPv6 in brackets) and a port.
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:9464", "[::1]:9464", ":9464" (every address), "localhost:0" (any free port). */
export function parseListenAddress(text: string, what = '--metrics'): ListenAddress {
  const bad = (why: string): UsageError => new UsageError(`${what} ${JSON.stringify(text).slice(0, 80)}: ${why}; give ADDRESS:PORT, e.g. 127.0.0.1:9464 or :9464`, 'BAD_METRICS_ADDRESS');
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text);
  if (!m) throw bad('not ADDRESS:PORT');
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && isIP(m[1]) !== 6) throw bad(`${m[1]} is not an IPv6 address`);
  if (m[2] !== undefined && m[2] !== '' && isIP(m[2]) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(m[2])) throw bad(`${m[2]} is not a host name or address`);
  const port = Number(m[3]);
  if (port > 65535) throw bad(`port ${port} is above 65535`);
  return { host: host === '' ? '::' : host, port };
}
