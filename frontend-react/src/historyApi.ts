import { parseStatus } from './batch';
import type { FetchLike } from './configApi';
import type { HistoryPoint, HistoryRange, HistoryResponse, Incident, IncidentKind } from './types';

export const HISTORY_URL = '/api/history';
export const INCIDENTS_URL = '/api/incidents';

/** The ranges offered, in the selector's order. */
export const RANGES: readonly { key: HistoryRange; label: string; ms: number }[] = [
  { key: '1m', label: '1 min', ms: 60_000 },
  { key: '15m', label: '15 min', ms: 15 * 60_000 },
  { key: '1h', label: '1 h', ms: 60 * 60_000 },
  { key: '24h', label: '24 h', ms: 24 * 60 * 60_000 },
];

export function rangeMs(r: HistoryRange): number {
  return RANGES.find((x) => x.key === r)?.ms ?? 60_000;
}

/** The server's step for a range: 1 s up to 1 h, 1 min for 24 h. */
export function rangeStepMs(r: HistoryRange): number {
  return r === '24h' ? 60_000 : 1000;
}

export type Fetched<T> = { ok: true; data: T } | { ok: false; status: number; error: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function parsePoint(p: Obj): HistoryPoint {
  return {
    t: num(p.t),
    received: num(p.received),
    onTime: num(p.onTime),
    late: num(p.late),
    dropped: num(p.dropped),
    p50: num(p.p50),
    p90: num(p.p90),
    p99: num(p.p99),
    max: num(p.max),
    queueDepth: num(p.queueDepth),
    queueCap: num(p.queueCap),
    busy: num(p.busy),
    workers: num(p.workers),
    limit: num(p.limit),
    status: parseStatus(p.status),
    deadlineMs: num(p.deadlineMs),
  };
}

/**
 * A GET /api/history body, or null when it is not one. Points without a
 * numeric t are left out, the rest are sorted oldest first.
 */
export function parseHistory(v: unknown): HistoryResponse | null {
  if (!isObj(v) || !Array.isArray(v.points) || typeof v.stepMs !== 'number' || !(v.stepMs > 0)) return null;
  const points: HistoryPoint[] = [];
  let sorted = true;
  for (const p of v.points) {
    if (!isObj(p) || typeof p.t !== 'number' || !Number.isFinite(p.t)) continue;
    const point = parsePoint(p);
    if (points.length > 0 && point.t < points[points.length - 1]!.t) sorted = false;
    points.push(point);
  }
  // The server sends them oldest first: sort only when it did not.
  if (!sorted) points.sort((a, b) => a.t - b.t);
  return {
    range: (typeof v.range === 'string' ? v.range : '1m') as HistoryRange,
    stepMs: v.stepMs,
    now: num(v.now),
    startedAt: num(v.startedAt),
    points,
  };
}

const KINDS = new Set<IncidentKind>(['health', 'restart', 'node-lost', 'node-rejoined']);

/** A GET /api/incidents body, or null when it is not one; newest first. */
export function parseIncidents(v: unknown): Incident[] | null {
  if (!isObj(v) || !Array.isArray(v.incidents)) return null;
  return v.incidents
    .filter((i): i is Obj => isObj(i) && typeof i.start === 'number')
    .map((i) => ({
      id: num(i.id),
      kind: (KINDS.has(i.kind as IncidentKind) ? i.kind : 'health') as IncidentKind,
      status: parseStatus(i.status),
      start: num(i.start),
      end: typeof i.end === 'number' ? i.end : null,
      worstMissRate: Math.min(1, Math.max(0, num(i.worstMissRate))),
      topReasons: Array.isArray(i.topReasons)
        ? i.topReasons
            .filter((r): r is Obj => isObj(r) && typeof r.reason === 'string')
            .map((r) => ({ reason: r.reason as string, count: num(r.count) }))
        : [],
      ...(typeof i.node === 'string' ? { node: i.node } : {}),
    }))
    .sort((a, b) => b.start - a.start);
}

async function getJSON<T>(url: string, parse: (v: unknown) => T | null, f?: FetchLike): Promise<Fetched<T>> {
  const doFetch = f ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
  let res: Response;
  try {
    res = await doFetch(url, { headers: { Accept: 'application/json' } });
  } catch (e) {
    return { ok: false, status: 0, error: `cannot reach the server: ${e instanceof Error ? e.message : String(e)}` };
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: handled below
  }
  if (!res.ok) {
    const msg = isObj(body) && typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    return { ok: false, status: res.status, error: msg };
  }
  const data = parse(body);
  if (data === null) return { ok: false, status: res.status, error: `unexpected answer from ${url}` };
  return { ok: true, data };
}

/** GET /api/history?range=r. Never throws. */
export function fetchHistory(r: HistoryRange, f?: FetchLike): Promise<Fetched<HistoryResponse>> {
  return getJSON(`${HISTORY_URL}?range=${encodeURIComponent(r)}`, parseHistory, f);
}

/** GET /api/incidents. Never throws. */
export function fetchIncidents(f?: FetchLike): Promise<Fetched<Incident[]>> {
  return getJSON(INCIDENTS_URL, parseIncidents, f);
}
