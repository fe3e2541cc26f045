// The operator's screen: a row per job, throughput charts, the selected job's block map, a
// log pane and a help line, redrawn at a few Hz from a DashboardSource. Keys select, pause,
// cancel, show a report and quit. Layout is rebuilt on every resize: compact below 120x34,
// rich above.
import blessed from 'blessed';
import contrib from 'blessed-contrib';
import { endedStates, type DashboardSource, type JobView } from './source.js';
import { Tracker, resample, type JobStats, type Timeline } from './model.js';
import { bar, fit, middle, shares, shortBytes, shortDuration, shortPath, shortRate } from './format.js';
import { cellAttr, legendOrder, linearMap, mapCells, statusColour, statusNames, swatch } from './blockmap.js';
import { LogFeed, type LogLine } from './logfeed.js';
import type { DriveView, MapView } from './source.js';

export interface DashboardOptions {
  input?: NodeJS.ReadableStream;
  /** the terminal: process.stdout's proxy (see capture.ts), or a fake stream in tests */
  output?: NodeJS.WritableStream;
  /** terminfo name; inside tmux 'tmux-256color' would drop blessed to 8 colours */
  terminal?: string;
  /** redraws per second (0: only when tick() is called, as tests do) */
  hz?: number;
  feed?: LogFeed;
  /** seconds, any origin (tests pass their own clock) */
  clock?: () => number;
  /** a second Ctrl-C: restore the terminal and leave now */
  onForce?: () => void;
}

type Modal = { kind: 'none' } | { kind: 'quit' } | { kind: 'cancel'; id: number } | { kind: 'report'; box: blessed.Widgets.BoxElement; id: number; text: string };

type Cell = [number, string];
/** blessed keeps the drawn screen in `lines` and the terminal's colours in `tput`; its typings omit both. */
interface ScreenInternals {
  lines: (Cell[] & { dirty?: boolean })[];
  tput: { colors: number; brokenACS: boolean };
  /** writes the changed lines of `lines` to the terminal */
  draw(start: number, end: number): void;
}

const stateColour: Record<string, string> = {
  queued: 'gray-fg',
  running: 'green-fg',
  paused: 'yellow-fg',
  'catching-up': 'cyan-fg',
  verifying: 'blue-fg',
  done: 'light-green-fg',
  failed: 'red-fg',
  cancelled: 'magenta-fg',
};
/** chart line colours for jobs, in order (the chart's canvas knows the 8 basic names); the aggregate is white */
const seriesColours = ['green', 'yellow', 'cyan', 'magenta', 'blue', 'red'];
export function isCompact(cols: number, rows: number): boolean {
  return cols < 120 || rows < 34;
}

export class Dashboard {
  readonly screen: blessed.Widgets.Screen;
  readonly feed: LogFeed;
  private readonly tracker = new Tracker();
  private readonly clock: () => number;
  private readonly t0: number;
  private jobsNow: JobView[] = [];
  private selected = 0;
  private modal: Modal = { kind: 'none' };
  private stopping = false;
  private interrupts = 0;
  private message = '';
  private quitResolve!: () => void;
  private readonly quit = new Promise<void>((r) => (this.quitResolve = r));
  private timer: NodeJS.Timeout | undefined;
  private lastChart = Number.NEGATIVE_INFINITY;
  private destroyed = false;
  private logKey = '';
  /** the first job row shown when not all fit */
  private tableTop = 0;
  private dirtyLayout = true;
  /** the last map drawn, as cells: recomputed only when the map, the job or the size changes */
  private mapCache: { key: string; view: MapView; cells: ReturnType<typeof mapCells> } | undefined;
  // widgets (rebuilt by layout())
  private w!: {
    header: blessed.Widgets.BoxElement;
    table: blessed.Widgets.BoxElement;
    detail?: blessed.Widgets.BoxElement;
    chart?: contrib.Widgets.LineElement;
    map: blessed.Widgets.BoxElement;
    legend: blessed.Widgets.BoxElement;
    log: blessed.Widgets.BoxElement;
    help: blessed.Widgets.BoxElement;
    modal?: blessed.Widgets.BoxElement;
  };
  compact = false;

  constructor(
    private readonly source: DashboardSource,
    opts: DashboardOptions = {},
  ) {
    this.feed = opts.feed ?? new LogFeed();
    this.clock = opts.clock ?? (() => performance.now() / 1000);
    this.t0 = this.clock();
    this.screen = blessed.screen({
      // @types/blessed swaps the stream types of input and output
      input: opts.input as unknown as blessed.Widgets.IScreenOptions['input'],
      output: opts.output as unknown as blessed.Widgets.IScreenOptions['output'],
      terminal: opts.terminal ?? 'xterm-256color',
      smartCSR: true,
      fullUnicode: true,
      // box lines and the position mark as Unicode, not the terminal's line-drawing set
      forceUnicode: true,
      warnings: false,
      autoPadding: false,
      title: `clonestation ${source.title}`,
    });
    this.onForce = opts.onForce;
    // The map needs UTF-8 anyway: draw lines and marks as Unicode too, not through the
    // terminal's line-drawing charset (which capture-pane and logs show as letters).
    (this.screen as unknown as ScreenInternals).tput.brokenACS = true;
    this.layout();
    this.screen.on('resize', () => {
      this.layout();
      this.tick();
    });
    this.screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined) => this.onKey(ch, key));
    this.tick();
    if ((opts.hz ?? 4) > 0) this.timer = setInterval(() => this.tick(), 1000 / (opts.hz ?? 4));
  }
  private readonly onForce: (() => void) | undefined;

  /** Resolves when the operator leaves: q after every job ended, or after a confirmed q / Ctrl-C once the jobs have stopped. */
  whenQuit(): Promise<void> {
    return this.quit;
  }

  /** Stop every job gracefully and leave when they have stopped (a confirmed q, Ctrl-C, SIGINT). */
  requestStop(): void {
    if (!this.stopping) {
      this.stopping = true;
      this.message = 'stopping every job gracefully (maps are saved)… Ctrl-C again leaves at once';
      this.source.stopAll();
    }
    this.tick();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.timer) clearInterval(this.timer);
    this.screen.destroy();
  }

  get selectedId(): number | undefined {
    return this.jobsNow[this.selected]?.id;
  }

  private get colours(): 256 | 8 {
    return (this.screen as unknown as ScreenInternals).tput.colors >= 256 ? 256 : 8;
  }

  // ---- layout ----------------------------------------------------------------------

  private layout(): void {
    const s = this.screen;
    for (const child of [...s.children]) child.detach();
    const cols = Math.max(20, Number(s.width));
    const rows = Math.max(8, Number(s.height));
    this.compact = isCompact(cols, rows);
    const jobs = Math.max(1, this.jobsNow.length || this.source.jobs().length);
    const header = blessed.box({ parent: s, top: 0, left: 0, width: '100%', height: 1, tags: true, wrap: false, style: { fg: 'white', bg: 'blue' } });
    const help = blessed.box({ parent: s, bottom: 0, left: 0, width: '100%', height: 1, tags: true, wrap: false, style: { fg: 'black', bg: 'white' } });
    if (this.compact) {
      // 80x24: header, table (no border), the map's legend line and its rows, log lines,
      // help. The table gets what its jobs need (leaving 4 rows); the rest is shared by the
      // map and the log, about 2:1.
      const tableH = Math.max(2, Math.min(jobs + 1, rows - 3 - 4));
      const avail = rows - 3 - tableH;
      const logH = Math.max(1, Math.min(8, Math.floor(avail / 3)));
      const mapH = Math.max(1, avail - logH);
      const table = blessed.box({ parent: s, top: 1, left: 0, width: '100%', height: tableH, tags: true, wrap: false });
      const legend = blessed.box({ parent: s, top: 1 + tableH, left: 0, width: '100%', height: 1, tags: true, wrap: false, style: { fg: 'white', bg: 'black' } });
      const map = blessed.box({ parent: s, top: 2 + tableH, left: 0, width: '100%', height: mapH, tags: false });
      const log = blessed.box({ parent: s, top: 2 + tableH + mapH, left: 0, width: '100%', height: rows - 3 - tableH - mapH, tags: true, wrap: false, style: { fg: 'gray' } });
      this.w = { header, table, map, legend, log, help };
    } else {
      const logH = Math.max(5, Math.min(10, Math.floor(rows / 5)));
      const tableH = Math.min(jobs + 3, Math.floor((rows - 2 - logH) * 0.45));
      const midTop = 1 + tableH;
      const midH = rows - 2 - logH - tableH;
      const table = blessed.box({ parent: s, top: 1, left: 0, width: '100%', height: tableH, tags: true, wrap: false, border: { type: 'line' }, label: ' jobs ', style: { border: { fg: 'gray' } } });
      const chartW = Math.floor(cols * 0.5);
      const chart = contrib.line({
        top: midTop,
        left: 0,
        width: chartW,
        height: midH,
        label: ' throughput MB/s (white: all jobs) ',
        border: { type: 'line', fg: 'gray' },
        showLegend: false,
        xLabelPadding: 3,
        xPadding: 4,
        numYLabels: 4,
        wholeNumbersOnly: false,
        style: { line: 'white', text: 'white', baseline: 'white' },
      } as unknown as contrib.Widgets.LineOptions) as unknown as contrib.Widgets.LineElement; // contrib's typings return a generic element
      // (the canvas gets its context on 'attach': append, not the parent option)
      s.append(chart);
      const detailH = Math.min(8, Math.max(4, Math.floor(midH / 3)));
      const detail = blessed.box({ parent: s, top: midTop, left: chartW, width: cols - chartW, height: detailH, tags: true, wrap: false, border: { type: 'line' }, label: ' selected job ', style: { border: { fg: 'gray' } } });
      const map = blessed.box({ parent: s, top: midTop + detailH, left: chartW, width: cols - chartW, height: midH - detailH - 1, border: { type: 'line' }, label: ' block map ', style: { border: { fg: 'gray' } } });
      const legend = blessed.box({ parent: s, top: midTop + midH - 1, left: chartW, width: cols - chartW, height: 1, tags: true, wrap: false });
      const log = blessed.box({ parent: s, top: midTop + midH, left: 0, width: '100%', height: logH, tags: true, wrap: false, border: { type: 'line' }, label: ' log ', style: { border: { fg: 'gray' } } });
      this.w = { header, table, detail, chart, map, legend, log, help };
      this.lastChart = Number.NEGATIVE_INFINITY;
    }
    this.dirtyLayout = true;
    this.w.map.on('render', (coords: { xi: number; xl: number; yi: number; yl: number } | undefined) => this.drawMap(coords));
    this.w.legend.on('render', (coords: { xi: number; xl: number; yi: number; yl: number } | undefined) => this.drawLegend(coords));
    if (this.modal.kind === 'report') this.modal = { kind: 'none' };
    this.drawModal();
  }

  // ---- drawing -----------------------------------------------------------------------

  /** Samples the source and redraws. Called by the timer; tests call it directly. */
  tick(): void {
    if (this.destroyed) return;
    const t = this.clock();
    const jobs = this.source.jobs();
    const grew = jobs.length !== this.jobsNow.length;
    this.jobsNow = jobs;
    if (grew && !this.compact) this.layout();
    if (this.selected >= jobs.length) this.selected = Math.max(0, jobs.length - 1);
    this.tracker.update(jobs, t);
    const stats = new Map(jobs.map((j) => [j.id, this.tracker.stats(j)] as const));
    this.w.header.setContent(this.headerText(jobs, t));
    this.w.table.setContent(this.tableLines(jobs, stats).join('\n'));
    if (this.w.detail) this.w.detail.setContent(this.detailLines(jobs[this.selected], stats.get(jobs[this.selected]?.id ?? -1)).join('\n'));
    this.w.legend.setContent(this.legendText());
    const sel = jobs[this.selected];
    if (!this.compact) this.w.map.setLabel(sel ? ` block map: job ${sel.id}${sel.map ? `, ${sel.pass === '-' ? sel.state : sel.pass}` : sel.drives.some((d) => d.role === 'source') ? ' (a clone: copied so far)' : ` (${sel.role}: no map, done so far)`} ` : ' block map ');
    // (the log pane is parsed again only when it has new lines or a new size)
    const logKey = `${this.feed.version} ${String(this.w.log.width)}x${String(this.w.log.height)}`;
    const logChanged = logKey !== this.logKey;
    if (logChanged) {
      this.logKey = logKey;
      // (one column spare: a line as wide as the box would wrap)
      this.w.log.setContent(this.logLines(Number(this.w.log.height) - (this.compact ? 0 : 2), Number(this.w.log.width) - (this.compact ? 1 : 3)).join('\n'));
    }
    this.w.help.setContent(this.helpText());
    // an open report follows the job while it runs (the scroll position is kept)
    if (this.modal.kind === 'report') {
      const text = this.reportText(this.modal.id);
      if (text !== this.modal.text) {
        this.modal.text = text;
        this.modal.box.setContent(text);
      }
    }
    // The chart and the log change once a second at most: a full render then (and with a
    // popup open); in between only the panes that follow every tick are redrawn, and the
    // screen's diff sends what changed.
    if (t - this.lastChart >= 1 || this.modal.kind !== 'none' || this.dirtyLayout || logChanged) {
      if (t - this.lastChart >= 1) this.lastChart = t;
      this.dirtyLayout = false;
      if (this.w.chart && this.lastChart === t) this.drawChart(jobs, t);
      this.screen.render();
    } else {
      for (const el of [this.w.header, this.w.table, this.w.detail, this.w.map, this.w.legend, this.w.help]) el?.render();
      const internals = this.screen as unknown as ScreenInternals;
      internals.draw(0, internals.lines.length - 1);
    }
    if (this.stopping && this.source.finished()) this.quitResolve();
  }

  private headerText(jobs: JobView[], t: number): string {
    const count = (st: string): number => jobs.filter((j) => j.state === st).length;
    const parts = ['running', 'paused', 'catching-up', 'verifying', 'queued', 'done', 'failed', 'cancelled'].filter((st) => count(st) > 0).map((st) => `${count(st)} ${st}`);
    const total = this.tracker.totalNow();
    return ` {bold}clonestation ${blessed.escape(this.source.title)}{/bold}  ${jobs.length} job(s): ${parts.join(', ') || 'none'}   all ${shortRate(total)} MB/s   ${shortDuration(t - this.t0)}`;
  }

  private columns(width: number, roleWidth = 6): { name: string; w: number; right?: boolean }[] {
    if (this.compact)
      return [
        { name: 'ID', w: 3, right: true },
        { name: 'DRIVES', w: 0 },
        { name: 'STATE', w: 9 },
        { name: 'PASS', w: 7 },
        { name: '%', w: 5, right: true },
        { name: 'MB/s', w: 6, right: true },
        { name: 'ETA', w: 7, right: true },
        { name: 'BAD', w: 8, right: true },
      ].map((c, _, all) => (c.w === 0 ? { ...c, w: Math.max(8, width - all.reduce((n, x) => n + x.w + 1, 0)) } : c));
    const barW = width >= 150 ? 20 : 10;
    return [
      { name: 'ID', w: 3, right: true },
      { name: 'ROLE', w: roleWidth },
      { name: 'DRIVES', w: 0 },
      { name: 'STATE', w: 11 },
      { name: 'PASS', w: 8 },
      { name: 'PROGRESS', w: barW },
      { name: '%', w: 6, right: true },
      { name: 'NOW MB/s', w: 8, right: true },
      { name: 'AVG MB/s', w: 8, right: true },
      { name: 'ETA', w: 11, right: true },
      { name: 'BAD', w: 9, right: true },
      { name: 'ERR', w: 5, right: true },
    ].map((c, _, all) => (c.w === 0 ? { ...c, w: Math.max(10, width - all.reduce((n, x) => n + x.w + 1, 0)) } : c));
  }

  /**
   * The DRIVES cell in `width` characters: paths with model and serial when they fit, else
   * the paths alone, else each path shortened in its middle, keeping its last name (what
   * tells one job's drives from another's: the file, the by-id name and its serial).
   */
  drivesText(j: JobView, width: number): string {
    const src = j.drives.find((d) => d.role === 'source');
    const tgts = j.drives.filter((d) => d.role === 'target');
    const shown = [src, ...(tgts.length <= 2 ? tgts : tgts.slice(0, 1))];
    const more = tgts.length > 2 ? ` +${tgts.length - 1}` : '';
    // a job with no source (a bench, an erase) names its drives alone
    const join = (names: string[]): string => (src ? `${names[0]} → ${names.slice(1).join(', ')}${more}` : `${names.slice(1).join(', ')}${more}`);
    const ident = (d: DriveView | undefined): string => (d && (d.model || d.serial) ? ` [${[d.model, d.serial].filter(Boolean).join(' ')}]` : '');
    const paths = shown.map((d) => d?.path ?? '?');
    if (!this.compact) {
      const full = join(shown.map((d, i) => `${paths[i]}${ident(d)}`));
      if (full.length <= width) return full;
    }
    const plain = join(paths);
    if (plain.length <= width) return plain;
    // what the arrows, commas and "+N" take; the rest is shared by the paths
    const glue = plain.length - paths.reduce((n, p) => n + p.length, 0);
    const room = shares(
      paths.map((p) => p.length),
      width - glue,
      4,
    );
    let short = paths.map((p, i) => shortPath(p, room[i]));
    // a path shortened to less than its share gives the rest to the others
    const spare = width - glue - short.reduce((n, p) => n + p.length, 0);
    if (spare > 0) {
      const cut = short.map((p, i) => (p.length < paths[i].length && p.length === room[i] ? i : -1)).filter((i) => i >= 0);
      cut.forEach((i, k) => (room[i] += Math.floor(spare / cut.length) + (k < spare % cut.length ? 1 : 0)));
      short = paths.map((p, i) => shortPath(p, room[i]));
    }
    return middle(join(short), width);
  }

  /** The table as tagged lines: a header, then one row per job (the selected one inverse). */
  tableLines(jobs: JobView[], stats: Map<number, JobStats>): string[] {
    const width = Number(this.w.table.width) - (this.compact ? 0 : 2);
    // the widest role of the jobs shown (a kind names its own: 1:3, rescue, restore), up to 16
    const cols = this.columns(width, Math.min(16, Math.max(6, ...jobs.map((j) => j.role.length))));
    const head = cols.map((c) => fit(c.name, c.w, c.right ? 'right' : 'left')).join(' ');
    const lines = [`{bold}${blessed.escape(head)}{/bold}`];
    // more jobs than rows: the rows scroll to keep the selected job in view
    const fits = Math.max(1, Number(this.w.table.height) - (this.compact ? 1 : 3));
    if (this.selected < this.tableTop) this.tableTop = this.selected;
    if (this.selected >= this.tableTop + fits) this.tableTop = this.selected - fits + 1;
    this.tableTop = Math.max(0, Math.min(this.tableTop, jobs.length - fits));
    jobs.forEach((j, i) => {
      if (i < this.tableTop || i >= this.tableTop + fits) return;
      const s = stats.get(j.id) ?? { now: 0, average: 0, eta: '-', percent: 0, history: [] };
      const cells: Record<string, string> = {
        ID: String(j.id),
        ROLE: j.role,
        DRIVES: this.drivesText(j, cols.find((c) => c.name === 'DRIVES')?.w ?? 0),
        STATE: j.state,
        PASS: j.pass,
        PROGRESS: bar(s.percent / 100, cols.find((c) => c.name === 'PROGRESS')?.w ?? 0),
        '%': s.percent.toFixed(1),
        'NOW MB/s': shortRate(s.now),
        'MB/s': shortRate(s.now),
        'AVG MB/s': shortRate(s.average),
        ETA: this.compact && j.badAreas && !endedStates.has(j.state) && j.state !== 'paused' ? '? bad' : s.eta,
        BAD: j.bytesBad > 0 ? shortBytes(j.bytesBad) : '0',
        ERR: String(j.errors),
      };
      const row = cols
        .map((c) => {
          const text = fit(cells[c.name] ?? '', c.w, c.right ? 'right' : 'left');
          const esc = blessed.escape(text);
          // (each colour closed by its own tag: '{/}' would also end the selected row's inverse)
          const colour = c.name === 'STATE' ? (stateColour[j.state] ?? 'white-fg') : c.name === 'BAD' && j.bytesBad > 0 ? 'red-fg' : c.name === 'ID' && !this.compact ? `${seriesColours[i % seriesColours.length]}-fg` : undefined;
          return colour ? `{${colour}}${esc}{/${colour}}` : esc;
        })
        .join(' ');
      // the selected row is inverse from edge to edge
      lines.push(i === this.selected ? `{inverse}${row}${' '.repeat(Math.max(0, width - cols.reduce((n, c) => n + c.w + 1, -1)))}{/inverse}` : row);
    });
    if (jobs.length === 0) lines.push('no jobs');
    return lines;
  }

  private detailLines(j: JobView | undefined, s: JobStats | undefined): string[] {
    if (!j) return ['no job selected'];
    const lines = [`{bold}job ${j.id}{/bold} (${blessed.escape(j.role)}): ${blessed.escape(j.state)}, ${blessed.escape(j.pass)}, ${shortBytes(j.bytesDone)} of ${shortBytes(j.bytesTotal)}, ETA ${blessed.escape(s?.eta ?? '-')}`];
    // (a path too long for the pane is cut in its middle, keeping its last name)
    const room = Number(this.w.detail?.width ?? 80) - 3 - ' from '.length;
    for (const d of j.drives) {
      const id = [d.model, d.serial ? `serial ${d.serial}` : undefined].filter(Boolean).join(', ');
      const path = shortPath(d.path, Math.max(12, room - (id ? id.length + 2 : 0)));
      lines.push(` ${d.role === 'source' ? 'from' : '  to'} ${blessed.escape(path)}${id ? `  {gray-fg}${blessed.escape(id)}{/gray-fg}` : ''}${d.note ? `  {yellow-fg}${blessed.escape(d.note)}{/yellow-fg}` : ''}`);
    }
    if (j.note) lines.push(` {yellow-fg}${blessed.escape(j.note)}{/yellow-fg}`);
    return lines;
  }

  private legendText(): string {
    const j = this.jobsNow[this.selected];
    // the swatches are coloured by drawLegend, from the map's own table (tags know no xterm indexes)
    const key = legendOrder.map((st) => `${swatch} ${statusNames[st]}`).join(' ');
    const what = this.compact ? (j ? `map, job ${j.id}: ` : '') : '';
    return ` ${what}${key} ◆ ${this.compact ? 'pos' : 'position'}`;
  }

  /** Gives the legend's swatches, in order, the colours the map's squares have. */
  private drawLegend(coords: { xi: number; xl: number; yi: number; yl: number } | undefined): void {
    if (!coords) return;
    const line = (this.screen as unknown as ScreenInternals).lines[coords.yi];
    if (!line) return;
    let k = 0;
    for (let x = coords.xi; x < coords.xl && x < line.length && k < legendOrder.length; x++) {
      if (line[x][1] !== swatch) continue;
      const colour = statusColour(legendOrder[k++], this.colours);
      line[x] = [(line[x][0] & ~(0x1ff << 9)) | (colour << 9), swatch];
    }
    line.dirty = true;
  }

  /** The last `n` log lines, each cut to `width` (a wrapped line would push the others out). */
  private logLines(n: number, width: number): string[] {
    const colour: Record<LogLine['level'], string> = { info: 'white-fg', warn: 'yellow-fg', error: 'red-fg' };
    return this.feed.lines.slice(-Math.max(0, n)).map((l) => `{${colour[l.level]}}${blessed.escape(fit(`${new Date(l.time).toTimeString().slice(0, 8)} ${l.text}`, width).trimEnd())}{/}`);
  }

  private helpText(): string {
    const allEnded = this.jobsNow.length > 0 && this.jobsNow.every((j) => endedStates.has(j.state));
    const keys = this.compact ? '↑↓/jk select  p pause  c cancel  r report  q quit' : '↑/↓ or j/k select   p pause/resume   c cancel job   r report   q quit   Ctrl-C stop all';
    const status = this.message || (allEnded ? 'every job has ended: q leaves and prints the summary' : '');
    return ` ${keys}${status ? `  │ ${blessed.escape(status)}` : ''}`;
  }

  private drawChart(jobs: JobView[], t: number): void {
    const chart = this.w.chart;
    if (!chart) return;
    // The time axis spans what there is to show (up to 3 minutes): a job of a few seconds
    // fills the chart with its curve. The rates are sampled at every tick, and resampled to
    // about one point per two braille dots of the chart's width.
    const span = this.tracker.span(t) ?? { from: t - 1, to: t };
    const width = Math.max(4, Number(chart.width) - 10);
    const n = Math.max(2, Math.min(width, 120));
    const seconds = span.to - span.from;
    const label = (i: number): string => {
      const ago = seconds * (1 - i / (n - 1));
      if (ago < 0.05) return t - span.to < 0.05 ? 'now' : 'end';
      return ago >= 60 ? `-${shortDuration(ago)}` : `-${ago >= 10 ? ago.toFixed(0) : ago.toFixed(1)}s`;
    };
    const x = Array.from({ length: n }, (_, i) => label(i));
    const line = (h: Timeline): number[] => resample(h, span.from, span.to, n).map((v) => v / 1e6);
    const series = jobs.map((j, i) => ({ title: `job ${j.id}`, x, y: line(this.tracker.timeline(j.id)), style: { line: seriesColours[i % seriesColours.length] } }));
    series.push({ title: 'all', x, y: line(this.tracker.totalTimeline()), style: { line: 'white' } });
    chart.setLabel(` throughput MB/s, last ${seconds >= 60 ? shortDuration(seconds) : `${Math.max(1, Math.round(seconds))} s`} (white: all jobs) `);
    // contrib's line chart looks for the highest value again for every point it plots
    // (quadratic: 16 jobs made it most of the dashboard's CPU); given maxY, it does not
    let max = 0;
    for (const se of series) for (const v of se.y) if (v > max) max = v;
    chart.options.maxY = Math.max(1, max * 1.2);
    chart.setData(series);
  }

  /** Writes the selected job's map straight into the screen buffer, after the box drew its border. */
  private drawMap(coords: { xi: number; xl: number; yi: number; yl: number } | undefined): void {
    if (!coords) return;
    const box = this.w.map;
    const b = this.compact ? 0 : 1;
    const x0 = coords.xi + b;
    const y0 = coords.yi + b;
    const width = coords.xl - coords.xi - 2 * b;
    const rows = coords.yl - coords.yi - 2 * b;
    const j = this.jobsNow[this.selected];
    if (!j || width <= 0 || rows <= 0) return;
    const view = j.map ?? linearMap(j.bytesDone, j.bytesTotal, endedStates.has(j.state));
    const key = `${j.id} ${width}x${rows} ${this.colours} ${j.map ? '' : `${view.current.pos}/${view.size}`}`;
    let cells: ReturnType<typeof mapCells>;
    if (this.mapCache && this.mapCache.key === key && (!j.map || this.mapCache.view === j.map)) cells = this.mapCache.cells;
    else {
      cells = mapCells(view, width, rows, this.colours);
      this.mapCache = { key, view, cells };
    }
    const lines = (this.screen as unknown as ScreenInternals).lines;
    for (let r = 0; r < rows; r++) {
      const line = lines[y0 + r];
      if (!line) continue;
      // (a render just before a resize may still have the old, larger coordinates)
      for (let c = 0; c < width && x0 + c < line.length; c++) {
        const cell = cells[r][c];
        line[x0 + c] = [cellAttr(cell.fg, cell.bg), cell.ch];
      }
      line.dirty = true;
    }
  }

  private drawModal(): void {
    // whatever a popup covered is drawn again by the next (full) render
    this.dirtyLayout = true;
    this.w.modal?.detach();
    this.w.modal = undefined;
    const m = this.modal;
    if (m.kind === 'quit' || m.kind === 'cancel') {
      const running = this.jobsNow.filter((j) => !endedStates.has(j.state)).length;
      const text = m.kind === 'quit' ? `Stop ${running} running job(s) gracefully and quit?\n(rescue maps are saved)\n\n y: yes    n / Esc: no` : `Cancel job ${m.id}?\n(the target is incomplete; a rescue map is saved)\n\n y: yes    n / Esc: no`;
      this.w.modal = blessed.box({ parent: this.screen, top: 'center', left: 'center', width: 56, height: 7, border: { type: 'line' }, tags: false, content: text, style: { border: { fg: 'yellow' }, fg: 'white', bg: 'black' }, label: ' confirm ' });
    }
  }

  // ---- keys --------------------------------------------------------------------------

  private onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined): void {
    const name = key?.full ?? key?.name ?? ch ?? '';
    if (name === 'C-c') {
      this.interrupts++;
      if (this.interrupts > 1) {
        this.onForce?.();
        return;
      }
      this.modal = { kind: 'none' };
      this.drawModal();
      this.requestStop();
      return;
    }
    const m = this.modal;
    if (m.kind === 'report') {
      if (name === 'escape' || name === 'q' || name === 'r' || name === 'enter') {
        m.box.detach();
        this.modal = { kind: 'none' };
        this.dirtyLayout = true;
        this.tick();
      } else if (name === 'up' || name === 'k') {
        m.box.scroll(-1);
        this.screen.render();
      } else if (name === 'down' || name === 'j') {
        m.box.scroll(1);
        this.screen.render();
      } else if (name === 'pageup') {
        m.box.scroll(-10);
        this.screen.render();
      } else if (name === 'pagedown' || name === 'space') {
        m.box.scroll(10);
        this.screen.render();
      }
      return;
    }
    if (m.kind === 'quit' || m.kind === 'cancel') {
      if (name === 'y') {
        this.modal = { kind: 'none' };
        this.drawModal();
        if (m.kind === 'quit') this.requestStop();
        else {
          this.source.cancel(m.id);
          this.message = `job ${m.id}: cancelling`;
          this.tick();
        }
      } else if (name === 'n' || name === 'escape' || name === 'q') {
        this.modal = { kind: 'none' };
        this.drawModal();
        this.tick();
      }
      return;
    }
    const j = this.jobsNow[this.selected];
    switch (name) {
      case 'up':
      case 'k':
        this.selected = Math.max(0, this.selected - 1);
        break;
      case 'down':
      case 'j':
        this.selected = Math.min(this.jobsNow.length - 1, this.selected + 1);
        break;
      case 'p':
        if (!j) break;
        if (!j.canPause) this.message = `job ${j.id} cannot pause (${j.role})`;
        else if (j.state === 'paused') {
          this.source.resume(j.id);
          this.message = `job ${j.id} resumed`;
        } else if (!endedStates.has(j.state) && j.state !== 'queued') {
          this.source.pause(j.id);
          this.message = `job ${j.id} paused`;
        } else this.message = `job ${j.id} is ${j.state}`;
        break;
      case 'c':
        if (!j) break;
        if (endedStates.has(j.state)) this.message = `job ${j.id} has already ended`;
        else {
          this.modal = { kind: 'cancel', id: j.id };
          this.drawModal();
        }
        break;
      case 'r':
        if (j) this.showReport(j.id);
        return;
      case 'q':
        if (this.jobsNow.every((x) => endedStates.has(x.state))) {
          this.quitResolve();
          return;
        }
        if (this.stopping) break;
        this.modal = { kind: 'quit' };
        this.drawModal();
        break;
      default:
        return;
    }
    this.tick();
  }

  /** The popup's text: the dashboard's figures for the job, then the source's report as JSON. */
  private reportText(id: number): string {
    let text: string;
    try {
      text = JSON.stringify(this.source.report(id), null, 2) ?? 'no report';
    } catch (e) {
      text = `no report: ${e instanceof Error ? e.message : String(e)}`;
    }
    const j = this.jobsNow.find((x) => x.id === id);
    if (!j) return text;
    const s = this.tracker.stats(j);
    const head = endedStates.has(j.state)
      ? `job ${id} ${j.state}: ${shortBytes(j.bytesDone)} of ${shortBytes(j.bytesTotal)}, ${shortRate(s.average)} MB/s on average`
      : `job ${id} ${j.state}, ${j.pass}: ${shortBytes(j.bytesDone)} of ${shortBytes(j.bytesTotal)} (${s.percent.toFixed(1)}%), ETA ${s.eta}\n${shortRate(s.now)} MB/s now, ${shortRate(s.average)} MB/s on average (time paused left out); updated live`;
    return `${head}\n\n${text}`;
  }

  private showReport(id: number): void {
    const text = this.reportText(id);
    const box = blessed.box({
      parent: this.screen,
      top: 'center',
      left: 'center',
      width: '80%',
      height: '80%',
      border: { type: 'line' },
      label: ` report: job ${id} (↑/↓ scroll, Esc closes) `,
      content: text,
      tags: false,
      scrollable: true,
      alwaysScroll: true,
      scrollbar: { ch: ' ', style: { bg: 'gray' } },
      style: { border: { fg: 'cyan' }, fg: 'white', bg: 'black' },
    });
    this.modal = { kind: 'report', box, id, text };
    this.screen.render();
  }
}
