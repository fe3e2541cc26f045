// A station run's ledger: each job that ran is appended as it ends; a ledger that cannot be written is said once, and the jobs go on.
import type { StationJob } from '../jobs/kind.js';
import { appendLedger, defaultLedgerPath } from './file.js';
import { ledgerRecord } from './record.js';

export interface StationLedger {
  readonly path: string;
  append: (job: StationJob) => void;
}

export function stationLedger(path: string | undefined, note: (m: string) => void, run = `${new Date().toISOString()}-${process.pid}`): StationLedger {
  const file = path ?? defaultLedgerPath();
  let failed = false;
  return {
    path: file,
    append: (job) => {
      try {
        appendLedger(file, ledgerRecord(job, { run }));
      } catch (e) {
        if (!failed) note(`the ledger ${file} could not be written (${e instanceof Error ? e.message : String(e)}): this run's jobs are not in it`);
        failed = true;
      }
    },
  };
}
