import { rangeMs, rangeStepMs } from './historyApi';
import type { Batch, HealthStatus, HistoryPoint, HistoryRange, HistoryResponse } from './types';

/** How much history the charts show by default (the 1 min range). */
export const WINDOW_MS = 60_000;
/** Hard cap on per-tick points, whatever the tick (10 ms ticks would want 6001). */
export const MAX_POINTS = 6000;
/** The span a live rate is measured over: a sliding second. */
export const RATE_WINDOW_MS = 1000;

/** The values kept for the charts, one column each. */
export const COLUMNS = [
  /** unix seconds (uPlot's time scale) */
  'x',
  /** latency percentiles, ms; null when nothing was processed */
  'p50',
  'p99',
  /** the deadline in force, ms (config.deadlineMs, else the events' deadline) */
  'deadline',
  /**
   * finished per second. Live: the counts of the batches of the last second
   * (at within the last RATE_WINDOW_MS, this one included); from the
   * history: the step's counts over the step's length. A model that joined
   * a run already going (its first batch's seq above 1) saw less than a
   * second at first: those counts are over the span it saw, not a second,
   * so the rate does not dip where the history joins the live points.
   */
  'onTime',
  'late',
  'dropped',
  /** (late + dropped) / finished over the same span as the rates, percent; null when none finished */
  'miss',
  'queue',
  'queueCap',
  'busy',
  'workers',
  /** health: 0 ok, 1 degraded, 2 overloaded (the incident bands) */
  'status',
] as const;

export type Column = (typeof COLUMNS)[number];

/** One committed copy of the ring, oldest first; null marks a gap. */
export type SeriesData = Readonly<Record<Column, readonly (number | null)[]>> & {
  readonly length: number;
  /** +1 per commit */
  readonly version: number;
  /**
   * The incident bands of these points (bandsOf), computed once per commit
   * rather than once per chart.
   */
  readonly bands: readonly Band[];
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

export const STATUS_LEVEL: Record<HealthStatus, number> = { ok: 0, degraded: 1, overloaded: 2 };
const LEVEL_STATUS: HealthStatus[] = ['ok', 'degraded', 'overloaded'];

/** A span of time at one health status other than ok (an incident band). */
export interface Band {
  /** unix seconds */
  from: number;
  to: number;
  status: HealthStatus;
}

/**
 * The spans where the status is degraded or overloaded, from the points'
 * status column: a band runs from its first point to the point after its
 * last (or its last, at the end), so a one-point incident still has width.
 */
export function bandsOf(d: Pick<SeriesData, 'x' | 'status' | 'length'>): Band[] {
  const out: Band[] = [];
  let open: Band | null = null;
  for (let i = 0; i < d.length; i++) {
    const lv = d.status[i];
    const x = d.x[i]!;
    if (open && lv !== STATUS_LEVEL[open.status]) {
      open.to = x;
      out.push(open);
      open = null;
    }
    if (!open && lv !== null && lv !== undefined && lv > 0) open = { from: x, to: x, status: LEVEL_STATUS[lv]! };
  }
  if (open) {
    open.to = d.x[d.length - 1]!;
    out.push(open);
  }
  return out;
}

function emptyData(version: number): SeriesData {
  const cols = {} as Record<Column, (number | null)[]>;
  for (const c of COLUMNS) cols[c] = [];
  return Object.freeze({ ...cols, length: 0, version, bands: [] });
}

type Row = Record<Column, number>;

/** Finished counts: of a step, a bucket or the sliding second. */
interface Counts {
  onTime: number;
  late: number;
  dropped: number;
}

/**
 * The rate columns of counts over a span (perSec: 1000 / the span in ms)
 * and the share of them missed (late or dropped, %).
 */
function rates(c: Counts, perSec: number): Pick<Row, 'onTime' | 'late' | 'dropped' | 'miss'> {
  const finished = c.onTime + c.late + c.dropped;
  return {
    onTime: c.onTime * perSec,
    late: c.late * perSec,
    dropped: c.dropped * perSec,
    miss: finished > 0 ? ((c.late + c.dropped) / finished) * 100 : NaN,
  };
}

/** A live batch's finished counts, kept for the sliding second. */
interface Recent extends Counts {
  at: number;
}

/** Live batches folded into one step of a range longer than a minute. */
interface Bucket extends Counts {
  start: number;
  p50: number;
  p99: number;
  deadline: number;
  queue: number;
  queueCap: number;
  busy: number;
  workers: number;
  status: number;
}


/**
 * The chart history: a ring of points over the range shown (1 min by
 * default). In the 1 min range a live batch is one point; in the longer
 * ranges live batches are folded into the history's steps (1 s, or 1 min
 * for 24 h), a point per step once the step is over. load() puts the
 * server's history (GET /api/history) in front of the live points, so the
 * charts are full as soon as the page opens.
 *
 * Fed with every accepted batch by the RealtimeClient and committed at
 * most once per animation frame (the client calls flush() from its frame
 * callback). Charts subscribe directly and call uPlot's setData: React
 * never re-renders for them.
 *
 * Plain class, no React and no DOM.
 */
export class SeriesModel {
  readonly maxPoints: number;
  private _windowMs: number;
  private _range: HistoryRange = '1m';
  /** 0: a point per batch (1 min); else the step live batches are folded into. */
  private stepMs = 0;

  private cap: number;
  private cols: Record<Column, Float64Array>;
  /** index of the oldest point */
  private head = 0;
  private len = 0;

  private startedAt: number | null = null;
  private lastSeq: number | null = null;
  private lastAt = 0;
  private lastTick = 100;
  private lastDeadline = NaN;
  /**
   * Unix ms from which this model has seen the run: the start of the tick
   * of its first batch when that was not the run's first (seq 1); null
   * when it saw the run from its start, or nothing yet (joined false).
   */
  private joinedAt: number | null = null;
  private joined = false;
  /** batches of the last RATE_WINDOW_MS, oldest first */
  private recent: Recent[] = [];
  private bucket: Bucket | null = null;

  private dirty = false;
  private committed: SeriesData = emptyData(0);
  private listeners = new Set<(d: SeriesData) => void>();

  constructor(options: SeriesOptions = {}) {
    this._windowMs = options.windowMs ?? WINDOW_MS;
    this.maxPoints = options.maxPoints ?? MAX_POINTS;
    this.cap = this.capacityNow(100);
    this.cols = this.alloc(this.cap);
  }

  /** The time span shown. */
  get windowMs(): number {
    return this._windowMs;
  }

  /** The range shown. */
  get range(): HistoryRange {
    return this._range;
  }

  /** Points held now (committed or not). */
  get length(): number {
    return this.len;
  }

  /** The ring's size for the current tick and range. */
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
   * Shows another range: the points go (the caller loads the range's
   * history next); the live bookkeeping (seq, the sliding second) stays.
   */
  setRange(r: HistoryRange): void {
    if (r === this._range) return;
    this._range = r;
    this._windowMs = rangeMs(r);
    this.stepMs = r === '1m' ? 0 : rangeStepMs(r);
    this.bucket = null;
    this.len = 0;
    this.head = 0;
    this.resize(this.capacityNow(this.lastTick));
    this.dirty = true;
  }

  /**
   * Puts the server's history in front of the live points: the history's
   * points (a gap where steps are missing), then the live points newer than
   * its newest. A history of another range than the one shown is ignored.
   * Returns whether it was used.
   */
  load(h: HistoryResponse): boolean {
    if (h.range !== this._range) return false;
    const step = h.stepMs > 0 ? h.stepMs : 1000;
    const pts = h.points;
    // First pass: how many points (history, its gaps, the live points
    // after it), so the history is written once, straight into the new
    // ring, without a row object per point.
    let n = 0;
    let prevT: number | null = null;
    for (const p of pts) {
      if (prevT !== null && p.t <= prevT) continue;
      if (prevT !== null && p.t - prevT > 1.5 * step) n++;
      n++;
      prevT = p.t;
    }
    const newest = prevT;
    const oldCols = this.cols;
    const oldCap = this.cap;
    // The live points newer than the history's newest.
    const isLive = (x: number) => newest === null || x * 1000 > newest + 0.5;
    let live = 0;
    let firstLiveX = NaN;
    for (let k = 0, j = this.head; k < this.len; k++) {
      const x = oldCols.x[j]!;
      if (isLive(x)) {
        if (live++ === 0) firstLiveX = x;
      }
      if (++j === oldCap) j = 0;
    }
    const liveGap = newest !== null && live > 0 && firstLiveX * 1000 - newest > 2 * Math.max(step, 1000);
    n += live + (liveGap ? 1 : 0);

    const cap = Math.max(this.capacityNow(this.lastTick), n);
    const cols = this.alloc(cap);
    const perSec = 1000 / step;
    let i = 0;
    prevT = null;
    for (const p of pts) {
      if (prevT !== null && p.t <= prevT) continue;
      if (prevT !== null && p.t - prevT > 1.5 * step) writeGap(cols, i++, (prevT + p.t) / 2);
      writeHistoryPoint(cols, i++, p, perSec);
      prevT = p.t;
    }
    if (liveGap) writeGap(cols, i++, (newest! + firstLiveX * 1000) / 2);
    for (let k = 0, j = this.head; k < this.len; k++) {
      if (isLive(oldCols.x[j]!)) {
        for (const c of COLUMNS) cols[c][i] = oldCols[c][j]!;
        i++;
      }
      if (++j === oldCap) j = 0;
    }
    if (this.bucket && newest !== null && this.bucket.start <= newest) this.bucket = null;
    this.cols = cols;
    this.cap = cap;
    this.head = 0;
    this.len = i;
    if (this.len > 0) this.trim(this.newestX() * 1000);
    this.dirty = true;
    return true;
  }

  /**
   * Adds a batch. A batch from another server run (startedAt changed)
   * starts a fresh history; a seq already seen is ignored; a seq gap leaves
   * a gap in the lines. Returns whether the batch was taken.
   */
  push(b: Batch): boolean {
    if (this.startedAt !== null && b.startedAt !== this.startedAt) this.clear();
    if (this.lastSeq !== null && b.seq <= this.lastSeq) return false;
    const tick = b.tickMs > 0 ? b.tickMs : 100;
    this.lastTick = tick;
    if (!this.joined) {
      this.joined = true;
      this.joinedAt = b.seq > 1 ? b.at - tick : null;
    }
    this.resize(this.capacityNow(tick));
    const gap = this.lastSeq !== null && b.seq > this.lastSeq + 1 && this.len > 0 && b.at > this.lastAt;

    // The sliding second: the batches whose at is within the last
    // RATE_WINDOW_MS, this one included.
    const c = b.counts;
    this.recent.push({ at: b.at, onTime: c.onTime, late: c.late, dropped: c.dropped });
    while (this.recent.length > 0 && this.recent[0]!.at <= b.at - RATE_WINDOW_MS) this.recent.shift();

    const row = this.rowOf(b);
    const before = this.len;
    let changed = true;
    if (this.stepMs === 0) {
      // Batches were missed: a null point between the two breaks the lines.
      if (gap) this.append(this.gapRow((this.lastAt + b.at) / 2));
      this.append(row);
    } else {
      // Most batches only add to the open step: nothing to commit (and no
      // redraw of an hour of points) until a step closes.
      changed = this.fold(b, row);
    }
    this.startedAt = b.startedAt;
    this.lastSeq = b.seq;
    this.lastAt = b.at;
    if (this.len > 0) this.trim(b.at);
    if (changed || this.len !== before) this.dirty = true;
    return true;
  }

  /** Forgets every point and the live bookkeeping (the next commit shows empty charts). */
  clear(): void {
    this.head = 0;
    this.len = 0;
    this.startedAt = null;
    this.lastSeq = null;
    this.lastAt = 0;
    this.lastDeadline = NaN;
    this.joined = false;
    this.joinedAt = null;
    this.recent = [];
    this.bucket = null;
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
      const d = { ...out, length: this.len, version, bands: [] as readonly Band[] };
      d.bands = bandsOf(d);
      this.committed = Object.freeze(d);
    }
    for (const fn of this.listeners) fn(this.committed);
    return true;
  }

  // --- ring -----------------------------------------------------------------

  /**
   * The ring's size: in the 1 min range the window at the tick (at most
   * maxPoints) plus a minute of 1 s history points; in the others the
   * range's steps.
   */
  private capacityNow(tick: number): number {
    if (this.stepMs === 0) return capacityFor(tick, this._windowMs, this.maxPoints) + Math.ceil(this._windowMs / 1000) + 2;
    return Math.ceil(this._windowMs / this.stepMs) + 4;
  }

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

  /** Keeps the window ending at nowMs (time-based: ticks can change). */
  private trim(nowMs: number): void {
    const oldest = (nowMs - this._windowMs) / 1000;
    const x = this.cols.x;
    while (this.len > 1 && x[this.head]! < oldest) this.dropOldest();
  }

  private newestX(): number {
    return this.len === 0 ? -Infinity : this.cols.x[(this.head + this.len - 1) % this.cap]!;
  }

  /**
   * Folds a live batch into its step; a batch in a later step closes the
   * one before, which becomes a point (rates over the step, the highest
   * latency percentiles, queue and busy of the step, the worst status).
   */
  private fold(b: Batch, row: Row): boolean {
    const step = this.stepMs;
    const start = Math.floor(b.at / step) * step;
    let emitted = false;
    if (this.bucket && this.bucket.start !== start) {
      emitted = this.emit(this.bucket);
      this.bucket = null;
    }
    const c = b.counts;
    const k = (this.bucket ??= {
      start,
      onTime: 0,
      late: 0,
      dropped: 0,
      p50: NaN,
      p99: NaN,
      deadline: NaN,
      queue: 0,
      queueCap: 0,
      busy: 0,
      workers: 0,
      status: 0,
    });
    k.onTime += c.onTime;
    k.late += c.late;
    k.dropped += c.dropped;
    if (!Number.isNaN(row.p50)) k.p50 = Number.isNaN(k.p50) ? row.p50 : Math.max(k.p50, row.p50);
    if (!Number.isNaN(row.p99)) k.p99 = Number.isNaN(k.p99) ? row.p99 : Math.max(k.p99, row.p99);
    k.deadline = row.deadline;
    k.queue = Math.max(k.queue, row.queue);
    k.queueCap = row.queueCap;
    k.busy = Math.max(k.busy, row.busy);
    k.workers = row.workers;
    k.status = Math.max(k.status, row.status);
    return emitted;
  }

  /** Appends a closed step's point; false when the history already has the step. */
  private emit(k: Bucket): boolean {
    const x = k.start / 1000;
    const last = this.newestX();
    if (x <= last) return false; // the history already has this step
    if (this.len > 0 && x - last > (2 * this.stepMs) / 1000) this.append(this.gapRow((last * 1000 + k.start) / 2));
    // A step this model joined partway through is measured over the part
    // it saw. The step's batches (at in [start, start + step)) cover the
    // ticks from start - tick to start + step - tick.
    const missed = this.joinedAt === null ? 0 : this.joinedAt - (k.start - this.lastTick);
    const seen = this.stepMs - Math.max(0, Math.min(this.stepMs - 1, missed));
    this.append({
      x,
      p50: k.p50,
      p99: k.p99,
      deadline: k.deadline,
      ...rates(k, 1000 / seen),
      queue: k.queue,
      queueCap: k.queueCap,
      busy: k.busy,
      workers: k.workers,
      status: k.status,
    });
    return true;
  }

  // The server-rendered page's charts (internal/web/charts.go) derive the
  // same values; internal/web/testdata/series-cases.json holds both to them
  // (series.cases.test.ts here, TestSeriesCases there).
  private rowOf(b: Batch): Row {
    let onTime = 0;
    let late = 0;
    let dropped = 0;
    for (const r of this.recent) {
      onTime += r.onTime;
      late += r.late;
      dropped += r.dropped;
    }
    const l = b.latency;
    let deadline = b.config?.deadlineMs;
    if (deadline === undefined || !(deadline > 0)) {
      const last = b.events.at(-1);
      deadline = last && last.deadlineMs > 0 ? last.deadlineMs : this.lastDeadline;
    }
    this.lastDeadline = deadline;
    // The window is one second long: the sums are the rates, unless this
    // model joined the run less than a second ago.
    const seen = this.joinedAt === null ? RATE_WINDOW_MS : Math.min(RATE_WINDOW_MS, b.at - this.joinedAt);
    return {
      x: b.at / 1000,
      p50: l.count > 0 ? l.p50 : NaN,
      p99: l.count > 0 ? l.p99 : NaN,
      deadline,
      ...rates({ onTime, late, dropped }, RATE_WINDOW_MS / Math.max(1, seen)),
      queue: b.health.queueDepth,
      queueCap: b.health.queueCap,
      busy: b.health.busy,
      workers: b.health.workers,
      status: STATUS_LEVEL[b.health.status] ?? 0,
    };
  }

  private gapRow(atMs: number): Row {
    const row = {} as Row;
    for (const c of COLUMNS) row[c] = NaN;
    row.x = atMs / 1000;
    return row;
  }
}

/** Writes a gap (null in every column but x) at index i of the ring's columns. */
function writeGap(cols: Record<Column, Float64Array>, i: number, atMs: number): void {
  for (const c of COLUMNS) cols[c][i] = NaN;
  cols.x[i] = atMs / 1000;
}

/**
 * Writes a history step at index i of the ring's columns: rates over the
 * step (perSec: 1000 / the step in ms), the rest as the server sent it.
 */
function writeHistoryPoint(cols: Record<Column, Float64Array>, i: number, p: HistoryPoint, perSec: number): void {
  const processed = p.onTime + p.late > 0;
  const finished = p.onTime + p.late + p.dropped;
  cols.x[i] = p.t / 1000;
  cols.p50[i] = processed ? p.p50 : NaN;
  cols.p99[i] = processed ? p.p99 : NaN;
  // The deadline in force at the step's end; unknown (0) from older servers.
  cols.deadline[i] = p.deadlineMs > 0 ? p.deadlineMs : NaN;
  cols.onTime[i] = p.onTime * perSec;
  cols.late[i] = p.late * perSec;
  cols.dropped[i] = p.dropped * perSec;
  cols.miss[i] = finished > 0 ? ((p.late + p.dropped) / finished) * 100 : NaN;
  cols.queue[i] = p.queueDepth;
  cols.queueCap[i] = p.queueCap;
  cols.busy[i] = p.busy;
  cols.workers[i] = p.workers;
  cols.status[i] = STATUS_LEVEL[p.status] ?? 0;
}
