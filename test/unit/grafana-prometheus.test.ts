// The fleet dashboard and the alert rules load: promtool checks the rules (and their unit tests) and every dashboard query; every metric they name is one a station exports.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { StationMetrics } from '../../src/metrics/station-metrics.js';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'cs-grafana-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function promtool(args: string[], cwd = root): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Panel {
  id: number;
  title: string;
  targets: { expr: string; refId: string }[];
}
const dashboard = JSON.parse(readFileSync(join(root, 'grafana', 'clonestation-fleet.json'), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };

/** Metric names a PromQL expression reads (identifiers followed by { or [ or a space, not functions or keywords). */
function metricNames(expr: string): string[] {
  return [...expr.replace(/"[^"]*"/g, '""').matchAll(/\b([a-z_][a-z0-9_]*)\s*(?=\{|\[)/g)].map((m) => m[1]).filter((n) => !['by', 'on', 'group_left', 'without', 'ignoring'].includes(n));
}

describe('the alert rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', 'prometheus/clonestation-alerts.yml']);
    expect(r.out).toMatch(/SUCCESS: 4 rules found/);
    expect(r.status).toBe(0);
  });
  it("fire as their unit tests say (job failed, drive slow, station down)", () => {
    const r = promtool(['test', 'rules', 'clonestation-alerts.test.yml'], join(root, 'prometheus'));
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });
});

describe('the Grafana dashboard', () => {
  const exported = (async () => {
    const m = new StationMetrics({ station: 's' });
    return new Set([...(await m.text()).matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name])));
  })();

  it('has panels for stations, bays, jobs by state, throughput per drive and failures, and a station variable', () => {
    const titles = dashboard.panels.map((p) => p.title).join(' | ');
    for (const want of [/Stations/, /Bays/, /Jobs by state/, /Throughput per drive/, /fail/i]) expect(titles).toMatch(want);
    expect(dashboard.templating.list.map((v) => v.name)).toContain('station');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
  });

  it('queries only metrics a station exports (or Prometheus and node_exporter have)', async () => {
    const names = await exported;
    for (const p of dashboard.panels) {
      for (const t of p.targets) {
        for (const n of metricNames(t.expr)) {
          if (n === 'up') continue;
          expect(names.has(n), `panel "${p.title}" reads ${n}`).toBe(true);
        }
      }
    }
  });

  it("every query is PromQL promtool accepts (Grafana's variables filled in)", () => {
    const rules = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ record: `dashboard:panel${p.id}_${t.refId}`, expr: t.expr.replaceAll('$station', '.*').replaceAll('$__range', '1h').replaceAll('$__rate_interval', '1m') })));
    expect(rules.length).toBeGreaterThan(10);
    // JSON is YAML: a rules file of one recording rule per query
    const f = join(dir, 'dashboard-rules.yml');
    writeFileSync(f, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = promtool(['check', 'rules', f]);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('and the alert rules read exported metrics too', async () => {
    const names = await exported;
    const text = readFileSync(join(root, 'prometheus', 'clonestation-alerts.yml'), 'utf8');
    const exprs = [...text.matchAll(/expr: (?:\|\n((?:\s{10}.*\n)+)|(.*))/g)].map((m) => m[1] ?? m[2]);
    expect(exprs.length).toBe(4);
    for (const e of exprs) for (const n of metricNames(e)) if (!['up', 'node_textfile_mtime_seconds'].includes(n)) expect(names.has(n), n).toBe(true);
  });
});
