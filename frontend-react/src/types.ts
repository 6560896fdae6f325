// The wire contract of GET /ws: one Batch per coalescer tick, as JSON.
// Later server versions only add fields (never rename), so extra fields are
// tolerated everywhere.

/** Drop reason -> count. Only non-zero reasons are present; may be empty. */
export type DropReasons = Record<string, number>;

export type EventStatus = 'on-time' | 'late' | 'dropped';

export type HealthStatus = 'ok' | 'degraded' | 'overloaded';

// The settings that take one of a few names: which names, is the `choices`
// of GET /api/config/schema (schema.ts), not repeated here.
export type WorkDist = string;
/** 'http' and 'nats' are the user's workers (StatsBar shows their host or subject). */
export type Processor = string;
export type Concurrency = string;
export type Arrivals = string;
export type Policy = string;

/**
 * The live settings (Go config.Settings): carried by every batch as `config`,
 * answered by GET /api/config and by a successful PATCH /api/config (which
 * takes any subset of them). Durations are milliseconds. Their limits and
 * choices are GET /api/config/schema's (schema.ts).
 */
export interface Settings {
  /** events/s; 0 turns the generator off. */
  rate: number;
  deadlineMs: number;
  /** mean simulated work per event */
  workMs: number;
  workDist: WorkDist;
  processor: Processor;
  /**
   * The worker that processes events when processor is http: an http or
   * https URL; '' when none. Required with processor http.
   */
  workerUrl: string;
  /**
   * The NATS subject events are sent on when processor is nats (which only
   * a cluster node accepts): no wildcards; default ontime.work.
   */
  workerSubject: string;
  arrivals: Arrivals;
  /** an integer */
  workers: number;
  /**
   * fixed: `workers` events at once; adaptive: a limit between 1 and
   * `workers` learned from the processor's call latency. A patch that
   * changes the processor leaves it as it is.
   */
  concurrency: Concurrency;
  /** an integer */
  queueCap: number;
  policy: Policy;
  /** batch period */
  tickMs: number;
}

export type SettingName = keyof Settings;

/** A partial update for PATCH /api/config. */
export type SettingsPatch = Partial<Settings>;

/** The 400 body of PATCH /api/config: field names are the JSON names. */
export interface ConfigErrorBody {
  error: string;
  fields?: Partial<Record<SettingName, string>>;
}

export interface EventResult {
  id: string;
  source: string;
  /** unix ms */
  createdAt: number;
  deadlineMs: number;
  /** unix ms */
  processedAt: number;
  latencyMs: number;
  status: EventStatus;
  /** Only when dropped (and sometimes for late, e.g. "cancelled"). */
  reason?: string;
  /** The producer's JSON, for ingested events. */
  payload?: unknown;
  /**
   * What the worker answered (any JSON, at most 4 KiB). Untrusted: render
   * as text only.
   */
  result?: unknown;
  /** The kind of failure ("http-503", "connect", ...) when reason is "failed". */
  failure?: string;
  /** Why a shed event was shed, in numbers ("needs ~34ms, 12ms left: ..."). */
  detail?: string;
}

/**
 * The pipeline's load and a verdict on it (Go batch.Health, field for
 * field: a Go test keeps the two equal): every batch's `health`, and
 * GET /api/stats' `health`.
 */
export interface Health {
  queueDepth: number;
  queueCap: number;
  /** Bytes of the events waiting (payloads plus a fixed overhead each). */
  queueBytes: number;
  /** The queue's byte budget, which bounds queueBytes. */
  queueBytesCap: number;
  workers: number;
  busy: number;
  status: HealthStatus;
  /**
   * Why status is not ok, in words ("worker failing: http-500",
   * "dropping under load: shed", "queue nearly full", ...; several joined
   * by "; ", overload first); '' when ok.
   */
  cause: string;
  /** How late this batch's tick fired, ms. */
  tickJitterMs: number;
  /** The generator's largest schedule error during the tick, ms. */
  scheduleErrorMs: number;
  /**
   * Events processed at once at most: the adaptive concurrency limit, or
   * the workers when concurrency is fixed.
   */
  limit: number;
  /** The processor's call latency as learned for admission (last 512 calls of 10 s), ms; 0 when none completed. */
  callP50Ms: number;
  callP90Ms: number;
  callP99Ms: number;
  /** The best call latency learned, ms; 0 when unknown. */
  callBestMs: number;
}

export interface Batch {
  /** +1 per tick, starting at 1 (restarts at 1 when the server restarts). */
  seq: number;
  /** unix ms when the batch was made */
  at: number;
  /** unix ms when this server process started */
  startedAt: number;
  tickMs: number;
  /** during this tick */
  counts: {
    received: number;
    onTime: number;
    late: number;
    dropped: number;
    droppedBy: DropReasons;
    /** Drops of reason "failed" by kind of failure; empty when none failed. */
    failedBy: DropReasons;
  };
  /** since server start */
  totals: {
    received: number;
    onTime: number;
    late: number;
    dropped: number;
    inFlight: number;
    droppedBy: DropReasons;
    /** Drops of reason "failed" by kind of failure; empty when none failed. */
    failedBy: DropReasons;
  };
  /** of events processed (on-time or late) this tick; ms; all 0 when count is 0 */
  latency: {
    count: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
  };
  health: Health;
  /** at most the 50 newest results of this tick, oldest first */
  events: EventResult[];
  /** The settings in force when the batch was made; absent from older servers. */
  config?: Settings;
  /**
   * Cluster mode only: every node as the serving node sees it. In a
   * cluster `seq` is a wall-clock tick index, not a count from 1.
   */
  nodes?: NodeStatus[];
}

/** One node of a cluster, as listed in every cluster batch. */
export interface NodeStatus {
  id: string;
  /** 'joining', 'lost', or the node's health verdict */
  status: string;
  /** unix ms: the node's current incarnation */
  startedAt: number;
  /** unix ms, on the serving node's clock */
  lastSeen: number;
  /** the node's clock minus the serving node's, ms */
  skewMs: number;
  /** the node's load in its latest merged partial */
  health: Pick<Health, 'queueDepth' | 'queueCap' | 'workers' | 'busy' | 'status' | 'cause' | 'limit'>;
}

/** The ranges GET /api/history serves. */
export type HistoryRange = '1m' | '15m' | '1h' | '24h';

/**
 * One step of GET /api/history: counts over the step, the rest as of its
 * end. The server's points also carry droppedBy and failedBy (counts by
 * reason and by kind of failure); the charts do not show them, so they are
 * not parsed: an hour is 3,600 of each.
 */
export interface HistoryPoint {
  /** unix ms */
  t: number;
  received: number;
  onTime: number;
  late: number;
  dropped: number;
  /** ms, of the events processed in the step */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  queueDepth: number;
  queueCap: number;
  busy: number;
  workers: number;
  limit: number;
  status: HealthStatus;
  /** the deadline in force at the step's end, whole ms; 0 when unknown (older servers) */
  deadlineMs: number;
}

/** GET /api/history?range=…: oldest first; missing steps are absent. */
export interface HistoryResponse {
  range: HistoryRange;
  /** 1000 for 1m, 15m and 1h; 60000 for 24h */
  stepMs: number;
  now: number;
  startedAt: number;
  points: HistoryPoint[];
}

export type IncidentKind = 'health' | 'restart' | 'node-lost' | 'node-rejoined';

/** One entry of GET /api/incidents (newest first). */
export interface Incident {
  id: number;
  kind: IncidentKind;
  status: HealthStatus;
  /** unix ms */
  start: number;
  /** unix ms; null while ongoing */
  end: number | null;
  /** 0..1 */
  worstMissRate: number;
  topReasons: { reason: string; count: number }[];
  /** the node concerned, for node-lost and node-rejoined */
  node?: string;
}
