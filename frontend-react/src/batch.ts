import type { Batch, DropReasons, EventResult, HealthStatus, NodeStatus, Settings } from './types';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function reasons(v: unknown): DropReasons {
  const out: DropReasons = {};
  if (isObj(v)) {
    for (const [k, n] of Object.entries(v)) {
      if (typeof n === 'number' && Number.isFinite(n)) out[k] = n;
    }
  }
  return out;
}

function section(v: unknown): Obj {
  return isObj(v) ? v : {};
}

const str = <T extends string>(v: unknown, fallback: T): T => (typeof v === 'string' ? (v as T) : fallback);

/**
 * The settings as sent by the server, or undefined when absent (older
 * servers) or not an object. Unknown fields are kept; a missing or
 * malformed field becomes 0 or ''.
 */
export function parseSettings(v: unknown): Settings | undefined {
  if (!isObj(v)) return undefined;
  return {
    ...v,
    rate: num(v.rate),
    deadlineMs: num(v.deadlineMs),
    workMs: num(v.workMs),
    workDist: str(v.workDist, '' as Settings['workDist']),
    processor: str(v.processor, '' as Settings['processor']),
    workerUrl: str(v.workerUrl, ''),
    workerSubject: str(v.workerSubject, ''),
    arrivals: str(v.arrivals, '' as Settings['arrivals']),
    workers: num(v.workers),
    concurrency: str(v.concurrency, '' as Settings['concurrency']),
    queueCap: num(v.queueCap),
    policy: str(v.policy, '' as Settings['policy']),
    tickMs: num(v.tickMs),
  };
}

function isEvent(v: unknown): v is EventResult {
  return isObj(v) && typeof v.id === 'string' && typeof v.status === 'string';
}

/**
 * An event row as the UI may trust it: reason and failure are strings or
 * absent. result and payload stay whatever JSON the server sent.
 */
function parseEvent(e: EventResult): EventResult {
  const badReason = 'reason' in e && typeof e.reason !== 'string';
  const badFailure = 'failure' in e && typeof e.failure !== 'string';
  const badDetail = 'detail' in e && typeof e.detail !== 'string';
  if (!badReason && !badFailure && !badDetail) return e;
  const out = { ...e };
  if (badReason) delete out.reason;
  if (badFailure) delete out.failure;
  if (badDetail) delete out.detail;
  return out;
}

/**
 * Parses one WebSocket message into a Batch. Returns null for anything that is
 * not a batch (not JSON, no numeric seq/startedAt). Unknown fields are kept;
 * missing or malformed sub-sections are filled with zeros so the UI never
 * has to guard against them.
 */
export function parseBatch(data: unknown): Batch | null {
  if (typeof data !== 'string') return null;
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isObj(v) || typeof v.seq !== 'number' || typeof v.startedAt !== 'number') return null;
  const counts = section(v.counts);
  const totals = section(v.totals);
  const latency = section(v.latency);
  const health = section(v.health);
  const { config: rawConfig, nodes: rawNodes, ...rest } = v;
  const config = parseSettings(rawConfig);
  const nodes = parseNodes(rawNodes);
  return {
    ...rest,
    ...(config ? { config } : {}),
    ...(nodes ? { nodes } : {}),
    seq: v.seq,
    at: num(v.at),
    startedAt: v.startedAt,
    tickMs: num(v.tickMs),
    counts: {
      ...counts,
      received: num(counts.received),
      onTime: num(counts.onTime),
      late: num(counts.late),
      dropped: num(counts.dropped),
      droppedBy: reasons(counts.droppedBy),
      failedBy: reasons(counts.failedBy),
    },
    totals: {
      ...totals,
      received: num(totals.received),
      onTime: num(totals.onTime),
      late: num(totals.late),
      dropped: num(totals.dropped),
      inFlight: num(totals.inFlight),
      droppedBy: reasons(totals.droppedBy),
      failedBy: reasons(totals.failedBy),
    },
    latency: {
      ...latency,
      count: num(latency.count),
      p50: num(latency.p50),
      p90: num(latency.p90),
      p99: num(latency.p99),
      max: num(latency.max),
    },
    health: {
      ...health,
      queueDepth: num(health.queueDepth),
      queueCap: num(health.queueCap),
      workers: num(health.workers),
      queueBytes: num(health.queueBytes),
      queueBytesCap: num(health.queueBytesCap),
      busy: num(health.busy),
      status: typeof health.status === 'string' ? (health.status as Batch['health']['status']) : 'ok',
      cause: typeof health.cause === 'string' ? health.cause : '',
      tickJitterMs: num(health.tickJitterMs),
      scheduleErrorMs: num(health.scheduleErrorMs),
      limit: num(health.limit),
      callP50Ms: num(health.callP50Ms),
      callP90Ms: num(health.callP90Ms),
      callP99Ms: num(health.callP99Ms),
      callBestMs: num(health.callBestMs),
    },
    events: Array.isArray(v.events) ? v.events.filter(isEvent).map(parseEvent) : [],
  };
}

/** A health verdict as sent, or 'ok' for anything else. */
export function parseStatus(v: unknown): HealthStatus {
  return v === 'degraded' || v === 'overloaded' ? v : 'ok';
}

/**
 * The cluster's node list, or undefined when absent (a single node) or not
 * a list. Entries without a string id are left out; missing numbers are 0.
 */
export function parseNodes(v: unknown): NodeStatus[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.filter((n): n is Obj => isObj(n) && typeof n.id === 'string').map((n) => {
    const h = section(n.health);
    return {
      id: n.id as string,
      status: typeof n.status === 'string' ? n.status : '',
      startedAt: num(n.startedAt),
      lastSeen: num(n.lastSeen),
      skewMs: num(n.skewMs),
      health: {
        queueDepth: num(h.queueDepth),
        queueCap: num(h.queueCap),
        workers: num(h.workers),
        busy: num(h.busy),
        limit: num(h.limit),
        status: parseStatus(h.status),
        cause: typeof h.cause === 'string' ? h.cause : '',
      },
    };
  });
}

/** The /ws URL on the page's own host: ws: for http:, wss: for https:. */
export function defaultWsUrl(loc: Pick<Location, 'protocol' | 'host'> = window.location): string {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${loc.host}/ws`;
}
