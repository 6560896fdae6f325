// The wire contract of GET /ws: one Batch per coalescer tick, as JSON.
// Later server versions only add fields (never rename), so extra fields are
// tolerated everywhere.

/** Drop reason -> count. Only non-zero reasons are present; may be empty. */
export type DropReasons = Record<string, number>;

export type EventStatus = 'on-time' | 'late' | 'dropped';

export type HealthStatus = 'ok' | 'degraded' | 'overloaded';

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
  };
  /** since server start */
  totals: {
    received: number;
    onTime: number;
    late: number;
    dropped: number;
    inFlight: number;
    droppedBy: DropReasons;
  };
  /** of events processed (on-time or late) this tick; ms; all 0 when count is 0 */
  latency: {
    count: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
  };
  health: {
    queueDepth: number;
    queueCap: number;
    workers: number;
    busy: number;
    status: HealthStatus;
  };
  /** at most the 50 newest results of this tick, oldest first */
  events: EventResult[];
}
