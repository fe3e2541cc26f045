// Image names from templates, for unattended backups: `/backups/{serial}-{datetime}.img`
// gives each run its own name, so a schedule never overwrites the last good image.
import { basename } from 'node:path';
import { UsageError } from '../errors.js';
import type { DriveInfo } from '../drive.js';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** Only characters that are safe in a file name on every file system we write to. */
function clean(text: string): string {
  return text.trim().replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'unknown';
}

/**
 * Fields (local time): {date} 2026-11-24, {time} 031500, {datetime} 2026-11-24T031500,
 * {source} the source's name (sda, disk.img), {serial}, {model}, {wwn}, {host}.
 */
export function expandName(template: string, source: DriveInfo, now: Date, host = process.env.HOSTNAME ?? ''): string {
  const date = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
  const time = `${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  const fields: Record<string, string> = {
    date,
    time,
    datetime: `${date}T${time}`,
    source: clean(source.name ?? basename(source.path)),
    serial: clean(source.serial ?? source.wwn ?? source.name ?? basename(source.path)),
    model: clean(source.model ?? 'unknown'),
    wwn: clean(source.wwn ?? 'unknown'),
    host: clean(host || 'host'),
  };
  return template.replace(/\{([a-z]*)\}/g, (all, key: string) => {
    const v = fields[key];
    if (v === undefined) throw new UsageError(`unknown field ${all} in OUT: use ${Object.keys(fields).map((k) => `{${k}}`).join(', ')}`, 'USAGE');
    return v;
  });
}
