// A DashboardSource of given snapshots, recording the commands it receives.
import type { DashboardSource, JobView } from '../../dashboard/source.js';
import { endedStates } from '../../dashboard/source.js';

export class FakeSource implements DashboardSource {
  readonly title = 'test';
  readonly calls: string[] = [];
  constructor(public views: JobView[]) {}
  jobs(): JobView[] {
    return this.views;
  }
  pause(id: number): void {
    this.calls.push(`pause ${id}`);
    this.set(id, { state: 'paused' });
  }
  resume(id: number): void {
    this.calls.push(`resume ${id}`);
    this.set(id, { state: 'running' });
  }
  cancel(id: number): void {
    this.calls.push(`cancel ${id}`);
    this.set(id, { state: 'cancelled' });
  }
  report(id: number): unknown {
    this.calls.push(`report ${id}`);
    return { id, state: this.views.find((v) => v.id === id)?.state, note: 'fake report' };
  }
  stopAll(): void {
    this.calls.push('stopAll');
    for (const v of this.views) if (!endedStates.has(v.state)) this.set(v.id, { state: 'cancelled' });
  }
  finished(): boolean {
    return this.views.every((v) => endedStates.has(v.state));
  }
  set(id: number, patch: Partial<JobView>): void {
    this.views = this.views.map((v) => (v.id === id ? { ...v, ...patch } : v));
  }
}

export function cloneView(id: number, patch: Partial<JobView> = {}): JobView {
  return {
    id,
    role: 'pair',
    drives: [
      { role: 'source', path: `/dev/sd${String.fromCharCode(97 + id)}`, model: 'WDC WD40EFRX', serial: `WD-${id}000` },
      { role: 'target', path: `/dev/sd${String.fromCharCode(107 + id)}`, model: 'ST4000DM004', serial: `ZC${id}999` },
    ],
    state: 'running',
    pass: 'copy',
    bytesDone: 0,
    bytesTotal: 4 * 2 ** 30,
    bytesBad: 0,
    errors: 0,
    elapsed: 0,
    badAreas: false,
    canPause: true,
    ...patch,
  };
}
