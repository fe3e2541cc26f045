// `bench DRIVE...`: sequential and random figures per drive, many drives at once (a station of bench jobs).
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { jsonOption, stationFileOptions, uiOption, yesOption } from './options.js';
import { stationCommand } from './shared.js';

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'measure drives: MB/s, IOPS, latency percentiles (as fio)',
  args: 'DRIVE...',
  options: {
    profile: { type: 'enum', values: ['default', 'quick', 'peak', 'realworld'], group: 'Tests', help: "CrystalDiskMark's set, read and write (SEQ1M Q8T1, SEQ1M Q1T1, RND4K Q32T1, RND4K Q1T1), loops averaged; quick: short; peak: SEQ1M Q8T1 and RND4K Q32T16, best loop; realworld: the Q1T1 tests", default: 'default' },
    test: { type: 'string', multiple: true, arg: 'SPEC', group: 'Tests', help: 'a custom test instead (repeat it): rw=PATTERN,bs=SIZE,qd=N,jobs=N with PATTERN read, write, randread, randwrite, rw or randrw (and mix=READ% for rw, randrw)' },
    threads: { type: 'boolean', group: 'Tests', help: 'add RND4K Q32T16 to the default set' },
    'read-only': { type: 'boolean', group: 'Tests', help: 'skip the write tests: nothing is written' },
    runtime: { type: 'string', arg: 'SECONDS', group: 'Tests', help: 'measured per test and loop', defaultText: '5 (quick: 1)' },
    ramp: { type: 'string', arg: 'SECONDS', group: 'Tests', help: 'before each, not counted', defaultText: '1 (quick: 0.25)' },
    loops: { type: 'count', min: 1, max: 100, group: 'Tests', help: 'loops of each test', defaultText: '1' },
    size: { type: 'size', asText: true, group: 'Tests', help: 'the range tested; for a new test file, its size', defaultText: 'the whole drive; a test file 1GiB' },
    offset: { type: 'size', asText: true, group: 'Tests', help: 'start of the range tested', defaultText: '0' },
    precondition: { type: 'boolean', group: 'Tests', help: 'first fill the range, then random 4K writes until IOPS are steady (SNIA: within 20%, slope within 10% over 5 rounds)' },
    zeros: { type: 'boolean', group: 'Tests', help: 'write zeros instead of incompressible data' },
    'one-at-a-time': { type: 'boolean', group: 'Station', help: 'one drive after another (default: all at once, to see a shared HBA or hub limit)' },
    backend: { type: 'enum', values: ['auto', 'io_uring', 'threads'], group: 'Engine tuning', arg: 'B', help: 'auto (io_uring, else threads), io_uring, or threads', defaultText: 'auto' },
    ...yesOption,
    json: { ...jsonOption.json, help: "fio's JSON output on stdout (jobs[].read/write: bw, iops, clat_ns with percentiles), one job per drive and test, for tools that read fio's" },
    ...uiOption,
    ...stationFileOptions,
  },
  notes: [
    'DRIVE is a block device, or the path of a new test file (made, filled, tested and removed). Read tests never write; write tests destroy the data in the range tested, so they get clone\'s refusals (mounted, system, held drives) and one question naming each drive (or --yes).',
  ],
  checkArgs: (positionals) => {
    if (positionals.length === 0) throw new UsageError('bench needs at least one DRIVE (see clonestation bench --help)');
  },
  async run({ values, positionals }, context) {
    const entries = positionals.map((drive) => ({
      kind: 'bench',
      drive,
      profile: values.profile,
      tests: values.test,
      threads: values.threads,
      readOnly: values['read-only'],
      runtime: values.runtime,
      ramp: values.ramp,
      loops: values.loops,
      size: values.size,
      offset: values.offset,
      precondition: values.precondition,
      zeros: values.zeros,
    }));
    const { benchSummary } = await import('./bench-summary.js');
    return stationCommand(
      entries,
      // the station's own report is human text on stderr; stdout gets fio's JSON or the comparison
      { ...values, json: false, hash: undefined, ...(values.json && !values.ui ? { 'no-ui': true } : {}) },
      { backend: values.backend ?? 'auto' },
      context,
      { maxParallel: values['one-at-a-time'] ? 1 : Math.min(64, positionals.length) },
      'bench',
      (jobs) => process.stdout.write(benchSummary(jobs, { json: values.json ?? false, version: context.version() })),
    );
  },
});
