// The folder the tests' station runs log to (vitest.config.ts puts it in the environment),
// removed when the run ends.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const testLogDir = join(tmpdir(), `clonestation-test-logs-${process.pid}`);

export function teardown(): void {
  rmSync(testLogDir, { recursive: true, force: true });
}
