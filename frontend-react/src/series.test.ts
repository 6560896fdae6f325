import { describe, expect, it, vi } from 'vitest';
import { capacityFor, COLUMNS, MAX_POINTS, SeriesModel, type SeriesData } from './series';
import { makeBatch, makeEvent, makeSettings, STARTED_AT } from './test/fakes';
import type { Batch } from './types';

/** Batch seq at tick ms (at = STARTED_AT + seq * tick). */
function tickBatch(seq: number, tick = 100, over: Partial<Batch> = {}): Batch {
  return makeBatch(seq, { at: STARTED_AT + seq * tick, tickMs: tick, ...over });
}

function span(d: SeriesData): number {
  return d.x.length === 0 ? 0 : (d.x.at(-1)! - d.x[0]!) * 1000;
}

describe('SeriesModel', () => {
  it('sizes the ring for 60 s at the tick, capped at 6000 points', () => {
    expect(capacityFor(100)).toBe(601);
    expect(capacityFor(1000)).toBe(61);
    expect(capacityFor(10)).toBe(MAX_POINTS);
    expect(capacityFor(0)).toBe(601); // unknown tick: the default 100 ms
  });

  it('keeps only the last 60 s of points however many batches arrive', () => {
    const m = new SeriesModel();
    for (let seq = 1; seq <= 2000; seq++) m.push(tickBatch(seq));
    expect(m.length).toBe(601);
    // 601 ticks, and room for a minute of 1 s history points in front.
    expect(m.capacity).toBe(601 + 62);
    m.flush();
    const d = m.getData();
    expect(d.length).toBe(601);
    expect(span(d)).toBeCloseTo(60_000, 6);
    expect(d.x.at(-1)).toBe((STARTED_AT + 2000 * 100) / 1000);
    for (const c of COLUMNS) expect(d[c]).toHaveLength(601);
  });

  it('is bounded by time, not only by count, when the tick changes', () => {
    const m = new SeriesModel();
    let seq = 0;
    for (; seq < 300; seq++) m.push(tickBatch(seq + 1, 100)); // 30 s at 100 ms
    // Then 1 s ticks for 45 s: the 100 ms points older than 60 s go.
    const t0 = STARTED_AT + 300 * 100;
    for (let i = 1; i <= 45; i++) m.push(makeBatch(++seq, { at: t0 + i * 1000, tickMs: 1000 }));
    expect(m.capacity).toBe(61 + 62);
    m.flush();
    const d = m.getData();
    expect(d.length).toBeLessThanOrEqual(m.capacity);
    expect(span(d)).toBeLessThanOrEqual(60_000);
    expect(d.x.at(-1)).toBe((t0 + 45_000) / 1000);

    // 10 ms ticks: never more than 6000 points.
    const fast = new SeriesModel({ maxPoints: 3000 });
    for (let s = 1; s <= 7000; s++) fast.push(tickBatch(s, 10));
    expect(fast.length).toBe(3000 + 62);
    expect(capacityFor(10)).toBe(MAX_POINTS);
  });

  it('derives per-second rates, miss rate, latency and the deadline', () => {
    const m = new SeriesModel();
    m.push(
      tickBatch(1, 200, {
        counts: { received: 10, onTime: 6, late: 2, dropped: 2, droppedBy: { shed: 2 }, failedBy: {} },
        latency: { count: 8, p50: 40, p90: 70, p99: 90, max: 95 },
        config: makeSettings({ deadlineMs: 150, tickMs: 200 }),
      }),
    );
    // An idle tick: no latency, no miss rate; the deadline comes from events
    // when the server sends no config.
    m.push(
      tickBatch(2, 200, {
        counts: { received: 0, onTime: 0, late: 0, dropped: 0, droppedBy: {}, failedBy: {} },
        latency: { count: 0, p50: 0, p90: 0, p99: 0, max: 0 },
        config: undefined,
        events: [makeEvent({ deadlineMs: 120 })],
      }),
    );
    m.flush();
    const d = m.getData();
    // Rates over the sliding second: both batches (200 ms apart) are in
    // the second of the second point, the idle one adds nothing.
    expect(d.onTime).toEqual([6, 6]);
    expect(d.late).toEqual([2, 2]);
    expect(d.dropped).toEqual([2, 2]);
    expect(d.miss).toEqual([40, 40]);
    expect(d.p50).toEqual([40, null]);
    expect(d.p99).toEqual([90, null]);
    expect(d.deadline).toEqual([150, 120]);
    expect(d.queue).toEqual([5, 5]);
    expect(d.busy).toEqual([3, 3]);
    expect(d.workers).toEqual([8, 8]);
  });

  it('commits at most once per flush and only when something changed', () => {
    const m = new SeriesModel();
    const seen = vi.fn();
    m.subscribe(seen);
    expect(m.flush()).toBe(false);
    m.push(tickBatch(1));
    m.push(tickBatch(2));
    m.push(tickBatch(3));
    expect(seen).not.toHaveBeenCalled();
    expect(m.flush()).toBe(true);
    expect(seen).toHaveBeenCalledTimes(1);
    expect(seen.mock.calls[0]![0].length).toBe(3);
    expect(m.flush()).toBe(false);
    expect(seen).toHaveBeenCalledTimes(1);
    const before = m.getData();
    m.push(tickBatch(4));
    m.flush();
    expect(m.getData()).not.toBe(before);
    expect(before.length).toBe(3); // committed data is a copy
    expect(m.getData().version).toBe(before.version + 1);
  });

  it('ignores seen seqs, breaks the lines at a gap and starts over on a restart', () => {
    const m = new SeriesModel();
    m.push(tickBatch(1));
    m.push(tickBatch(2));
    expect(m.push(tickBatch(2))).toBe(false);
    expect(m.push(tickBatch(1))).toBe(false);
    m.push(tickBatch(5)); // 3 and 4 missed
    m.flush();
    let d = m.getData();
    expect(d.length).toBe(4);
    expect(d.p50[2]).toBeNull();
    expect(d.x[2]).toBeGreaterThan(d.x[1]!);
    expect(d.x[2]).toBeLessThan(d.x[3]!);

    m.push(makeBatch(1, { startedAt: STARTED_AT + 1, at: STARTED_AT + 10_000 }));
    m.flush();
    d = m.getData();
    expect(d.length).toBe(1);
    expect(d.x).toEqual([(STARTED_AT + 10_000) / 1000]);
  });
});
