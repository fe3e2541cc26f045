// `serve --watch DIR [JOBFILE...]`: a long-lived station: metrics up between runs, job files dropped into DIR run one after the other.
import { defineCommand } from '../command.js';
import { CancelledError, IoError, RefusedError, UsageError } from '../errors.js';
import { jsonOption, readTuning, stationFileOptions, tuningOptions } from './options.js';
import { stationOptions } from './clone.js';

const { report: _report, ...fileOptions } = stationFileOptions;

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'a long-lived station running job files dropped into a folder',
  args: '[JOBFILE...]',
  usage: [{ args: '--watch DIR [--metrics ADDRESS:PORT]', summary: 'run each job file dropped into DIR, until Ctrl-C or SIGTERM' }],
  options: {
    watch: { type: 'string', arg: 'DIR', group: 'Serve', help: 'run each job file (*.json) dropped into DIR, oldest first, one at a time; it moves to DIR/running, then DIR/done or DIR/failed beside its NAME.report.json' },
    poll: { type: 'count', min: 1, max: 60, arg: 'SECONDS', group: 'Serve', help: 'seconds between two looks at DIR; a file untouched this long is taken (write it elsewhere and rename it in)', defaultText: '1' },
    ...stationOptions,
    ...tuningOptions,
    ...fileOptions,
    ...jsonOption,
  },
  notes: [
    "A job file dropped into DIR is the go-ahead to overwrite its targets: serve asks nothing (as --yes). Each run's jobs are in the metrics as RUN.JOB (job_id=\"3.1\"), the newest 64 ended jobs kept. Ctrl-C or SIGTERM cancels the running job (its file goes to failed/) and ends serve; without --watch serve runs the JOBFILEs given and ends.",
  ],
  checkArgs: (positionals, given) => {
    if (!given.has('watch') && positionals.length === 0) throw new UsageError('serve needs --watch DIR or JOBFILEs (see clonestation serve --help)');
  },
  async run({ values, positionals }, context) {
    const rep = context.reporter(values.json);
    const dir = values.watch;
    if (dir !== undefined) {
      const { statSync } = await import('node:fs');
      let st: import('node:fs').Stats | undefined;
      try {
        st = statSync(dir);
      } catch {
        st = undefined;
      }
      if (!st?.isDirectory()) throw new UsageError(`--watch ${dir} is not a folder: make it, or give the folder job files are dropped into`, 'BAD_WATCH_DIR');
      // a job file dropped there overwrites drives without a question: only its owner may drop one
      if ((st.mode & 0o022) !== 0) throw new RefusedError('WATCH_DIR_OPEN', `--watch ${dir} can be written by others (mode ${(st.mode & 0o777).toString(8)}), and a job file there overwrites drives unasked: chmod go-w ${dir}`);
    }
    if (values['metrics-file'] !== undefined) {
      const { checkOutputPath } = await import('../outpath.js');
      checkOutputPath(values['metrics-file'], 'the metrics file', { code: 'BAD_METRICS_FILE', fix: 'give --metrics-file a writable file path' });
    }
    const { startExporters } = await import('../metrics/exporters.js');
    const exporters = await startExporters({ address: values.metrics, file: values['metrics-file'], interval: values['metrics-interval'] }, { version: context.version(), note: (m) => rep.note(m) });
    const { serve } = await import('../serve/serve.js');
    try {
      const verify = values['no-verify'] ? false : values.verify ? true : undefined;
      const { served, status } = await serve(
        {
          dir,
          files: positionals,
          options: { maxParallel: values['max-parallel'], ...readTuning(values), verify, hash: values.hash !== undefined ? [...values.hash] : undefined },
          exporters,
          ledgerPath: values['no-ledger'] ? false : (values.ledger ?? true),
          logPath: values.log,
          defaultLog: !values['no-log'],
          version: context.version(),
          pollSeconds: values.poll ?? 1,
        },
        rep,
        context.signal,
      );
      if (status === 130) throw new CancelledError(`serve stopped: the job file running was cancelled (moved to failed/)`);
      const failed = served.filter((s) => s.outcome === 'failed').length;
      rep.done({ message: `serve: ${served.length} job file(s) run, ${failed} failed`, served });
      if (status !== 0) throw new IoError('JOBS_FAILED', `${failed} job file(s) failed (see the summaries above)`);
      return status;
    } finally {
      await exporters?.stop();
    }
  },
});
