import type { Batch } from './types';

/** How much history the charts show. */
export const WINDOW_MS = 60_000;
/** Hard cap on points, whatever the tick (10 ms ticks would want 6001). */
export const MAX_POINTS = 6000;

/** The per-tick values kept for the charts, one column each. */
export const COLUMNS = [
  /** unix seconds (uPlot's time scale) */
  'x',
  /** latency percentiles of the tick, ms; null when nothing was processed */
  'p50',
  'p99',
  /** the deadline in force, ms (config.deadlineMs, else the events' deadline) */
  'deadline',
  /** finished per second: the tick's counts × 1000/tickMs */
  'onTime',
  'late',
  'dropped',
  /** (late + dropped) / finished of the tick, percent; null when none finished */
  'miss',
  'queue',
  'queueCap',
  'busy',
  'workers',
] as const;

export type Column = (typeof COLUMNS)[number];

/** One committed copy of the ring, oldest first; null marks a gap. */
export type SeriesData = Readonly<Record<Column, readonly (number | null)[]>> & {
  readonly length: number;
  /** +1 per commit */
  readonly version: number;
};

export interface SeriesOptions {
  windowMs?: number;
  maxPoints?: number;
}

/** Points for windowMs at tickMs, both ends included, at most maxPoints. */
export function capacityFor(tickMs: number, windowMs = WINDOW_MS, maxPoints = MAX_POINTS): number {
  const tick = tickMs > 0 ? tickMs : 100;
  return Math.max(2, Math.min(maxPoints, Math.ceil(windowMs / tick) + 1));
}

function emptyData(version: number): SeriesData {
  const cols = {} as Record<Column, (number | null)[]>;
  for (const c of COLUMNS) cols[c] = [];
  return Object.freeze({ ...cols, length: 0, version });
}

type Row = Record<Column, number>;

/**
 * The chart history: a ring of per-tick points covering the last 60 s
 * (capacityFor(tickMs) points, at most 6000), fed with every accepted batch
 * by the RealtimeClient and committed at most once per animation frame (the
 * client calls flush() from its frame callback). Charts subscribe directly
 * and call uPlot's setData: React never re-renders for them.
 *
 * Plain class, no React and no DOM.
 */
export class SeriesModel {
  readonly windowMs: number;
  readonly maxPoints: number;

  private cap: number;
  private cols: Record<Column, Float64Array>;
  /** index of the oldest point */
  private head = 0;
  private len = 0;

  private startedAt: number | null = null;
  private lastSeq: number | null = null;
  private lastAt = 0;
  private lastDeadline = NaN;

  private dirty = false;
  private committed: SeriesData = emptyData(0);
  private listeners = new Set<(d: SeriesData) => void>();

  constructor(options: SeriesOptions = {}) {
    this.windowMs = options.windowMs ?? WINDOW_MS;
    this.maxPoints = options.maxPoints ?? MAX_POINTS;
    this.cap = capacityFor(100, this.windowMs, this.maxPoints);
    this.cols = this.alloc(this.cap);
  }

  /** Points held now (committed or not). */
  get length(): number {
    return this.len;
  }

  /** The ring's size for the current tick. */
  get capacity(): number {
    return this.cap;
  }

  /** The last committed data (what the charts show). */
  getData = (): SeriesData => this.committed;

  subscribe = (fn: (d: SeriesData) => void): (() => void) => {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  };

  /**
   * Adds a batch's point. A batch from another server run (startedAt
   * changed) starts a fresh history; a seq already seen is ignored; a seq
   * gap leaves a gap in the lines. Returns whether the point was added.
   */
  push(b: Batch): boolean {
    if (this.startedAt !== null && b.startedAt !== this.startedAt) this.clear();
    if (this.lastSeq !== null && b.seq <= this.lastSeq) return false;
    const tick = b.tickMs > 0 ? b.tickMs : 100;
    this.resize(capacityFor(tick, this.windowMs, this.maxPoints));

    if (this.lastSeq !== null && b.seq > this.lastSeq + 1 && this.len > 0 && b.at > this.lastAt) {
      // Batches were missed: a null point between the two breaks the lines.
      this.append(this.gapRow((this.lastAt + b.at) / 2));
    }
    this.append(this.rowOf(b, tick));
    this.startedAt = b.startedAt;
    this.lastSeq = b.seq;
    this.lastAt = b.at;

    // Keep the last windowMs (time-based: ticks can change).
    const oldest = (b.at - this.windowMs) / 1000;
    const x = this.cols.x;
    while (this.len > 1 && x[this.head]! < oldest) this.dropOldest();
    this.dirty = true;
    return true;
  }

  /** Forgets every point (the next commit shows empty charts). */
  clear(): void {
    this.head = 0;
    this.len = 0;
    this.startedAt = null;
    this.lastSeq = null;
    this.lastAt = 0;
    this.lastDeadline = NaN;
    this.dirty = true;
  }

  /**
   * Commits the points added since the last commit and tells the
   * subscribers. Called once per animation frame; does nothing when nothing
   * changed. Returns whether it committed.
   */
  flush(): boolean {
    if (!this.dirty) return false;
    this.dirty = false;
    const version = this.committed.version + 1;
    if (this.len === 0) {
      this.committed = emptyData(version);
    } else {
      const out = {} as Record<Column, (number | null)[]>;
      for (const c of COLUMNS) {
        const src = this.cols[c];
        const arr = new Array<number | null>(this.len);
        for (let i = 0, j = this.head; i < this.len; i++) {
          const v = src[j]!;
          arr[i] = Number.isNaN(v) ? null : v;
          if (++j === this.cap) j = 0;
        }
        out[c] = arr;
      }
      this.committed = Object.freeze({ ...out, length: this.len, version });
    }
    for (const fn of this.listeners) fn(this.committed);
    return true;
  }

  // --- ring -----------------------------------------------------------------

  private alloc(cap: number): Record<Column, Float64Array> {
    const cols = {} as Record<Column, Float64Array>;
    for (const c of COLUMNS) cols[c] = new Float64Array(cap);
    return cols;
  }

  /** Changes the ring's size, keeping the newest points that fit. */
  private resize(cap: number): void {
    if (cap === this.cap) return;
    const keep = Math.min(this.len, cap);
    const next = this.alloc(cap);
    const skip = this.len - keep;
    for (const c of COLUMNS) {
      const src = this.cols[c];
      const dst = next[c];
      for (let i = 0; i < keep; i++) dst[i] = src[(this.head + skip + i) % this.cap]!;
    }
    this.cols = next;
    this.cap = cap;
    this.head = 0;
    this.len = keep;
  }

  private append(row: Row): void {
    if (this.len === this.cap) this.dropOldest();
    const i = (this.head + this.len) % this.cap;
    for (const c of COLUMNS) this.cols[c][i] = row[c];
    this.len++;
  }

  private dropOldest(): void {
    this.head = (this.head + 1) % this.cap;
    this.len--;
  }

  // The server-rendered page's charts (internal/web/charts.go) derive the
  // same values; internal/web/testdata/series-cases.json holds both to them
  // (series.cases.test.ts here, TestSeriesCases there).
  private rowOf(b: Batch, tick: number): Row {
    const perSec = 1000 / tick;
    const c = b.counts;
    const finished = c.onTime + c.late + c.dropped;
    const l = b.latency;
    let deadline = b.config?.deadlineMs;
    if (deadline === undefined || !(deadline > 0)) {
      const last = b.events.at(-1);
      deadline = last && last.deadlineMs > 0 ? last.deadlineMs : this.lastDeadline;
    }
    this.lastDeadline = deadline;
    return {
      x: b.at / 1000,
      p50: l.count > 0 ? l.p50 : NaN,
      p99: l.count > 0 ? l.p99 : NaN,
      deadline,
      onTime: c.onTime * perSec,
      late: c.late * perSec,
      dropped: c.dropped * perSec,
      miss: finished > 0 ? ((c.late + c.dropped) / finished) * 100 : NaN,
      queue: b.health.queueDepth,
      queueCap: b.health.queueCap,
      busy: b.health.busy,
      workers: b.health.workers,
    };
  }

  private gapRow(atMs: number): Row {
    const row = {} as Row;
    for (const c of COLUMNS) row[c] = NaN;
    row.x = atMs / 1000;
    return row;
  }
}
