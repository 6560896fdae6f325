import type { RealtimeOptions, WebSocketLike } from '../realtimeClient';
import type { Batch, EventResult, Settings } from '../types';

/** A WebSocket stand-in: tests drive open/message/close by hand. */
export class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  static reset(): void {
    FakeWebSocket.instances = [];
  }
  static get last(): FakeWebSocket {
    const ws = FakeWebSocket.instances.at(-1);
    if (!ws) throw new Error('no WebSocket created');
    return ws;
  }

  readyState = 0;
  closed: { code?: number; reason?: string } | null = null;
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  send(data: string | object): void {
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    this.onmessage?.(new MessageEvent('message', { data: text }));
  }

  /** The server (or network) closes the connection. */
  serverClose(code = 1006): void {
    this.readyState = 3;
    this.onerror?.(new Event('error'));
    this.onclose?.(new CloseEvent('close', { code }));
  }

  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
    this.readyState = 3;
  }
}

/** Manual clock, timers and animation frames. */
export class FakeScheduler {
  time = 1_000_000;
  private nextId = 1;
  private timers = new Map<number, { at: number; cb: () => void }>();
  private frames = new Map<number, () => void>();
  randomValues: number[] = [];
  rafCalls = 0;

  now = (): number => this.time;

  random = (): number => this.randomValues.shift() ?? 0.5;

  setTimeout = (cb: () => void, ms: number): number => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, cb });
    return id;
  };

  clearTimeout = (id: unknown): void => {
    this.timers.delete(id as number);
  };

  requestAnimationFrame = (cb: () => void): number => {
    this.rafCalls++;
    const id = this.nextId++;
    this.frames.set(id, cb);
    return id;
  };

  cancelAnimationFrame = (id: number): void => {
    this.frames.delete(id);
  };

  get pendingFrames(): number {
    return this.frames.size;
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Delays of the pending timers, relative to now. */
  timerDelays(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }

  /** Runs the animation frames requested so far. */
  frame(): void {
    const frames = [...this.frames.values()];
    this.frames.clear();
    for (const cb of frames) cb();
  }

  /** Advances the clock to the earliest pending timer and fires it. */
  fireNext(): void {
    const [first] = this.timerDelays();
    if (first === undefined) throw new Error('no pending timer');
    this.advance(first);
  }

  /** Advances the clock, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let due: [number, { at: number; cb: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
      }
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].cb();
    }
    this.time = end;
  }

  options(extra: RealtimeOptions = {}): RealtimeOptions {
    return {
      url: 'ws://test.local/ws',
      WebSocket: FakeWebSocket,
      now: this.now,
      random: this.random,
      requestAnimationFrame: this.requestAnimationFrame,
      cancelAnimationFrame: this.cancelAnimationFrame,
      setTimeout: this.setTimeout,
      clearTimeout: this.clearTimeout,
      watchNetwork: false,
      ...extra,
    };
  }
}

export const STARTED_AT = 1_764_189_000_000;

let eventCounter = 0;

export function makeEvent(over: Partial<EventResult> = {}): EventResult {
  eventCounter++;
  const id = over.id ?? `${String(eventCounter).padStart(8, '0')}-0000-4000-8000-000000000000`;
  return {
    id,
    source: 'generator',
    createdAt: STARTED_AT + 1000,
    deadlineMs: 100,
    processedAt: STARTED_AT + 1048,
    latencyMs: 48.2,
    status: 'on-time',
    ...over,
  };
}

export function makeBatch(seq: number, over: Partial<Batch> = {}): Batch {
  return {
    seq,
    at: STARTED_AT + seq * 100,
    startedAt: STARTED_AT,
    tickMs: 100,
    counts: { received: 10, onTime: 8, late: 1, dropped: 1, droppedBy: { 'queue-full': 1 }, failedBy: {} },
    totals: {
      received: seq * 10,
      onTime: seq * 8,
      late: seq,
      dropped: seq,
      inFlight: 3,
      droppedBy: { 'queue-full': seq },
      failedBy: {},
    },
    latency: { count: 9, p50: 40.5, p90: 80.25, p99: 120, max: 130.75 },
    health: makeHealth(),
    events: [],
    config: makeSettings(),
    ...over,
  };
}

/** The server's defaults (config.Defaults) with overrides. */
export function makeSettings(over: Partial<Settings> = {}): Settings {
  return {
    rate: 20,
    deadlineMs: 100,
    workMs: 50,
    workDist: 'fixed',
    processor: 'sleep',
    workerUrl: '',
    workerSubject: 'ontime.work',
    arrivals: 'constant',
    workers: 4,
    concurrency: 'fixed',
    queueCap: 64,
    policy: 'edf',
    tickMs: 100,
    ...over,
  };
}

/** makeBatch's health with overrides. */
export function makeHealth(over: Partial<Batch['health']> = {}): Batch['health'] {
  return {
    queueDepth: 5,
    queueCap: 1000,
    queueBytes: 2000,
    queueBytesCap: 64 << 20,
    workers: 8,
    busy: 3,
    status: 'ok',
    cause: '',
    tickJitterMs: 0.4,
    scheduleErrorMs: 0.2,
    limit: 8,
    callP50Ms: 0,
    callP90Ms: 0,
    callP99Ms: 0,
    callBestMs: 0,
    ...over,
  };
}
