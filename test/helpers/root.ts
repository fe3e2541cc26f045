// Integration tests need root (loop devices). Without it they skip, and say so loudly.
import { describe } from 'vitest';

export const isRoot = process.getuid?.() === 0;

/** describe() for tests that need root: skipped with a loud warning when not root. */
export function describeRoot(name: string, fn: () => void): void {
  if (!isRoot) {
    process.stderr.write(`\n!!! SKIPPING "${name}": needs root for loop devices (run the suite as root, as CI does) !!!\n\n`);
    describe.skip(name, fn);
    return;
  }
  describe(name, fn);
}
