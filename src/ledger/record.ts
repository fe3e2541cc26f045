// A finished job's ledger line: the summary of its report (kind, drives with identities, outcome, hashes, bad bytes, times), read through its kind.
import { hostname } from 'node:os';
import { jobReport, type StationJob } from '../jobs/kind.js';

export const LEDGER_VERSION = 1;

export interface LedgerDrive {
  role: 'source' | 'target';
  path: string;
  model?: string;
  serial?: string;
  wwn?: string;
  size?: number;
  /** a target's own outcome when its report names one (done, failed, cancelled) */
  state?: string;
  verified?: boolean;
}

export interface LedgerRecord {
  v: number;
  station: string;
  /** the run's start and the job's id in it: a job's key with `station` */
  run: string;
  job: number;
  kind: string;
  outcome: string;
  code?: string;
  error?: string;
  startedAt?: string;
  endedAt: string;
  seconds: number;
  bytes: number;
  bytesDone: number;
  bytesBad: number;
  drives: LedgerDrive[];
  hashes?: Record<string, string>;
}

type Identity = { path?: unknown; model?: unknown; serial?: unknown; wwn?: unknown; size?: unknown; state?: unknown; verified?: unknown };

/** Drive identities a kind's report gives (its `source`, `drive`, `targets`), by path. */
function identities(report: Record<string, unknown>): Map<string, Identity> {
  const out = new Map<string, Identity>();
  const add = (v: unknown): void => {
    if (v && typeof v === 'object' && typeof (v as Identity).path === 'string') out.set((v as Identity).path as string, v as Identity);
  };
  add(report.source);
  add(report.drive);
  if (Array.isArray(report.targets)) for (const t of report.targets) add(t);
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function ledgerRecord(job: StationJob, o: { station?: string; run: string }): LedgerRecord {
  const view = job.kind.view(job);
  const report = jobReport(job);
  const ids = identities(report);
  const drives: LedgerDrive[] = view.drives.map((d) => {
    const id = ids.get(d.path) ?? {};
    return {
      role: d.role,
      path: d.path,
      ...(str(id.model) ?? d.model ? { model: str(id.model) ?? d.model } : {}),
      ...(str(id.serial) ?? d.serial ? { serial: str(id.serial) ?? d.serial } : {}),
      ...(str(id.wwn) ? { wwn: str(id.wwn) } : {}),
      ...(typeof id.size === 'number' ? { size: id.size } : {}),
      ...(d.role === 'target' && str(id.state) ? { state: str(id.state) } : {}),
      ...(d.role === 'target' && typeof id.verified === 'boolean' ? { verified: id.verified } : {}),
    };
  });
  const hashes = report.hashes && typeof report.hashes === 'object' ? Object.fromEntries(Object.entries(report.hashes as Record<string, unknown>).filter(([, v]) => typeof v === 'string')) as Record<string, string> : undefined;
  const code = str((job.result as { code?: unknown } | undefined)?.code);
  return {
    v: LEDGER_VERSION,
    station: o.station ?? hostname(),
    run: o.run,
    job: job.id,
    kind: job.kind.name,
    outcome: job.state,
    ...(code ? { code } : {}),
    ...(job.error ? { error: job.error } : {}),
    ...(job.startedAt ? { startedAt: new Date(job.startedAt).toISOString() } : {}),
    endedAt: new Date(job.endedAt ?? Date.now()).toISOString(),
    seconds: Number(report.seconds) || 0,
    bytes: view.bytesTotal,
    bytesDone: view.bytesDone,
    bytesBad: view.bytesBad,
    drives,
    ...(hashes && Object.keys(hashes).length > 0 ? { hashes } : {}),
  };
}
