// The rescue kind: a failing source to one target, error-tolerant and resumable with a
// ddrescue map (src/rescue holds the policy). Its live map reaches the dashboard compacted,
// once a second; a pause holds it between reads; a cancel saves the map.
import { resolve } from 'node:path';
import { planClone } from '../clone.js';
import { rescue, type RescueOptions, type RescueSummary } from '../rescue/rescue.js';
import { checkMapPath } from '../rescue/mapfile.js';
import { mapSnapshot } from '../rescue/snapshot.js';
import type { Mapbook } from '../rescue/mapbook.js';
import type { Reporter } from '../progress.js';
import { formatBytes, formatRate } from '../units.js';
import type { JobView } from '../../dashboard/source.js';
import { pauseRequested, postEvent, type RescueTaskResult } from '../contract.js';
import { runReported, type ReportedResult } from './reported.js';
import { defineKind, driveIdentity, elapsedSeconds, ENDED, type JobEntry, type JobIo } from './kind.js';
import { driveView, hasBadAreas, mapView } from './view-parts.js';

/** How often the map goes to the main thread for the dashboard: compact, once a second. */
const MAP_EVERY_MS = 1000;

/** What a rescue job's run gets: rescue()'s options without the display hooks. */
export type RescuePayload = Omit<RescueOptions, 'watch' | 'ready' | 'paused'>;

/** A rescue's end as its job's result: its summary (or the one so far, when it stopped), its last map. */
export function rescueResult(r: ReportedResult<RescueSummary>, book: Mapbook | undefined): RescueTaskResult {
  const summary = r.value ?? (typeof r.details?.rescuedBytes === 'number' ? (r.details as unknown as RescueSummary) : undefined);
  return { state: r.state, code: r.code, reason: r.reason, summary, map: book && mapSnapshot(book) };
}

const rescueKind = defineKind<RescuePayload, RescueTaskResult>({
  name: 'rescue',
  summary: 'a failing drive to one target, error-tolerant and resumable with a ddrescue map',
  module: import.meta.url,
  jsWork: true,
  fields: {
    source: { type: 'path', required: true, help: 'the failing drive (or image) read' },
    targets: { type: 'paths', required: true, exactly: 1, writes: true, help: 'the one drive or image file written' },
    map: { type: 'path', required: true, writes: true, help: 'the ddrescue mapfile: made, or resumed from' },
    offset: { type: 'size', help: 'start reading the source here' },
    length: { type: 'size', help: 'rescue this many bytes' },
    targetOffset: { type: 'size', help: 'write at this offset of the target' },
    usedOnly: { type: 'boolean', help: "rescue only the blocks the source's file systems use: its files first, free blocks never" },
    simulateErrors: { type: 'path', internal: true, help: "test mode, like ddrescue's -H: reads fail where this map is not +" },
  },

  plan(entry: JobEntry, d, id) {
    const text = (k: string): string | undefined => (entry[k] === undefined ? undefined : String(entry[k]));
    const target = (entry.targets as string[])[0];
    const map = resolve(entry.map as string);
    // the copy's refusals (drives, ranges, same drive twice); rescue() plans its passes itself
    const plan = planClone({ source: entry.source as string, target, offset: text('offset'), length: text('length'), targetOffset: text('targetOffset'), depth: d.depth, backend: d.backend, direct: d.direct });
    const payload: RescuePayload = {
      source: entry.source as string,
      target,
      mapPath: map,
      offset: String(plan.range.offset),
      length: String(plan.range.length),
      targetOffset: String(plan.targetOffset),
      depth: d.depth,
      backend: d.backend,
      direct: d.direct,
      simulateErrors: text('simulateErrors'),
      ...(entry.usedOnly === true ? { usedOnly: true } : {}),
      yes: true,
      version: d.version,
      commandLine: d.commandLine,
    };
    return {
      payload,
      source: { path: payload.source, drive: plan.source },
      targets: [{ path: target, drive: plan.target }],
      touches: [
        { path: payload.source, drive: plan.source, what: 'the source', writes: false },
        { path: target, drive: plan.target, what: 'a target', writes: true },
        { path: entry.map as string, what: 'the map', writes: true, file: true, ownsFamily: true },
        ...(payload.simulateErrors !== undefined ? [{ path: payload.simulateErrors, what: 'the error map', writes: false, file: true }] : []),
      ],
      overwrites: plan.target ? [{ drive: plan.target, what: `with ${plan.range.length} bytes from ${payload.source} (job ${id})` }] : [],
      length: plan.range.length,
      counters: {},
      jsWork: true,
      // its reads go through its own small rings (depth x cluster), not the station's budget
      fitRing: () => 0,
      // a map that will not load is refused before any job starts (a regular file or a new
      // name: a FIFO, device or folder is refused, never read)
      check: () => void checkMapPath(entry.map as string, plan.source.size),
    };
  },

  async run(payload, io: JobIo): Promise<RescueTaskResult> {
    let book: Mapbook | undefined;
    let pass = '';
    const postMap = (): void => {
      if (book) postEvent(io.port, { type: 'map', pass, map: mapSnapshot(book) });
    };
    const mapTimer = setInterval(postMap, MAP_EVERY_MS);
    try {
      const r = await runReported(io, (h) => {
        // the rescuebook's views name the pass: the map event says it too
        const reporter: Reporter = { ...h.reporter, progress: (v) => ((pass = (v as { pass?: string }).pass ?? pass), h.reporter.progress(v)) };
        return rescue({ ...payload, yes: true, watch: (b) => ((book = b), postMap()), paused: h.paused }, reporter, h.signal);
      });
      return rescueResult(r, book);
    } finally {
      clearInterval(mapTimer);
      postMap();
    }
  },

  view(j): JobView {
    const live = j.live;
    const map = j.result?.map ?? live.map;
    const running = !ENDED.has(j.state) && j.state !== 'queued';
    const paused = running && pauseRequested(j.control);
    const summary = j.result?.summary;
    const bad = summary?.badBytes ?? map?.totals['-'] ?? live.bytesBad ?? 0;
    return {
      id: j.id,
      role: 'rescue',
      drives: [driveView('source', j.planned.source.path, j.planned.source.drive), driveView('target', j.planned.targets[0].path, j.planned.targets[0].drive)],
      state: paused ? 'paused' : running ? 'running' : j.state,
      pass: ENDED.has(j.state) ? '-' : live.pass || (j.state === 'queued' ? '-' : 'start'),
      bytesDone: summary?.rescuedBytes ?? live.done ?? 0,
      bytesTotal: summary?.size ?? live.total ?? j.planned.length,
      bytesBad: bad,
      errors: map?.errorAreas ?? summary?.badAreas ?? 0,
      position: map?.current.pos,
      elapsed: elapsedSeconds(j),
      badAreas: hasBadAreas(map, bad),
      map: mapView(map),
      // a pause holds the rescue between reads; cancel saves the map
      canPause: true,
      note: j.error ?? (j.result?.state !== 'done' ? j.result?.reason : undefined),
    };
  },

  report(j) {
    const p = j.planned.payload;
    const m = j.result?.map ?? j.live.map;
    const base = {
      source: driveIdentity(p.source, j.planned.source.drive),
      range: { offset: Number(p.offset), length: j.planned.length, targetOffset: Number(p.targetOffset) },
      bytes: j.planned.length,
      map: p.mapPath,
    };
    if (!ENDED.has(j.state)) {
      return {
        ...base,
        rescue: m ? { rescuedBytes: m.totals['+'], nonTried: m.totals['?'], nonTrimmed: m.totals['*'], nonScraped: m.totals['/'], badBytes: m.totals['-'], errorAreas: m.errorAreas, current: m.current } : undefined,
        targets: [driveIdentity(p.target, j.planned.targets[0].drive)],
      };
    }
    const s = j.result?.summary;
    const reason = j.error ?? (j.result?.state !== 'done' ? j.result?.reason : undefined);
    return {
      ...base,
      copySeconds: s?.seconds ?? 0,
      averageBytesPerSec: s?.bytesPerSec ?? 0,
      rescue: s,
      ...(reason ? { error: reason } : {}),
      targets: [{ ...driveIdentity(p.target, j.planned.targets[0].drive), state: j.state, ...(reason ? { reason } : {}) }],
    };
  },

  rows(j) {
    const r = j.result?.summary;
    const p = j.planned.payload;
    const why = j.error ?? j.result?.reason ?? '';
    return [[p.source, p.target, j.state, formatBytes(r?.rescuedBytes ?? 0), r ? formatRate(r.bytesPerSec) : '-', 'map', r ? `rescue: bad ${formatBytes(r.badBytes)} in ${r.badAreas} area(s), map ${p.mapPath}` : why]];
  },
});

export default rescueKind;
