// Job files are untrusted input: each bad one (a table, as data) is one BAD_JOBFILE (exit 2)
// that names what is wrong; a FIFO, a device or a huge file is refused without being read.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOBFILE_MAX_BYTES, firstBadByte, jsonErrorText, parseJobFile } from '../../src/station/jobfile.js';
import { CloneStationError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'cs-jobfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ok = { source: '/dev/a', targets: ['/dev/b'] };
const doc = (o: unknown): string => JSON.stringify(o);

/** text of the job file, and what the one-line message must say */
const badTexts: { name: string; text: string; says: RegExp }[] = [
  { name: 'not JSON at all', text: 'hello', says: /is not JSON: .* at line 1, column 1/ },
  { name: 'a cut-off file', text: '{"jobs": [', says: /is not JSON: Unexpected end of JSON input at line 1, column 11/ },
  { name: 'a trailing comma on line 3', text: '{\n  "jobs": [\n    {"source": "/a", "targets": ["/b"],}\n  ]\n}', says: /is not JSON: .* at line 3, column 40/ },
  { name: 'a bad literal', text: '{"jobs": tru}', says: /is not JSON: .* at line 1, column 13/ },
  { name: 'a control character in a string', text: '{"jobs": ["a\u0001"]}', says: /is not JSON: .*at line 1, column 13/ },
  { name: 'garbage after the object', text: '{"jobs": []} x', says: /is not JSON: .* at line 1, column 14/ },
  { name: 'an empty file', text: '', says: /is not JSON: Unexpected end of JSON input at line 1, column 1/ },
  { name: 'null', text: 'null', says: /must be a JSON object with a "jobs" array/ },
  { name: 'an array', text: '[]', says: /must be a JSON object/ },
  { name: 'a string', text: '"jobs"', says: /must be a JSON object/ },
  { name: 'no jobs', text: '{}', says: /needs a "jobs" array/ },
  { name: 'jobs not an array', text: doc({ jobs: {} }), says: /needs a "jobs" array/ },
  { name: 'empty jobs', text: doc({ jobs: [] }), says: /"jobs" is empty/ },
  { name: 'an unknown top-level field', text: doc({ jobs: [ok], maxparallel: 2 }), says: /unknown field "maxparallel" \(known: jobs, maxParallel, verify, metrics\)/ },
  { name: 'a misspelt verify', text: doc({ jobs: [ok], verfy: true }), says: /unknown field "verfy"/ },
  { name: 'an unknown job field', text: doc({ jobs: [{ ...ok, colour: 'red' }] }), says: /job 1 has an unknown field "colour"/ },
  { name: 'simulateErrors (not for job files)', text: doc({ jobs: [{ ...ok, simulateErrors: '/m' }] }), says: /job 1 has an unknown field "simulateErrors"/ },
  { name: 'maxParallel 0', text: doc({ jobs: [ok], maxParallel: 0 }), says: /"maxParallel" must be a whole number from 1 to 64/ },
  { name: 'maxParallel 65', text: doc({ jobs: [ok], maxParallel: 65 }), says: /"maxParallel" must be a whole number from 1 to 64/ },
  { name: 'maxParallel a string', text: doc({ jobs: [ok], maxParallel: '4' }), says: /"maxParallel"/ },
  { name: 'maxParallel 2.5', text: doc({ jobs: [ok], maxParallel: 2.5 }), says: /"maxParallel"/ },
  { name: 'verify a string', text: doc({ jobs: [ok], verify: 'yes' }), says: /"verify" must be true or false/ },
  { name: 'a job that is null', text: doc({ jobs: [null] }), says: /job 1 is not an object/ },
  { name: 'a job that is an array', text: doc({ jobs: [ok, ['/a', '/b']] }), says: /job 2 is not an object/ },
  { name: 'no source', text: doc({ jobs: [{ targets: ['/b'] }] }), says: /job 1 needs a "source" path/ },
  { name: 'an empty source', text: doc({ jobs: [{ source: '', targets: ['/b'] }] }), says: /job 1 needs a "source" path/ },
  { name: 'a source with a NUL', text: doc({ jobs: [{ source: '/a\u0000b', targets: ['/b'] }] }), says: /job 1 needs a "source" path/ },
  { name: 'a numeric source', text: doc({ jobs: [{ source: 7, targets: ['/b'] }] }), says: /job 1 needs a "source" path/ },
  { name: 'targets a string', text: doc({ jobs: [{ source: '/a', targets: '/b' }] }), says: /job 1 needs "targets": a list of paths/ },
  { name: 'no targets', text: doc({ jobs: [{ source: '/a', targets: [] }] }), says: /job 1 needs "targets"/ },
  { name: 'an empty target', text: doc({ jobs: [{ source: '/a', targets: ['/b', ''] }] }), says: /job 1 needs "targets"/ },
  { name: 'a target that is null', text: doc({ jobs: [{ source: '/a', targets: [null] }] }), says: /job 1 needs "targets"/ },
  { name: 'a negative offset', text: doc({ jobs: [{ ...ok, offset: -4096 }] }), says: /job 1: "offset" must be a size/ },
  { name: 'a fractional length', text: doc({ jobs: [{ ...ok, length: 1.5 }] }), says: /job 1: "length" must be a size/ },
  { name: 'an empty targetOffset', text: doc({ jobs: [{ ...ok, targetOffset: ' ' }] }), says: /job 1: "targetOffset" must be a size/ },
  { name: 'an offset that is an object', text: doc({ jobs: [{ ...ok, offset: {} }] }), says: /job 1: "offset" must be a size/ },
  { name: 'a map that is a number', text: doc({ jobs: [{ ...ok, map: 3 }] }), says: /job 1 needs a "map" path/ },
  { name: 'an empty map', text: doc({ jobs: [{ ...ok, map: '' }] }), says: /job 1 needs a "map" path/ },
  { name: 'a map with two targets', text: doc({ jobs: [{ source: '/a', targets: ['/b', '/c'], map: '/m' }] }), says: /job 1: "targets" must hold exactly 1 path, not 2/ },
  { name: 'a bad third job', text: doc({ jobs: [ok, ok, { source: '/a' }] }), says: /job 3 needs "targets"/ },
];

async function refusal(path: string): Promise<CloneStationError> {
  try {
    await parseJobFile(path);
  } catch (e) {
    if (e instanceof CloneStationError) return e;
    throw e;
  }
  throw new Error(`${path} was accepted`);
}

describe('job files', () => {
  it.each(badTexts)('refuses $name: BAD_JOBFILE, exit 2, one line naming it', async ({ name, text, says }) => {
    const f = join(dir, `${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(f, text);
    const e = await refusal(f);
    expect(e.code).toBe('BAD_JOBFILE');
    expect(e.exitStatus).toBe(2);
    expect(e.message).toMatch(says);
    expect(e.message).toContain(f);
    expect(e.message).not.toMatch(/[\n\r]/);
  });

  it('refuses what is not a regular file, without opening or reading it', async () => {
    const fifo = join(dir, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    const folder = join(dir, 'folder.json');
    mkdirSync(folder);
    // a FIFO nobody writes would block a plain read forever; /dev/zero would fill memory
    for (const [path, what] of [[fifo, 'a FIFO'], ['/dev/zero', 'a character device'], [folder, 'a folder']] as const) {
      const e = await refusal(path);
      expect(e.code, path).toBe('BAD_JOBFILE');
      expect(e.exitStatus).toBe(2);
      expect(e.message).toContain(`it is ${what}`);
    }
  });

  it('refuses a job file larger than the limit before reading it', async () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, '');
    truncateSync(big, JOBFILE_MAX_BYTES + 1); // sparse: nothing to read, but too large
    const e = await refusal(big);
    expect(e.code).toBe('BAD_JOBFILE');
    expect(e.message).toMatch(/more than a job file may be/);
  });

  it('says NOT_FOUND for a missing job file', async () => {
    const e = await refusal(join(dir, 'missing.json'));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.exitStatus).toBe(2);
  });

  it('reads a good job file, a link to one, and one with a byte order mark', async () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, `\uFEFF${doc({ jobs: [ok, { source: '/a', targets: ['/b'], offset: 4096, length: '1MiB', map: '/m' }], maxParallel: 2, verify: true })}`);
    const link = join(dir, 'link.json');
    execFileSync('ln', ['-s', good, link]);
    for (const f of [good, link]) {
      const got = await parseJobFile(f);
      expect(got.maxParallel).toBe(2);
      expect(got.verify).toBe(true);
      expect(got.jobs).toEqual([
        { kind: 'clone', source: '/dev/a', targets: ['/dev/b'] },
        { kind: 'rescue', source: '/a', targets: ['/b'], offset: '4096', length: '1MiB', map: '/m' },
      ]);
    }
  });

  it('finds where JSON goes wrong when Node does not say', () => {
    expect(firstBadByte('{"a": [1, 2, x]}')).toBe(13);
    expect(firstBadByte('{"a": 1}')).toBeUndefined();
    expect(firstBadByte('{"a": 01}')).toBe(7);
    expect(firstBadByte('  {"a" 1}')).toBe(7);
    expect(jsonErrorText('x', new SyntaxError('Unexpected token \'x\', "x" is not valid JSON'))).toBe("Unexpected token 'x' at line 1, column 1 (character 1)");
  });
});
