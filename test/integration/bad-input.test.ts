// Every bad input, as data (test/integration/bad-input/*.ts), through the real CLI: exit 1, 2
// or 4 as the README's tables say, one line `clonestation: ... [CODE]` on stderr, no stack
// trace, no hang, and nothing written: every target's hash, every file in the case's folder,
// the named victims and the log folder are as they were. A few safety cases may succeed
// (exit 0: backup --keep beside hostile manifests, writes into larger files) but must touch
// nothing else. Cases that need loop devices, mounts or device nodes run as root only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, isRoot } from '../helpers/root.js';
import { attachShared, makeTemplates, runCase, type BadInputCase, type CaseResult, type Shared } from '../helpers/bad-input.js';
import { allCases, unknownSecondary } from './bad-input/cases.js';

// made when the tests start (not when the file is only collected, as by vitest list)
let base = '';
const shared: Shared = { templates: '', loops: {} };
const results: CaseResult[] = [];
let sharedLoops: ReturnType<typeof attachShared> | undefined;
let n = 0;

beforeAll(() => {
  base = mkdtempSync('/dev/shm/cs-bad-input-');
  shared.templates = join(base, 'templates');
  makeTemplates(shared.templates);
});

afterAll(() => {
  sharedLoops?.detach();
  // BAD_INPUT_RESULTS=file: every case's outcome as JSON, for the list of what fails today
  const out = process.env.BAD_INPUT_RESULTS;
  if (out) writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  if (base) rmSync(base, { recursive: true, force: true });
});

function check(c: BadInputCase): void {
  const i = n++;
  const r = runCase(c, join(base, `case-${String(i).padStart(3, '0')}`), join(base, `logs-${i}`), shared);
  results.push(r);
  const line = r.stderr.trimEnd().split('\n').slice(-3).join(' | ');
  expect(r.problems, `${c.args.join(' ')}\n  -> status ${r.status}, stderr: ${line}`).toEqual([]);
}

// BAD_INPUT_ALL=1: also the variants of each bad input on every other command that takes it
const cases = process.env.BAD_INPUT_ALL ? allCases : allCases.filter((c) => !c.extended);
if (unknownSecondary.length > 0) throw new Error(`bad-input: secondary names with no case: ${unknownSecondary.join('; ')}`);
const names = new Set<string>();
for (const c of allCases) {
  if (names.has(c.name)) throw new Error(`two bad-input cases named ${c.name}`);
  names.add(c.name);
}

/** loop devices, mounts and device nodes (mknod) need root */
const needsRoot = (c: BadInputCase): boolean => Boolean(c.root) || (c.setup ?? []).some((s) => 'node' in s);

describe('bad input, no root needed', () => {
  for (const c of cases.filter((c) => !needsRoot(c))) it(c.name, () => check(c));
});

describeRoot('bad input on loop devices and mounts', () => {
  beforeAll(() => {
    if (!isRoot) return;
    sharedLoops = attachShared(base);
    shared.loops = sharedLoops.loops;
  });
  for (const c of cases.filter(needsRoot)) it(c.name, () => check(c));
});
