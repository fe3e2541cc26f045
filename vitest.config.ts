import { defineConfig } from 'vitest/config';
import { testLogDir } from './test/helpers/log-dir.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file in its own process: native engines, loop devices and signals stay apart.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // Stations log every run by default; the tests' runs go to a folder of their own.
    env: { CLONESTATION_LOG_DIR: testLogDir, CLONESTATION_LEDGER: `${testLogDir}/ledger.jsonl` },
    globalSetup: ['test/helpers/log-dir.ts'],
  },
});
