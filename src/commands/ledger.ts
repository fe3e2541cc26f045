// `ledger [FILE...]`: the jobs stations have run, from their ledgers (one or several stations), filtered.
import { defineCommand } from '../command.js';
import { ExitStatus, UsageError } from '../errors.js';

/** A date or a moment: 2026-11-30 (that day, UTC), 2026-11-30T14:00Z, anything Date.parse reads with a year first. */
export function parseWhen(text: string, option: string): number {
  const t = /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(t)) throw new UsageError(`--${option} ${JSON.stringify(text).slice(0, 60)} is not a date: give e.g. 2026-11-30 or 2026-11-30T14:00:00Z`, 'BAD_DATE');
  return t;
}

export const ledgerCommand = defineCommand({
  name: 'ledger',
  summary: 'the jobs stations ran, from their ledgers',
  args: '[FILE...]',
  options: {
    serial: { type: 'string', arg: 'SERIAL', help: "only jobs with a drive of this serial number (source or target)" },
    kind: { type: 'string', arg: 'KIND', help: 'only jobs of this kind (clone, rescue, backup, restore, verify, bench)' },
    outcome: { type: 'enum', values: ['done', 'failed', 'cancelled'], help: 'only jobs that ended so' },
    since: { type: 'string', arg: 'DATE', help: 'only jobs ended at or after DATE (2026-11-30, 2026-11-30T14:00Z)' },
    until: { type: 'string', arg: 'DATE', help: 'only jobs ended before DATE' },
    json: { type: 'boolean', help: 'the records as JSON lines, as the ledger holds them' },
  },
  notes: [
    "Without FILE, this station's ledger (~/.local/state/clonestation/ledger.jsonl, or $CLONESTATION_LEDGER). Several FILEs (each station's ledger) are joined in time order, a job in two of them listed once. A line that is not a record is reported on stderr and skipped.",
  ],
  async run({ values, positionals }) {
    const { defaultLedgerPath, readLedger } = await import('../ledger/file.js');
    const { joinLedgers } = await import('../ledger/filter.js');
    const { ledgerTable } = await import('../ledger/table.js');
    const filter = {
      serial: values.serial,
      kind: values.kind,
      outcome: values.outcome,
      since: values.since !== undefined ? parseWhen(values.since, 'since') : undefined,
      until: values.until !== undefined ? parseWhen(values.until, 'until') : undefined,
    };
    const files = positionals.length > 0 ? positionals : [defaultLedgerPath()];
    const lists = files.map((f) => {
      try {
        return readLedger(f);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && positionals.length === 0) return { records: [], problems: [] };
        throw new UsageError(`the ledger ${f} cannot be read (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder' : e instanceof Error ? e.message : String(e)}): give a ledger file`, 'BAD_LEDGER');
      }
    });
    for (const l of lists) for (const p of l.problems) process.stderr.write(`clonestation: ledger ${p.file} line ${p.line}: ${p.why}; skipped\n`);
    const records = joinLedgers(lists.map((l) => l.records), filter);
    if (values.json) process.stdout.write(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    else process.stdout.write(records.length > 0 ? `${ledgerTable(records).join('\n')}\n` : 'no jobs\n');
    return ExitStatus.ok;
  },
});
