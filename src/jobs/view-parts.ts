// Pieces every kind's dashboard row is made of: a drive as the dashboard names it, a
// rescue map as the block map draws it, and whether an ETA can be honest.
import type { DriveView, MapView } from '../../dashboard/source.js';
import type { MapSnapshot } from '../rescue/snapshot.js';

export function driveView(role: DriveView['role'], path: string, d: { model?: string; serial?: string } | undefined, note?: string): DriveView {
  return { role, path, model: d?.model || undefined, serial: d?.serial || undefined, ...(note ? { note } : {}) };
}

export function mapView(m: MapSnapshot | undefined): MapView | undefined {
  return m ? { size: m.size, extents: m.extents, current: m.current } : undefined;
}

/** Unreadable areas found, or still being worked on: no honest ETA. */
export function hasBadAreas(m: MapSnapshot | undefined, bytesBad: number): boolean {
  return bytesBad > 0 || (m !== undefined && m.totals['*'] + m.totals['/'] + m.totals['-'] > 0);
}
