import { defaultWsUrl, parseBatch } from './batch';
import { SeriesModel } from './series';
import type { Batch, EventResult, Settings } from './types';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

/** What the dashboard renders; a new object at most once per animation frame. */
export interface RealtimeSnapshot {
  state: ConnectionState;
  /** The newest batch accepted (latest totals, latency, health). */
  latest: Batch | null;
  /** Newest first, at most maxEvents (50). Same array identity while unchanged. */
  events: EventResult[];
  /** Client clock (options.now) when the newest batch was received. */
  lastBatchAt: number | null;
  /** Batches missing from seq gaps (sum of the gap sizes). */
  missedBatches: number;
  /** How many seq gaps were detected. */
  seqGaps: number;
  /** Batches ignored because their seq was <= the last one seen. */
  duplicates: number;
  /** Server restarts detected (startedAt or epoch changed, or a reset from another run). */
  restarts: number;
}

/** The part of the browser WebSocket the client uses (a fake in tests). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type TimerHandle = unknown;

export interface RealtimeOptions {
  /** WebSocket URL without since=; default: /ws on the page's own host. */
  url?: string | (() => string);
  WebSocket?: WebSocketConstructor;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Uniform [0, 1) (default Math.random), for the backoff jitter. */
  random?: () => number;
  requestAnimationFrame?: (cb: () => void) => number;
  cancelAnimationFrame?: (id: number) => void;
  setTimeout?: (cb: () => void, ms: number) => TimerHandle;
  clearTimeout?: (handle: TimerHandle) => void;
  /** Backoff: delay = random() * min(cap, base * 2^attempt). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** 'reconnecting' turns 'offline' after this long without a working connection. */
  offlineAfterMs?: number;
  /** A connection silent for this long (or 5 ticks, if longer) is dropped and redone. */
  staleAfterMs?: number;
  maxEvents?: number;
  /** Listen to the window's online/offline events (default true in a browser). */
  watchNetwork?: boolean;
  /** The chart history to feed (default: a new one, see RealtimeClient.series). */
  series?: SeriesModel;
}

export const DEFAULTS = {
  backoffBaseMs: 250,
  backoffCapMs: 10_000,
  /** The same as the server-rendered page's (static/app.js, OFFLINE_AFTER_MS). */
  offlineAfterMs: 10_000,
  staleAfterMs: 5_000,
  maxEvents: 50,
} as const;

const WS_CONNECTING = 0;

export const INITIAL_SNAPSHOT: RealtimeSnapshot = Object.freeze({
  state: 'connecting',
  latest: null,
  events: Object.freeze([]) as unknown as EventResult[],
  lastBatchAt: null,
  missedBatches: 0,
  seqGaps: 0,
  duplicates: 0,
  restarts: 0,
}) as RealtimeSnapshot;

/** The backoff delay before reconnect attempt number `attempt` (0-based): full jitter. */
export function backoffDelay(attempt: number, random: number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random * ceiling);
}

/** The server's "reset" message: what follows does not continue from the position resumed. */
interface ResetMessage {
  seq: number;
  epoch: number;
  reason: string;
}

const RESET_PREFIX = '{"type":"reset"';

/** Parses a reset message; null for anything else (batches included). */
export function parseReset(data: unknown): ResetMessage | null {
  if (typeof data !== 'string' || !data.startsWith(RESET_PREFIX)) return null;
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.seq !== 'number' || typeof r.epoch !== 'number') return null;
  return { seq: r.seq, epoch: r.epoch, reason: typeof r.reason === 'string' ? r.reason : '' };
}

/**
 * The stream position to resume from: "<epoch>-<seq>", or a bare seq for a
 * server that sends no epoch (it takes that as a position from another run).
 */
export function positionOf(epoch: number | null, seq: number): string {
  return epoch === null ? String(seq) : `${epoch}-${seq}`;
}

/** Appends since=<position> to a WebSocket URL (which may already have a query). */
function withPosition(url: string, position: string | null): string {
  if (position === null) return url;
  return `${url}${url.includes('?') ? '&' : '?'}since=${encodeURIComponent(position)}`;
}

/** The batch's epoch: the numbering its seq counts in (startedAt for servers that send none). */
function epochOf(batch: Batch): number {
  const e = (batch as { epoch?: unknown }).epoch;
  return typeof e === 'number' ? e : batch.startedAt;
}

/**
 * Connects to the ontime /ws stream, keeps the seq bookkeeping and folds
 * incoming batches into one snapshot per animation frame. Plain class, no
 * React: the hook useRealtimeEvents is a thin wrapper around it.
 */
export class RealtimeClient {
  private readonly opts: Required<
    Pick<RealtimeOptions, 'backoffBaseMs' | 'backoffCapMs' | 'offlineAfterMs' | 'staleAfterMs' | 'maxEvents'>
  >;
  private readonly makeUrl: () => string;
  private readonly WS: WebSocketConstructor;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly raf: (cb: () => void) => number;
  private readonly caf: (id: number) => void;
  private readonly setTimer: (cb: () => void, ms: number) => TimerHandle;
  private readonly clearTimer: (h: TimerHandle) => void;
  private readonly watchNetwork: boolean;
  /**
   * The last 60 s of per-tick points for the charts: fed with every
   * accepted batch, committed in the same animation frame as the snapshot
   * (its subscribers are called before the snapshot's).
   */
  readonly series: SeriesModel;

  private listeners = new Set<(s: RealtimeSnapshot) => void>();
  private snapshot: RealtimeSnapshot = INITIAL_SNAPSHOT;

  // Working state, folded into the snapshot on the next frame.
  private state: ConnectionState = 'connecting';
  private latest: Batch | null = null;
  private lastBatchAt: number | null = null;
  private pendingEvents: EventResult[] = []; // oldest first, capped
  private clearEvents = false;
  private missedBatches = 0;
  private seqGaps = 0;
  private duplicates = 0;
  private restarts = 0;

  // Seq bookkeeping. lastSeq is null when the next batch is accepted
  // whatever its seq (at start, after a restart or a reset).
  private lastSeq: number | null = null;
  private lastStartedAt: number | null = null;
  /** The epoch of the batches accepted (null before the first, or when the server sends none). */
  private lastEpoch: number | null = null;
  private serverSendsEpoch = false;

  // Connection.
  private ws: WebSocketLike | null = null;
  private gotBatchOnThisSocket = false;
  private lastActivityAt = 0;
  private attempt = 0;
  /** Set while there is no working connection (armed at start and on loss). */
  private offlineTimer: TimerHandle | null = null;
  private started = false;
  private stopped = false;
  private rafId: number | null = null;
  private reconnectTimer: TimerHandle | null = null;
  private staleTimer: TimerHandle | null = null;

  constructor(options: RealtimeOptions = {}) {
    this.opts = {
      backoffBaseMs: options.backoffBaseMs ?? DEFAULTS.backoffBaseMs,
      backoffCapMs: options.backoffCapMs ?? DEFAULTS.backoffCapMs,
      offlineAfterMs: options.offlineAfterMs ?? DEFAULTS.offlineAfterMs,
      staleAfterMs: options.staleAfterMs ?? DEFAULTS.staleAfterMs,
      maxEvents: options.maxEvents ?? DEFAULTS.maxEvents,
    };
    const url = options.url;
    this.makeUrl = typeof url === 'function' ? url : typeof url === 'string' ? () => url : () => defaultWsUrl();
    this.WS = options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketConstructor);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    const hasRaf = typeof globalThis.requestAnimationFrame === 'function';
    this.raf =
      options.requestAnimationFrame ??
      (hasRaf
        ? (cb) => globalThis.requestAnimationFrame(() => cb())
        : (cb) => globalThis.setTimeout(cb, 16) as unknown as number);
    this.caf =
      options.cancelAnimationFrame ??
      (hasRaf ? (id) => globalThis.cancelAnimationFrame(id) : (id) => globalThis.clearTimeout(id));
    this.setTimer = options.setTimeout ?? ((cb, ms) => globalThis.setTimeout(cb, ms));
    this.clearTimer = options.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));
    this.watchNetwork = options.watchNetwork ?? typeof window !== 'undefined';
    this.series = options.series ?? new SeriesModel();
  }

  getSnapshot = (): RealtimeSnapshot => this.snapshot;

  subscribe = (fn: (s: RealtimeSnapshot) => void): (() => void) => {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  };

  /** The seq a reconnect resumes from (null before the first batch, and after a reset until the next). */
  get resumeSeq(): number | null {
    return this.lastSeq;
  }

  /** The position a reconnect resumes from ("<epoch>-<seq>"), null when none. */
  get resumePosition(): string | null {
    if (this.lastSeq === null) return null;
    return positionOf(this.serverSendsEpoch ? this.lastEpoch : null, this.lastSeq);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.armOfflineTimer();
    if (this.watchNetwork) {
      window.addEventListener('online', this.onOnline);
      window.addEventListener('offline', this.onOffline);
    }
    this.connect();
  }

  /** Closes the socket, cancels timers and the pending frame. Final. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.watchNetwork && this.started) {
      window.removeEventListener('online', this.onOnline);
      window.removeEventListener('offline', this.onOffline);
    }
    this.cancelReconnect();
    this.cancelStaleTimer();
    this.cancelOfflineTimer();
    if (this.rafId !== null) {
      this.caf(this.rafId);
      this.rafId = null;
    }
    this.dropSocket(1000, 'client closed');
    this.listeners.clear();
  }

  // --- connection -----------------------------------------------------------

  private connect(): void {
    if (this.stopped) return;
    const url = withPosition(this.makeUrl(), this.resumePosition);
    let ws: WebSocketLike;
    try {
      ws = new this.WS(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.gotBatchOnThisSocket = false;
    this.lastActivityAt = this.now();
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.handleMessage(ev.data);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.handleClose();
    };
    // An error is always followed by close; nothing to do here.
    ws.onerror = () => {};
    this.armStaleTimer(this.staleAfter());
  }

  private handleClose(): void {
    this.ws = null;
    this.cancelStaleTimer();
    this.scheduleReconnect();
  }

  /** The connection was lost (or never made): after offlineAfterMs, say offline. */
  private armOfflineTimer(): void {
    if (this.offlineTimer !== null) return;
    this.offlineTimer = this.setTimer(() => {
      this.offlineTimer = null;
      if (this.state !== 'live') this.setState('offline');
    }, this.opts.offlineAfterMs);
  }

  private cancelOfflineTimer(): void {
    if (this.offlineTimer !== null) {
      this.clearTimer(this.offlineTimer);
      this.offlineTimer = null;
    }
  }

  /** Detaches the current socket (no more callbacks from it) and closes it. */
  private dropSocket(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    if (ws.readyState === WS_CONNECTING) {
      // Closing a socket that is still connecting makes browsers log an
      // error; close it as soon as it opens instead.
      ws.onopen = () => ws.close(code, reason);
    } else {
      ws.onopen = null;
      ws.close(code, reason);
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.cancelReconnect();
    const delay = backoffDelay(this.attempt, this.random(), this.opts.backoffBaseMs, this.opts.backoffCapMs);
    this.attempt++;
    this.armOfflineTimer();
    // Once offline, stay offline until a batch arrives.
    if (this.state !== 'offline') this.setState(this.browserOffline() ? 'offline' : 'reconnecting');
    this.reconnectTimer = this.setTimer(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private browserOffline(): boolean {
    return this.watchNetwork && typeof navigator !== 'undefined' && navigator.onLine === false;
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer !== null) {
      this.clearTimer(this.reconnectTimer);
      this.reconnectTimer = null;
    }
  }

  private onOnline = (): void => {
    // The network is back: don't wait out the backoff.
    if (this.reconnectTimer !== null) {
      this.cancelReconnect();
      this.setState('reconnecting');
      this.connect();
    }
  };

  private onOffline = (): void => {
    if (this.state !== 'live') this.setState('offline');
  };

  // A connection that delivers nothing (half-open TCP, stuck connect) is
  // dropped and redone, since the server sends a batch every tick.
  private staleAfter(): number {
    const tick = this.latest?.tickMs ?? 0;
    return Math.max(this.opts.staleAfterMs, tick * 5);
  }

  private armStaleTimer(ms: number): void {
    this.cancelStaleTimer();
    this.staleTimer = this.setTimer(this.checkStale, ms);
  }

  private cancelStaleTimer(): void {
    if (this.staleTimer !== null) {
      this.clearTimer(this.staleTimer);
      this.staleTimer = null;
    }
  }

  private checkStale = (): void => {
    this.staleTimer = null;
    if (!this.ws || this.stopped) return;
    const limit = this.staleAfter();
    const silent = this.now() - this.lastActivityAt;
    if (silent >= limit) {
      this.dropSocket(4000, 'stale');
      this.scheduleReconnect();
    } else {
      this.armStaleTimer(limit - silent);
    }
  };

  // --- batches --------------------------------------------------------------

  private handleMessage(data: unknown): void {
    const reset = parseReset(data);
    if (reset) {
      this.lastActivityAt = this.now();
      this.handleReset(reset);
      return;
    }
    const batch = parseBatch(data);
    if (!batch) return;
    this.lastActivityAt = this.now();
    const epoch = epochOf(batch);

    if (
      (this.lastStartedAt !== null && batch.startedAt !== this.lastStartedAt) ||
      (this.lastEpoch !== null && epoch !== this.lastEpoch)
    ) {
      // Server restart: seq starts again from 1 and totals from 0.
      this.restarts++;
      this.lastSeq = null;
      this.pendingEvents = [];
      this.clearEvents = true;
    }

    if (this.lastSeq !== null && batch.seq <= this.lastSeq) {
      this.duplicates++;
    } else {
      if (this.lastSeq !== null && batch.seq > this.lastSeq + 1) {
        this.seqGaps++;
        this.missedBatches += batch.seq - this.lastSeq - 1;
      }
      this.lastSeq = batch.seq;
      this.lastStartedAt = batch.startedAt;
      this.lastEpoch = epoch;
      this.serverSendsEpoch = typeof (batch as { epoch?: unknown }).epoch === 'number';
      // Same settings as before: keep the previous object, so what depends
      // on them only (the controls panel) does not render again.
      const prevConfig = this.latest?.config;
      if (prevConfig && batch.config && sameSettings(prevConfig, batch.config)) batch.config = prevConfig;
      this.latest = batch;
      this.lastBatchAt = this.lastActivityAt;
      this.series.push(batch);
      if (batch.events.length > 0) {
        const pending = this.pendingEvents;
        for (const e of batch.events) pending.push(e);
        if (pending.length > this.opts.maxEvents) pending.splice(0, pending.length - this.opts.maxEvents);
      }
    }

    if (!this.gotBatchOnThisSocket) {
      // The connection works: reset the backoff.
      this.gotBatchOnThisSocket = true;
      this.attempt = 0;
      this.cancelOfflineTimer();
    }
    this.state = 'live';
    this.markDirty();
  }

  /**
   * The server says the next batch does not continue from our position
   * (another run, a position it no longer holds or one ahead of it, or we
   * lagged): whatever its seq, it is accepted, and the break is counted as
   * what it is.
   */
  private handleReset(r: ResetMessage): void {
    if (this.lastEpoch !== null && r.epoch !== this.lastEpoch) {
      // Another run: as a restart, counted once (the next batch's
      // startedAt is not compared with the old run's).
      this.restarts++;
      this.pendingEvents = [];
      this.clearEvents = true;
      this.series.clear();
      this.lastStartedAt = null;
    } else if (this.lastSeq !== null && r.seq > this.lastSeq + 1) {
      this.seqGaps++;
      this.missedBatches += r.seq - this.lastSeq - 1;
    } else if (this.lastSeq !== null && r.seq <= this.lastSeq) {
      // We were ahead of the server: the chart would refuse the lower
      // seqs, so it starts over.
      this.series.clear();
    }
    this.lastSeq = null;
    this.lastEpoch = r.epoch;
    this.markDirty();
  }

  // --- frame commit ---------------------------------------------------------

  private setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    this.markDirty();
  }

  private markDirty(): void {
    if (this.rafId !== null || this.stopped) return;
    this.rafId = this.raf(this.flush);
  }

  private flush = (): void => {
    this.rafId = null;
    if (this.stopped) return;
    this.series.flush();
    const prev = this.snapshot;
    let events = this.clearEvents ? [] : prev.events;
    if (this.pendingEvents.length > 0) {
      const fresh = this.pendingEvents.reverse(); // newest first
      events = fresh.length >= this.opts.maxEvents ? fresh.slice(0, this.opts.maxEvents) : fresh.concat(events.slice(0, this.opts.maxEvents - fresh.length));
      this.pendingEvents = [];
    }
    this.clearEvents = false;
    const next: RealtimeSnapshot = {
      state: this.state,
      latest: this.latest,
      events,
      lastBatchAt: this.lastBatchAt,
      missedBatches: this.missedBatches,
      seqGaps: this.seqGaps,
      duplicates: this.duplicates,
      restarts: this.restarts,
    };
    if (sameSnapshot(prev, next)) return;
    this.snapshot = next;
    for (const fn of this.listeners) fn(next);
  };
}

function sameSettings(a: Settings, b: Settings): boolean {
  const ka = Object.keys(a) as (keyof Settings)[];
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

function sameSnapshot(a: RealtimeSnapshot, b: RealtimeSnapshot): boolean {
  return (
    a.state === b.state &&
    a.latest === b.latest &&
    a.events === b.events &&
    a.lastBatchAt === b.lastBatchAt &&
    a.missedBatches === b.missedBatches &&
    a.seqGaps === b.seqGaps &&
    a.duplicates === b.duplicates &&
    a.restarts === b.restarts
  );
}
