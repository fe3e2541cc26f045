// The crash journal beside a map: the engine appends every finished chunk to the current
// journal file as it finishes, so a process killed at any instant loses only the chunks in
// flight. Journals are numbered; a map save rotates to the next one first, so every record
// is either in the saved map or in a journal that still exists.
import { existsSync, lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Extent } from '../extent.js';
import { UsageError } from '../errors.js';
import { checkOutputPath, notAFile, readInputFile } from '../outpath.js';

/** A journal holds the chunks finished between two map saves: far below this. */
const MAX_JOURNAL_BYTES = 256 * 1024 * 1024;

export class JournalSet {
  private n: number;

  constructor(private readonly mapPath: string) {
    this.n = Math.max(0, ...this.existing().map((j) => j.n)) + 1;
  }

  /** The file new records go to. */
  get current(): string {
    return this.pathOf(this.n);
  }

  /** Moves on to a new journal file; returns the one records went to until now. */
  rotate(): { previous: string; next: string } {
    const previous = this.current;
    this.n += 1;
    return { previous, next: this.current };
  }

  /**
   * Checks, before anything is written, that every journal left by an earlier run is a
   * regular file (replay reads it, a save deletes it) and that the next one can be made:
   * a FIFO, device or folder named like a journal is refused (BAD_MAP), never opened.
   */
  check(): void {
    for (const j of this.existing()) {
      const kind = notAFile(lstatSync(j.path));
      if (kind) throw new UsageError(`cannot use the crash journal ${j.path} of map ${this.mapPath}: ${kind}: move it away`, 'BAD_MAP', { path: j.path });
    }
    checkOutputPath(this.current, 'the crash journal', { code: 'BAD_MAP', fix: 'give the map a path in a writable folder' });
  }

  /** Finished extents recorded in every journal left by earlier runs, oldest first. */
  replay(): Extent[] {
    const out: Extent[] = [];
    for (const j of this.existing()) {
      const text = readInputFile(j.path, 'crash journal', MAX_JOURNAL_BYTES, { code: 'BAD_MAP', tooLarge: 'too large to be a journal: move it away' })?.toString('utf8') ?? '';
      for (const line of text.split('\n')) {
        // A line cut by a machine crash has no status: skip it, the chunk is read again.
        const m = /^\s*(0x[0-9a-f]+|\d+)\s+(0x[0-9a-f]+|\d+)\s+\+\s*$/i.exec(line);
        if (m) out.push({ offset: Number(m[1]), length: Number(m[2]) });
      }
    }
    return out;
  }

  /** Deletes journals numbered below `keepFrom` (their records are in a saved map). */
  removeBefore(keepFrom = this.n): void {
    for (const j of this.existing()) if (j.n < keepFrom) unlinkSync(j.path);
  }

  private pathOf(n: number): string {
    return `${this.mapPath}.journal-${n}`;
  }

  private existing(): { n: number; path: string }[] {
    const dir = dirname(this.mapPath);
    const prefix = `${basename(this.mapPath)}.journal-`;
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)))
      .map((f) => ({ n: Number(f.slice(prefix.length)), path: join(dir, f) }))
      .sort((a, b) => a.n - b.n);
  }

  /** The number of the current journal (for removeBefore after a save). */
  get number(): number {
    return this.n;
  }
}
