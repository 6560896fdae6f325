import { beforeEach, describe, expect, it } from 'vitest';
import pageScript from '../../static/app.js?raw';
import { backoffDelay, DEFAULTS, RealtimeClient, type RealtimeSnapshot } from './realtimeClient';
import { SeriesModel, type SeriesData } from './series';
import { FakeScheduler, FakeWebSocket, makeBatch, makeEvent, STARTED_AT } from './test/fakes';

// Keeps the offline timer out of the way of timerDelays()[0].
const NO_OFFLINE = { offlineAfterMs: 1e9 };

function setup(extra = {}) {
  const sched = new FakeScheduler();
  const client = new RealtimeClient(sched.options(extra));
  const snaps: RealtimeSnapshot[] = [];
  client.subscribe((s) => snaps.push(s));
  client.start();
  return { sched, client, snaps, last: () => client.getSnapshot() };
}

beforeEach(() => FakeWebSocket.reset());

describe('RealtimeClient', () => {
  it('connects to the given URL without since on first connect', () => {
    setup();
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(FakeWebSocket.last.url).toBe('ws://test.local/ws');
  });

  it('goes connecting -> live -> reconnecting -> live', () => {
    const { sched, last } = setup();
    expect(last().state).toBe('connecting');
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(makeBatch(1));
    sched.frame();
    expect(last().state).toBe('live');
    ws.serverClose();
    sched.frame();
    expect(last().state).toBe('reconnecting');
    sched.fireNext();
    const ws2 = FakeWebSocket.last;
    expect(ws2).not.toBe(ws);
    ws2.open();
    expect(last().state).toBe('reconnecting'); // live only once a batch arrives
    ws2.send(makeBatch(2));
    sched.frame();
    expect(last().state).toBe('live');
  });

  it('folds all messages of one frame into one snapshot', () => {
    const { sched, snaps, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    for (let seq = 1; seq <= 10; seq++) ws.send(makeBatch(seq, { events: [makeEvent({ id: `e${seq}` })] }));
    expect(snaps).toHaveLength(0);
    expect(sched.pendingFrames).toBe(1);
    sched.frame();
    expect(snaps).toHaveLength(1);
    expect(last().latest?.seq).toBe(10);
    expect(last().latest?.totals.received).toBe(100);
    expect(last().events.map((e) => e.id)).toEqual(['e10', 'e9', 'e8', 'e7', 'e6', 'e5', 'e4', 'e3', 'e2', 'e1']);
    expect(last().lastBatchAt).toBe(sched.time);
  });

  it('keeps the newest 50 events, newest first, across frames', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    const ev = (seq: number, n: number) =>
      Array.from({ length: n }, (_, i) => makeEvent({ id: `s${seq}-${i}` }));
    ws.send(makeBatch(1, { events: ev(1, 30) }));
    sched.frame();
    const first = last().events;
    expect(first).toHaveLength(30);
    expect(first[0]!.id).toBe('s1-29');
    ws.send(makeBatch(2, { events: ev(2, 30) }));
    sched.frame();
    const ids = last().events.map((e) => e.id);
    expect(ids).toHaveLength(50);
    expect(ids[0]).toBe('s2-29');
    expect(ids[29]).toBe('s2-0');
    expect(ids[30]).toBe('s1-29');
    expect(ids[49]).toBe('s1-10');
    // more than 50 in one frame
    ws.send(makeBatch(3, { events: ev(3, 40) }));
    ws.send(makeBatch(4, { events: ev(4, 40) }));
    sched.frame();
    const ids2 = last().events.map((e) => e.id);
    expect(ids2).toHaveLength(50);
    expect(ids2[0]).toBe('s4-39');
    expect(ids2[39]).toBe('s4-0');
    expect(ids2[40]).toBe('s3-39');
    expect(ids2[49]).toBe('s3-30');
  });

  it('keeps the events array identity when a frame brings no events', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(makeBatch(1, { events: [makeEvent()] }));
    sched.frame();
    const events = last().events;
    ws.send(makeBatch(2));
    sched.frame();
    expect(last().latest?.seq).toBe(2);
    expect(last().events).toBe(events);
  });

  it('ignores malformed messages and tolerates unknown fields', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send('not json');
    ws.send('{"hello":1}');
    expect(sched.pendingFrames).toBe(0);
    ws.send({ ...makeBatch(1), futureField: { x: 1 }, events: [{ ...makeEvent({ id: 'x' }), extra: true }] });
    sched.frame();
    expect(last().latest?.seq).toBe(1);
    expect(last().events[0]!.id).toBe('x');
  });

  it('counts seq gaps and ignores duplicates', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(makeBatch(1, { events: [makeEvent({ id: 'a' })] }));
    ws.send(makeBatch(2, { events: [makeEvent({ id: 'b' })] }));
    ws.send(makeBatch(2, { events: [makeEvent({ id: 'dup' })] }));
    ws.send(makeBatch(1, { events: [makeEvent({ id: 'old' })] }));
    ws.send(makeBatch(6, { events: [makeEvent({ id: 'c' })] }));
    ws.send(makeBatch(7));
    ws.send(makeBatch(9));
    sched.frame();
    const s = last();
    expect(s.latest?.seq).toBe(9);
    expect(s.missedBatches).toBe(4); // 3,4,5 and 8
    expect(s.seqGaps).toBe(2);
    expect(s.duplicates).toBe(2);
    expect(s.events.map((e) => e.id)).toEqual(['c', 'b', 'a']);
  });

  it('resumes with since=<last seq> and accepts the replay contiguously', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(makeBatch(1));
    ws.send(makeBatch(2));
    ws.send(makeBatch(3));
    sched.frame();
    ws.serverClose();
    sched.fireNext();
    const ws2 = FakeWebSocket.last;
    expect(ws2.url).toBe('ws://test.local/ws?since=3');
    ws2.open();
    ws2.send(makeBatch(3)); // overlap: duplicate
    ws2.send(makeBatch(4));
    ws2.send(makeBatch(5));
    sched.frame();
    expect(last().latest?.seq).toBe(5);
    expect(last().missedBatches).toBe(0);
    expect(last().duplicates).toBe(1);
    // since is appended with & when the URL has a query already
    FakeWebSocket.reset();
    const s2 = setup({ url: 'ws://h/ws?x=1' });
    FakeWebSocket.last.send(makeBatch(8));
    FakeWebSocket.last.serverClose();
    s2.sched.fireNext();
    expect(FakeWebSocket.last.url).toBe('ws://h/ws?x=1&since=8');
  });

  it('accepts a seq gap when the server no longer has the history', () => {
    const { sched, last } = setup();
    FakeWebSocket.last.send(makeBatch(10));
    FakeWebSocket.last.serverClose();
    sched.fireNext();
    FakeWebSocket.last.send(makeBatch(500));
    sched.frame();
    expect(last().latest?.seq).toBe(500);
    expect(last().missedBatches).toBe(489);
  });

  it('resets on server restart (startedAt changes): seq restarts from 1, old events cleared', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(makeBatch(41, { events: [makeEvent({ id: 'old' })] }));
    ws.send(makeBatch(42));
    sched.frame();
    ws.serverClose();
    sched.fireNext();
    const ws2 = FakeWebSocket.last;
    expect(ws2.url).toContain('since=42');
    ws2.send(makeBatch(1, { startedAt: STARTED_AT + 60_000, events: [makeEvent({ id: 'new' })] }));
    ws2.send(makeBatch(2, { startedAt: STARTED_AT + 60_000 }));
    sched.frame();
    const s = last();
    expect(s.latest?.seq).toBe(2);
    expect(s.latest?.startedAt).toBe(STARTED_AT + 60_000);
    expect(s.restarts).toBe(1);
    expect(s.duplicates).toBe(0);
    expect(s.missedBatches).toBe(0);
    expect(s.events.map((e) => e.id)).toEqual(['new']);
    ws2.serverClose();
    sched.fireNext();
    expect(FakeWebSocket.last.url).toContain('since=2');
  });

  // Batches of a server that sends epochs (every current one).
  const withEpoch = (seq: number, epoch = STARTED_AT, over = {}) => ({ ...makeBatch(seq, over), epoch });
  const reset = (seq: number, epoch: number, reason: string) => JSON.stringify({ type: 'reset', seq, epoch, reason });

  it('resumes with since=<epoch>-<seq> when the server sends epochs', () => {
    const { sched } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(withEpoch(41));
    ws.send(withEpoch(42));
    sched.frame();
    ws.serverClose();
    sched.fireNext();
    expect(FakeWebSocket.last.url).toBe(`ws://test.local/ws?since=${STARTED_AT}-42`);
  });

  it('on a reset from another run: counts a restart once, clears events and chart, accepts the new run', () => {
    const { sched, client, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(withEpoch(49, STARTED_AT, { events: [makeEvent({ id: 'old' })] }));
    ws.send(withEpoch(50));
    sched.frame();
    ws.serverClose();
    sched.fireNext();
    const ws2 = FakeWebSocket.last;
    expect(ws2.url).toBe(`ws://test.local/ws?since=${STARTED_AT}-50`);
    const next = STARTED_AT + 60_000;
    // The restarted server is already past seq 50: it sends a reset, then its newest.
    ws2.send(reset(110, next, 'another-run'));
    ws2.send(withEpoch(110, next, { startedAt: next, at: next + 11_000, events: [makeEvent({ id: 'new' })] }));
    ws2.send(withEpoch(111, next, { startedAt: next, at: next + 11_100 }));
    sched.frame();
    const s = last();
    expect(s.latest?.seq).toBe(111);
    expect(s.restarts).toBe(1);
    expect(s.seqGaps).toBe(0);
    expect(s.missedBatches).toBe(0);
    expect(s.duplicates).toBe(0);
    expect(s.events.map((e) => e.id)).toEqual(['new']);
    expect(client.series.getData().length).toBe(2);
    ws2.serverClose();
    sched.fireNext();
    expect(FakeWebSocket.last.url).toBe(`ws://test.local/ws?since=${next}-111`);
  });

  it('on a reset of the same run: counts the gap once and keeps the events', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(withEpoch(10, STARTED_AT, { events: [makeEvent({ id: 'a' })] }));
    ws.send(reset(700, STARTED_AT, 'too-old'));
    ws.send(withEpoch(700, STARTED_AT, { events: [makeEvent({ id: 'b' })] }));
    ws.send(withEpoch(701));
    sched.frame();
    const s = last();
    expect(s.latest?.seq).toBe(701);
    expect(s.seqGaps).toBe(1);
    expect(s.missedBatches).toBe(689);
    expect(s.restarts).toBe(0);
    expect(s.events.map((e) => e.id)).toEqual(['b', 'a']);
  });

  it('on a reset behind our position (we were ahead): accepts the lower seqs, not as duplicates', () => {
    const { sched, client, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(withEpoch(500));
    sched.frame();
    ws.send(reset(20, STARTED_AT, 'future'));
    ws.send(withEpoch(20));
    ws.send(withEpoch(21));
    sched.frame();
    const s = last();
    expect(s.latest?.seq).toBe(21);
    expect(s.duplicates).toBe(0);
    expect(s.restarts).toBe(0);
    expect(client.series.getData().length).toBe(2); // the chart started over
    expect(client.resumePosition).toBe(`${STARTED_AT}-21`);
  });

  it('ignores a malformed reset', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(withEpoch(5));
    ws.send('{"type":"reset","seq":"x"}');
    ws.send('{"type":"reset"');
    ws.send(withEpoch(6));
    sched.frame();
    expect(last().latest?.seq).toBe(6);
    expect(last().seqGaps).toBe(0);
  });

  it('reconnects with exponential backoff and full jitter, within bounds', () => {
    const { sched } = setup(NO_OFFLINE);
    // random = 0.999 -> delay just below the ceiling; ceilings 250,500,...,10000 (cap)
    const ceilings = [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000];
    for (const ceiling of ceilings) {
      sched.randomValues.push(0.999);
      FakeWebSocket.last.serverClose();
      const [delay] = sched.timerDelays(); // the stale timer is cancelled on close; offline timer far away
      expect(delay).toBe(Math.floor(0.999 * ceiling));
      const before = FakeWebSocket.instances.length;
      sched.advance(delay! - 1);
      expect(FakeWebSocket.instances.length).toBe(before);
      sched.advance(1);
      expect(FakeWebSocket.instances.length).toBe(before + 1);
    }
    // jitter: random 0.5 -> half the (capped) ceiling
    sched.randomValues.push(0.5);
    FakeWebSocket.last.serverClose();
    expect(sched.timerDelays()[0]).toBe(5000);
  });

  it('resets the backoff after a connection delivers a batch', () => {
    const { sched } = setup(NO_OFFLINE);
    sched.randomValues.push(0.999, 0.999, 0.999);
    FakeWebSocket.last.serverClose();
    expect(sched.timerDelays()[0]).toBe(249);
    sched.advance(249);
    FakeWebSocket.last.serverClose();
    expect(sched.timerDelays()[0]).toBe(499);
    sched.advance(499);
    FakeWebSocket.last.open();
    FakeWebSocket.last.send(makeBatch(1));
    FakeWebSocket.last.serverClose();
    expect(sched.timerDelays()[0]).toBe(249);
  });

  it('does not reset the backoff for a connection that opens but sends nothing', () => {
    const { sched } = setup(NO_OFFLINE);
    sched.randomValues.push(0.999, 0.999);
    FakeWebSocket.last.serverClose();
    sched.advance(249);
    FakeWebSocket.last.open();
    FakeWebSocket.last.serverClose();
    expect(sched.timerDelays()[0]).toBe(499);
  });

  it('goes offline after offlineAfterMs without a working connection, live again on success', () => {
    const { sched, last } = setup({ offlineAfterMs: 10_000 });
    const ws = FakeWebSocket.last;
    ws.send(makeBatch(1));
    sched.advance(3000);
    ws.send(makeBatch(2));
    ws.serverClose(); // lost at t0
    sched.frame();
    expect(last().state).toBe('reconnecting');
    sched.advance(9999); // several failed attempts in between
    for (const s of FakeWebSocket.instances.slice(1)) if (s.readyState !== 3) s.serverClose();
    sched.frame();
    expect(last().state).toBe('reconnecting');
    sched.advance(1);
    sched.frame();
    expect(last().state).toBe('offline');
    // further failures keep it offline
    for (let i = 0; i < 3; i++) {
      FakeWebSocket.last.serverClose();
      sched.fireNext();
    }
    sched.frame();
    expect(last().state).toBe('offline');
    FakeWebSocket.last.send(makeBatch(3));
    sched.frame();
    expect(last().state).toBe('live');
    // a new loss starts a new 10 s window
    FakeWebSocket.last.serverClose();
    sched.frame();
    expect(last().state).toBe('reconnecting');
  });

  it('goes offline after the same time as the server-rendered page', () => {
    // The page (static/app.js) and the dashboard must not disagree on when a
    // lost connection counts as offline.
    const m = /\bOFFLINE_AFTER_MS\s*=\s*([\d_]+)\s*;/.exec(pageScript);
    expect(m, 'OFFLINE_AFTER_MS in static/app.js').not.toBeNull();
    const pageMs = Number(m![1]!.replaceAll('_', ''));
    expect(DEFAULTS.offlineAfterMs).toBe(pageMs);

    // And the client, left to its default, goes offline then.
    const { sched, last } = setup();
    FakeWebSocket.last.serverClose(); // lost at t0
    sched.frame();
    expect(last().state).toBe('reconnecting');
    sched.advance(pageMs - 1);
    for (const s of FakeWebSocket.instances) if (s.readyState !== 3) s.serverClose();
    sched.frame();
    expect(last().state).toBe('reconnecting');
    sched.advance(1);
    sched.frame();
    expect(last().state).toBe('offline');
  });

  it('goes offline when the first connection never works', () => {
    const { sched, last } = setup({ offlineAfterMs: 2000 });
    expect(last().state).toBe('connecting');
    FakeWebSocket.last.serverClose();
    sched.frame();
    expect(last().state).toBe('reconnecting');
    sched.advance(2000);
    sched.frame();
    expect(last().state).toBe('offline');
  });

  it('drops a silent connection and reconnects', () => {
    const { sched, last } = setup({ staleAfterMs: 3000 });
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(makeBatch(1));
    sched.advance(2000);
    ws.send(makeBatch(2));
    sched.advance(2999);
    expect(ws.closed).toBeNull();
    sched.advance(1);
    expect(ws.closed?.code).toBe(4000);
    sched.frame();
    expect(last().state).toBe('reconnecting');
    sched.fireNext();
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(FakeWebSocket.last.url).toContain('since=2');
  });

  it('handles a throwing WebSocket constructor by retrying', () => {
    const sched = new FakeScheduler();
    let calls = 0;
    class Throwing extends FakeWebSocket {
      constructor(url: string) {
        calls++;
        if (calls === 1) throw new Error('boom');
        super(url);
      }
    }
    const client = new RealtimeClient(sched.options({ WebSocket: Throwing }));
    client.start();
    expect(FakeWebSocket.instances).toHaveLength(0);
    sched.fireNext();
    expect(FakeWebSocket.instances).toHaveLength(1);
    client.stop();
  });

  it('stop closes the socket and cancels timers and the frame', () => {
    const { sched, client, snaps } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(makeBatch(1));
    expect(sched.pendingFrames).toBe(1);
    client.stop();
    expect(ws.closed?.code).toBe(1000);
    expect(sched.pendingFrames).toBe(0);
    expect(sched.pendingTimers).toBe(0);
    ws.serverClose(); // late events from the old socket are ignored
    ws.send(makeBatch(2));
    sched.advance(60_000);
    sched.frame();
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(snaps).toHaveLength(0);
  });

  it('stop while reconnecting cancels the reconnect', () => {
    const { sched, client } = setup();
    FakeWebSocket.last.serverClose();
    expect(sched.pendingTimers).toBe(2); // reconnect + offline
    client.stop();
    expect(sched.pendingTimers).toBe(0);
    sched.advance(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('stop on a socket still connecting closes it once it opens', () => {
    const { client } = setup();
    const ws = FakeWebSocket.last;
    client.stop();
    expect(ws.closed).toBeNull();
    ws.open();
    expect(ws.closed?.code).toBe(1000);
  });
});

describe('RealtimeClient chart history', () => {
  it('feeds the series with accepted batches and commits it in the same frame as the snapshot', () => {
    const { sched, client, snaps } = setup();
    const order: string[] = [];
    const series: SeriesData[] = [];
    client.series.subscribe((d) => {
      order.push('series');
      series.push(d);
    });
    client.subscribe(() => order.push('snapshot'));
    const ws = FakeWebSocket.last;
    ws.open();
    for (let seq = 1; seq <= 10; seq++) ws.send(makeBatch(seq));
    ws.send(makeBatch(5)); // duplicate: not a point
    expect(series).toHaveLength(0);
    sched.frame();
    expect(sched.rafCalls).toBe(1);
    expect(series).toHaveLength(1);
    expect(series[0]!.length).toBe(10);
    expect(order).toEqual(['series', 'snapshot']);
    sched.frame(); // nothing new
    expect(series).toHaveLength(1);
    expect(snaps).toHaveLength(1);
  });

  it('keeps the history bounded to 60 s of ticks and restarts it with the server', () => {
    const { sched, client } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    for (let seq = 1; seq <= 1500; seq++) {
      ws.send(makeBatch(seq));
      if (seq % 100 === 0) sched.frame();
    }
    sched.frame();
    const d = client.series.getData();
    expect(d.length).toBe(601);
    expect((d.x.at(-1)! - d.x[0]!) * 1000).toBeCloseTo(60_000, 6);

    ws.send(makeBatch(1, { startedAt: STARTED_AT + 5, at: STARTED_AT + 999_000 }));
    sched.frame();
    expect(client.series.getData().length).toBe(1);
  });

  it('keeps the config object while the settings are the same', () => {
    const { sched, last } = setup();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.send(makeBatch(1));
    sched.frame();
    const first = last().latest!.config;
    ws.send(makeBatch(2));
    sched.frame();
    expect(last().latest!.seq).toBe(2);
    expect(last().latest!.config).toBe(first);
    ws.send(makeBatch(3, { config: { ...first!, rate: 7 } }));
    sched.frame();
    expect(last().latest!.config).not.toBe(first);
    expect(last().latest!.config?.rate).toBe(7);
  });

  it('uses the series it is given', () => {
    const series = new SeriesModel();
    const { sched } = setup({ series });
    FakeWebSocket.last.open();
    FakeWebSocket.last.send(makeBatch(1));
    sched.frame();
    expect(series.getData().length).toBe(1);
  });
});

describe('backoffDelay', () => {
  it('is random * min(cap, base * 2^attempt)', () => {
    expect(backoffDelay(0, 0, 250, 10_000)).toBe(0);
    expect(backoffDelay(0, 0.5, 250, 10_000)).toBe(125);
    expect(backoffDelay(3, 0.5, 250, 10_000)).toBe(1000);
    expect(backoffDelay(6, 0.999, 250, 10_000)).toBe(9990);
    expect(backoffDelay(1000, 0.999, 250, 10_000)).toBe(9990);
    for (let attempt = 0; attempt < 20; attempt++) {
      for (const r of [0, 0.1, 0.5, 0.9, 0.999999]) {
        const d = backoffDelay(attempt, r, 250, 10_000);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(Math.min(10_000, 250 * 2 ** attempt));
      }
    }
  });
});
