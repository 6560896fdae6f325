import { describe, expect, it } from 'vitest';
import { parseHistory, parseIncidents } from './historyApi';
import { bandsOf, COLUMNS, SeriesModel, type Column, type SeriesData } from './series';
import { makeBatch, makeHealth, STARTED_AT } from './test/fakes';
import type { HistoryPoint, HistoryResponse } from './types';

/** A history point at t with per-step counts; the rest idle. */
function hp(t: number, over: Partial<HistoryPoint> = {}): HistoryPoint {
  return {
    t,
    received: 0,
    onTime: 0,
    late: 0,
    dropped: 0,
    p50: 0,
    p90: 0,
    p99: 0,
    max: 0,
    queueDepth: 0,
    queueCap: 64,
    busy: 0,
    workers: 4,
    limit: 4,
    status: 'ok',
    deadlineMs: 100,
    ...over,
  };
}

function history(range: HistoryResponse['range'], stepMs: number, points: HistoryPoint[]): HistoryResponse {
  return { range, stepMs, now: points.at(-1)?.t ?? 0, startedAt: STARTED_AT, points };
}

const T0 = STARTED_AT + 100_000; // a whole second

describe('SeriesModel with the server history', () => {
  it('puts the history in front of the live points, newest live points kept', () => {
    const m = new SeriesModel();
    // A live batch arrived before the history's answer.
    m.push(makeBatch(1, { at: T0 + 3100, counts: { received: 3, onTime: 3, late: 0, dropped: 0, droppedBy: {}, failedBy: {} } }));
    const h = history('1m', 1000, [
      hp(T0, { onTime: 20, p50: 30, p99: 45 }),
      hp(T0 + 1000, { onTime: 18, late: 1, dropped: 1, p50: 31, p99: 90, status: 'degraded' }),
      hp(T0 + 2000, { onTime: 20, p50: 29, p99: 40 }),
      // A point as new as the live one: the history's stands, not doubled.
      hp(T0 + 3100, { onTime: 99 }),
    ]);
    expect(m.load(h)).toBe(true);
    m.flush();
    const d = m.getData();
    expect(d.x).toEqual([T0 / 1000, T0 / 1000 + 1, T0 / 1000 + 2, (T0 + 3100) / 1000]);
    // 1 s steps: the counts are the rates.
    expect(d.onTime).toEqual([20, 18, 20, 99]);
    expect(d.miss[1]).toBeCloseTo(10, 9);
    expect(d.p99).toEqual([45, 90, 40, 0]);
    expect(d.status).toEqual([0, 1, 0, 0]);

    // Live batches append after it, at their rate over the sliding second.
    m.push(makeBatch(2, { at: T0 + 3200, counts: { received: 2, onTime: 2, late: 0, dropped: 0, droppedBy: {}, failedBy: {} } }));
    m.flush();
    expect(m.getData().x.at(-1)).toBe((T0 + 3200) / 1000);
    expect(m.getData().onTime.at(-1)).toBe(3 + 2);
  });

  it('does not dip where the history joins the live points, and draws the deadline over both', () => {
    // A run going at 20 events/s (2 a 100 ms tick) that the dashboard
    // joins at seq 500, 400 ms into a second: a few live batches, then the
    // history's answer, then more batches.
    const live = (k: number) =>
      makeBatch(500 + k, { at: T0 + 3500 + 100 * k, counts: { received: 2, onTime: 2, late: 0, dropped: 0, droppedBy: {}, failedBy: {} } });
    const m = new SeriesModel();
    for (let k = 0; k < 4; k++) m.push(live(k));
    m.load(history('1m', 1000, [hp(T0, { onTime: 20 }), hp(T0 + 1000, { onTime: 20 }), hp(T0 + 2000, { onTime: 20, deadlineMs: 120 })]));
    for (let k = 4; k < 25; k++) m.push(live(k));
    m.flush();
    const d = m.getData();
    expect(d.length).toBe(3 + 25);
    // Every point, history and live, at 20/s: the first live points'
    // sliding second held less than a second, and counts over what it held.
    d.onTime.forEach((v, i) => expect(v, `point ${i}`).toBeCloseTo(20, 9));
    // The deadline is drawn over the history too (each step's own).
    expect(d.deadline.slice(0, 4)).toEqual([100, 100, 120, 100]);
    expect(d.deadline.every((v) => v !== null)).toBe(true);
  });

  it('does not dip in the step it joined partway through (longer ranges)', () => {
    const m = new SeriesModel();
    m.setRange('15m');
    m.load(history('15m', 1000, [hp(T0, { onTime: 20 }), hp(T0 + 1000, { onTime: 20 })]));
    // Joined at seq 800 in the step T0 + 2000, 400 ms in: its batches
    // cover 500 ms of it, then whole steps follow.
    for (let k = 0; k < 26; k++) {
      m.push(makeBatch(800 + k, { at: T0 + 2500 + 100 * k, counts: { received: 2, onTime: 2, late: 0, dropped: 0, droppedBy: {}, failedBy: {} } }));
    }
    m.flush();
    const d = m.getData();
    expect(d.x).toEqual([T0 / 1000, T0 / 1000 + 1, T0 / 1000 + 2, T0 / 1000 + 3, T0 / 1000 + 4]);
    d.onTime.forEach((v, i) => expect(v, `point ${i}`).toBeCloseTo(20, 9));
  });

  it('counts a run seen from its first batch (seq 1) over the second as it is', () => {
    const m = new SeriesModel();
    m.push(makeBatch(1, { at: T0 + 100, counts: { received: 2, onTime: 2, late: 0, dropped: 0, droppedBy: {}, failedBy: {} } }));
    m.flush();
    // Nothing ran before seq 1: 2 events in the run's first second is 2/s.
    expect(m.getData().onTime).toEqual([2]);
  });

  it('leaves a gap where steps are missing, and no latency where nothing was processed', () => {
    const m = new SeriesModel();
    m.load(history('1m', 1000, [hp(T0, { onTime: 1, p50: 5, p99: 6 }), hp(T0 + 1000, { dropped: 4 }), hp(T0 + 5000, { onTime: 2, p50: 7, p99: 8 })]));
    m.flush();
    const d = m.getData();
    expect(d.length).toBe(4);
    expect(d.onTime[2]).toBeNull(); // the gap between +1000 and +5000
    expect(d.p50[1]).toBeNull(); // only drops in that step
    expect(d.dropped[1]).toBe(4);
  });

  it('takes the history of the range shown only (a late answer for another range is ignored)', () => {
    const m = new SeriesModel();
    m.setRange('1h');
    expect(m.windowMs).toBe(3_600_000);
    expect(m.load(history('1m', 1000, [hp(T0)]))).toBe(false);
    expect(m.load(history('1h', 1000, [hp(T0)]))).toBe(true);
  });

  it('folds live batches into the 24 h range’s minutes, as rates per second', () => {
    const m = new SeriesModel();
    m.setRange('24h');
    const minute = Math.floor(T0 / 60_000) * 60_000 + 60_000;
    // 600 batches of 100 ms with 3 on time each: one minute, 1800 on time = 30/s.
    for (let i = 0; i < 600; i++) {
      m.push(
        makeBatch(i + 1, {
          at: minute + i * 100,
          counts: { received: 3, onTime: 3, late: 0, dropped: 0, droppedBy: {}, failedBy: {} },
          health: makeHealth({ busy: i === 300 ? 8 : 2, status: i === 10 ? 'overloaded' : 'ok' }),
        }),
      );
    }
    m.flush();
    expect(m.getData().length).toBe(0); // the minute is not over yet
    // A batch inside the open minute commits nothing (no redraw of the range).
    m.push(makeBatch(600.5, { at: minute + 59_950, counts: { received: 0, onTime: 0, late: 0, dropped: 0, droppedBy: {}, failedBy: {} } }));
    expect(m.flush()).toBe(false);
    m.push(makeBatch(601, { at: minute + 60_000 }));
    m.flush();
    const d = m.getData();
    expect(d.length).toBe(1);
    expect(d.x[0]).toBe(minute / 1000);
    expect(d.onTime[0]).toBe(30);
    expect(d.busy[0]).toBe(8); // the step's peak
    expect(d.status[0]).toBe(2); // its worst verdict
  });

  it('finds the incident bands in the status column', () => {
    const m = new SeriesModel();
    const st = ['ok', 'degraded', 'degraded', 'overloaded', 'ok', 'ok', 'overloaded'] as const;
    m.load(history('1m', 1000, st.map((s, i) => hp(T0 + i * 1000, { status: s }))));
    m.flush();
    const t = T0 / 1000;
    expect(bandsOf(m.getData())).toEqual([
      { from: t + 1, to: t + 3, status: 'degraded' },
      { from: t + 3, to: t + 4, status: 'overloaded' },
      { from: t + 6, to: t + 6, status: 'overloaded' },
    ]);
    // The commit carries the same bands, found once for every chart.
    expect(m.getData().bands).toEqual(bandsOf(m.getData()));
    // A commit after the incident ended closes its band at the next point.
    m.load(history('1m', 1000, [...st, 'ok' as const].map((s, i) => hp(T0 + i * 1000, { status: s }))));
    m.flush();
    expect(m.getData().bands.at(-1)).toEqual({ from: t + 6, to: t + 7, status: 'overloaded' });
  });
});

describe('parsing the history API', () => {
  it('reads a history, sorting points and leaving out bad ones', () => {
    const h = parseHistory({
      range: '15m',
      stepMs: 1000,
      now: 5,
      startedAt: 1,
      points: [{ t: 2000, onTime: 3, status: 'overloaded', droppedBy: { shed: 2, bad: 'x' } }, { t: 'no' }, { t: 1000, late: 1 }],
    });
    expect(h?.points.map((p) => p.t)).toEqual([1000, 2000]);
    expect(h?.points[1]?.status).toBe('overloaded');
    // Counts by reason are not shown by the charts: not parsed.
    expect(h?.points[1]).not.toHaveProperty('droppedBy');
    expect(h?.points[1]?.onTime).toBe(3);
    expect(h?.points[0]?.status).toBe('ok');
    expect(parseHistory({ points: [] })).toBeNull(); // no stepMs
    expect(parseHistory('nope')).toBeNull();
  });

  it('reads incidents newest first, with ongoing ones as end null', () => {
    const list = parseIncidents({
      incidents: [
        { id: 1, kind: 'health', status: 'degraded', start: 100, end: 200, worstMissRate: 0.25, topReasons: [{ reason: 'shed', count: 3 }] },
        { id: 2, kind: 'node-lost', status: 'overloaded', start: 300, end: null, worstMissRate: 3, topReasons: [], node: 'n2' },
      ],
    });
    expect(list?.map((i) => i.id)).toEqual([2, 1]);
    expect(list?.[0]).toMatchObject({ end: null, node: 'n2', worstMissRate: 1 });
    expect(list?.[1]?.topReasons).toEqual([{ reason: 'shed', count: 3 }]);
    expect(parseIncidents({})).toBeNull();
  });
});

/**
 * What load() commits, computed row by row from the points committed before
 * it (the live points) and the history: the history's points with a gap
 * where steps are missing, a gap before the live points when they start
 * over 2 steps later, then the live points newer than the history, the
 * whole cut to the window ending at the newest point.
 */
function expectedLoad(before: SeriesData, h: HistoryResponse, windowMs: number): Record<Column, (number | null)[]> {
  const rows: Record<Column, number | null>[] = [];
  const gap = (atMs: number) => {
    const r = {} as Record<Column, number | null>;
    for (const c of COLUMNS) r[c] = null;
    r.x = atMs / 1000;
    return r;
  };
  const perSec = 1000 / h.stepMs;
  const level = { ok: 0, degraded: 1, overloaded: 2 } as const;
  let prev: number | null = null;
  for (const p of h.points) {
    if (prev !== null && p.t <= prev) continue;
    if (prev !== null && p.t - prev > 1.5 * h.stepMs) rows.push(gap((prev + p.t) / 2));
    const processed = p.onTime + p.late > 0;
    const finished = p.onTime + p.late + p.dropped;
    rows.push({
      x: p.t / 1000,
      p50: processed ? p.p50 : null,
      p99: processed ? p.p99 : null,
      deadline: p.deadlineMs > 0 ? p.deadlineMs : null,
      onTime: p.onTime * perSec,
      late: p.late * perSec,
      dropped: p.dropped * perSec,
      miss: finished > 0 ? ((p.late + p.dropped) / finished) * 100 : null,
      queue: p.queueDepth,
      queueCap: p.queueCap,
      busy: p.busy,
      workers: p.workers,
      status: level[p.status],
    });
    prev = p.t;
  }
  const live: Record<Column, number | null>[] = [];
  for (let i = 0; i < before.length; i++) {
    if (prev !== null && before.x[i]! * 1000 <= prev + 0.5) continue;
    const r = {} as Record<Column, number | null>;
    for (const c of COLUMNS) r[c] = before[c][i]!;
    live.push(r);
  }
  if (prev !== null && live.length > 0 && live[0]!.x! * 1000 - prev > 2 * Math.max(h.stepMs, 1000)) {
    rows.push(gap((prev + live[0]!.x! * 1000) / 2));
  }
  rows.push(...live);
  const oldest = (rows.at(-1)?.x ?? 0) - windowMs / 1000;
  while (rows.length > 1 && rows[0]!.x! < oldest) rows.shift();
  const out = {} as Record<Column, (number | null)[]>;
  for (const c of COLUMNS) out[c] = rows.map((r) => r[c]);
  return out;
}

describe('SeriesModel.load writes the history straight into the ring', () => {
  // A small deterministic generator: the same cases at every run.
  function rng(seed: number) {
    let s = seed;
    return () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648;
    };
  }
  const statuses = ['ok', 'degraded', 'overloaded'] as const;

  for (const [range, stepMs] of [
    ['1m', 1000],
    ['1h', 1000],
    ['24h', 60_000],
  ] as const) {
    it(`commits what the history and the live points say, ${range}`, () => {
      const rand = rng(range.length * 7919 + stepMs);
      for (let round = 0; round < 20; round++) {
        const m = new SeriesModel();
        m.setRange(range);
        const n = Math.floor(rand() * 200);
        const start = T0 - n * stepMs;
        const pts: HistoryPoint[] = [];
        for (let i = 0; i < n; i++) {
          if (rand() < 0.1) continue; // a missing step: a gap
          const t = start + i * stepMs;
          pts.push(
            hp(t, {
              onTime: Math.floor(rand() * 30),
              late: rand() < 0.3 ? Math.floor(rand() * 5) : 0,
              dropped: rand() < 0.3 ? Math.floor(rand() * 5) : 0,
              p50: rand() * 50,
              p99: rand() * 200,
              queueDepth: Math.floor(rand() * 64),
              busy: Math.floor(rand() * 4),
              status: statuses[Math.floor(rand() * 3)],
            }),
          );
          if (rand() < 0.05) pts.push(hp(t, { onTime: 999 })); // a repeated step: the first stands
        }
        // Live batches, some older than the history's newest, some after
        // a pause (a gap before them), some newer.
        const liveFrom = T0 - stepMs * Math.floor(rand() * 5) + (rand() < 0.3 ? 5000 : 0);
        const batches = Math.floor(rand() * 40);
        for (let b = 0; b < batches; b++) {
          m.push(
            makeBatch(b + 1, {
              at: liveFrom + b * 100,
              health: makeHealth({ status: statuses[b % 3], queueDepth: b }),
            }),
          );
        }
        m.flush();
        const before = m.getData();
        const h = history(range, stepMs, pts);
        const want = expectedLoad(before, h, m.windowMs);
        expect(m.load(h)).toBe(true);
        m.flush();
        const got = m.getData();
        for (const c of COLUMNS) expect([c, got[c]]).toEqual([c, want[c]]);
        expect(got.length).toBe(want.x.length);
      }
    });
  }

  it('keeps the ring working after a load: pushes append, the window trims', () => {
    const m = new SeriesModel();
    const pts = Array.from({ length: 60 }, (_, i) => hp(T0 - (60 - i) * 1000, { onTime: i }));
    m.load(history('1m', 1000, pts));
    for (let b = 1; b <= 700; b++) m.push(makeBatch(b, { at: T0 + b * 100 }));
    m.flush();
    const d = m.getData();
    // The window's minute ends at the newest batch: history older than it is gone.
    expect(d.x.at(-1)).toBe((T0 + 70_000) / 1000);
    expect(d.x[0]!).toBeGreaterThanOrEqual((T0 + 10_000) / 1000);
    expect(d.x.every((x, i) => i === 0 || x! > d.x[i - 1]!)).toBe(true);
  });
});
