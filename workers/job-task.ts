// A piscina task: one station job of any kind, whole, in one worker thread. The kind's
// module (the file that declared it) is imported here and its run() does the work; this
// file knows no kind by name.
import { pathToFileURL } from 'node:url';
import { workerData } from 'node:worker_threads';
import type { JobTask } from '../src/contract.js';
import type { JobKind, JobResult } from '../src/jobs/kind.js';
import { InternalError } from '../src/errors.js';
import { trace } from '../src/trace.js';

trace('job-task: module evaluated');

const loaded = new Map<string, Promise<JobKind>>();

function kindIn(file: string): Promise<JobKind> {
  let k = loaded.get(file);
  if (!k) {
    k = import(pathToFileURL(file).href).then((m: { default?: JobKind }) => {
      if (!m.default || typeof m.default.run !== 'function') throw new InternalError(`${file} exports no job kind`);
      return m.default;
    });
    loaded.set(file, k);
  }
  return k;
}

// The kinds the station's jobs are of, imported now, while the main thread plans (a failure
// shows when a task of that kind runs).
for (const f of (workerData as { preload?: string[] } | undefined)?.preload ?? []) kindIn(f).catch(() => undefined);

export default async function jobTask(task: JobTask): Promise<JobResult> {
  const kind = await kindIn(task.module);
  return kind.run(task.payload, { control: new Int32Array(task.control), port: task.port, counters: task.counters });
}
