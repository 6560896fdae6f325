import { describe, expect, it } from 'vitest';
import { defaultWsUrl, parseBatch } from './batch';
import { makeBatch, makeEvent, makeHealth, makeSettings } from './test/fakes';

describe('parseBatch', () => {
  it('parses a batch and keeps unknown fields', () => {
    const b = { ...makeBatch(3, { events: [makeEvent({ id: 'a', status: 'dropped', reason: 'queue-full' })] }), extra: 1 };
    const parsed = parseBatch(JSON.stringify(b));
    expect(parsed).toEqual(b);
  });

  it('rejects non-batches', () => {
    expect(parseBatch('nope')).toBeNull();
    expect(parseBatch('[]')).toBeNull();
    expect(parseBatch('{"seq":"1","startedAt":1}')).toBeNull();
    expect(parseBatch('{"seq":1}')).toBeNull();
    expect(parseBatch(new ArrayBuffer(2))).toBeNull();
  });

  it('fills missing sections with zeros and empty maps', () => {
    const parsed = parseBatch('{"seq":1,"startedAt":5,"events":[{"id":"x","status":"late"},{"bad":true}]}');
    expect(parsed?.totals).toEqual({ received: 0, onTime: 0, late: 0, dropped: 0, inFlight: 0, droppedBy: {}, failedBy: {} });
    expect(parsed?.health.status).toBe('ok');
    expect(parsed?.events.map((e) => e.id)).toEqual(['x']);
  });
});

describe('parseBatch health', () => {
  it("parses the verdict's cause and the queue's bytes, and fills them for older servers", () => {
    const b = makeBatch(5, { health: makeHealth({ status: 'degraded', cause: 'worker failing: http-500', queueBytes: 1234, queueBytesCap: 4096 }) });
    const parsed = parseBatch(JSON.stringify(b))!;
    expect(parsed.health).toMatchObject({ status: 'degraded', cause: 'worker failing: http-500', queueBytes: 1234, queueBytesCap: 4096 });
    const { cause: _c, queueBytes: _q, queueBytesCap: _qc, ...oldHealth } = b.health;
    const old = parseBatch(JSON.stringify({ ...b, health: { ...oldHealth, status: 'ok' } }))!;
    expect(old.health).toMatchObject({ status: 'ok', cause: '', queueBytes: 0, queueBytesCap: 0 });
  });

  it("parses each node's cause", () => {
    const b = { ...makeBatch(6), nodes: [{ id: 'n1', status: 'degraded', health: { status: 'degraded', cause: 'late events' } }, { id: 'n2', status: 'ok', health: {} }] };
    const parsed = parseBatch(JSON.stringify(b))!;
    expect(parsed.nodes?.map((n) => n.health.cause)).toEqual(['late events', '']);
  });
});

describe('parseBatch config and punctuality', () => {
  it('parses the settings in force and the health punctuality fields', () => {
    const b = makeBatch(4, { config: makeSettings({ rate: 500, policy: 'fifo', workers: 50 }) });
    b.health.tickJitterMs = 1.5;
    b.health.scheduleErrorMs = 0.25;
    const parsed = parseBatch(JSON.stringify(b))!;
    expect(parsed.config).toEqual(makeSettings({ rate: 500, policy: 'fifo', workers: 50 }));
    expect(parsed.health.tickJitterMs).toBe(1.5);
    expect(parsed.health.scheduleErrorMs).toBe(0.25);
  });

  it('leaves config out for older servers and zero-fills missing punctuality', () => {
    const { config: _omit, ...old } = makeBatch(1);
    const { tickJitterMs: _j, scheduleErrorMs: _s, ...oldHealth } = old.health;
    const parsed = parseBatch(JSON.stringify({ ...old, health: oldHealth }))!;
    expect('config' in parsed).toBe(false);
    expect(parsed.health.tickJitterMs).toBe(0);
    expect(parsed.health.scheduleErrorMs).toBe(0);
    expect(parseBatch(JSON.stringify({ ...old, config: 'nope' }))!.config).toBeUndefined();
  });

  it('tolerates unknown and malformed settings', () => {
    const parsed = parseBatch(JSON.stringify({ ...makeBatch(1), config: { rate: 'x', future: 1, policy: 'edf' } }))!;
    expect(parsed.config).toMatchObject({ rate: 0, policy: 'edf', future: 1, workDist: '' });
  });
});

describe('parseBatch worker fields', () => {
  it('parses the worker settings, the limit, call latency, failures and results', () => {
    const b = makeBatch(7, {
      config: makeSettings({ processor: 'http', workerUrl: 'http://w.example:8090/work', concurrency: 'adaptive' }),
      events: [
        makeEvent({ id: 'ok', result: { ok: true, n: 3 } }),
        makeEvent({ id: 'failed', status: 'dropped', reason: 'failed', failure: 'http-503' }),
        makeEvent({ id: 'text', result: 'plain' }),
        makeEvent({ id: 'list', result: [1, null] }),
      ],
    });
    b.health = { ...b.health, limit: 9, callP50Ms: 12.5, callP99Ms: 40, callBestMs: 10.25 };
    b.counts.failedBy = { 'http-503': 1 };
    b.totals.failedBy = { 'http-503': 4, connect: 2 };
    const parsed = parseBatch(JSON.stringify(b))!;
    expect(parsed).toEqual(b);
    expect(parsed.config?.workerUrl).toBe('http://w.example:8090/work');
    expect(parsed.config?.concurrency).toBe('adaptive');
    expect(parsed.health.limit).toBe(9);
    expect(parsed.events.map((e) => e.result)).toEqual([{ ok: true, n: 3 }, undefined, 'plain', [1, null]]);
    expect(parsed.events[1]!.failure).toBe('http-503');
  });

  it('zero-fills what older servers do not send and drops malformed values', () => {
    const old = JSON.parse(JSON.stringify(makeBatch(2))) as Record<string, Record<string, unknown>>;
    delete old.health!.limit;
    delete old.health!.callP50Ms;
    delete old.totals!.failedBy;
    old.counts!.failedBy = { 'http-503': 'many', reset: 2 };
    delete old.config!.workerUrl;
    old.config!.concurrency = 3;
    old.events = [
      { id: 'a', status: 'dropped', reason: 'failed', failure: 503, result: null },
      { id: 'b', status: 'late', reason: ['x'] },
    ] as unknown as Record<string, unknown>;
    const parsed = parseBatch(JSON.stringify(old))!;
    expect(parsed.health.limit).toBe(0);
    expect(parsed.health.callP50Ms).toBe(0);
    expect(parsed.totals.failedBy).toEqual({});
    expect(parsed.counts.failedBy).toEqual({ reset: 2 });
    expect(parsed.config?.workerUrl).toBe('');
    expect(parsed.config?.concurrency).toBe('');
    expect(parsed.events[0]).toEqual({ id: 'a', status: 'dropped', reason: 'failed', result: null });
    expect('reason' in parsed.events[1]!).toBe(false);
  });
});

describe('URLs', () => {
  it('builds the /ws URL from location', () => {
    expect(defaultWsUrl({ protocol: 'http:', host: 'example.test:8080' })).toBe('ws://example.test:8080/ws');
    expect(defaultWsUrl({ protocol: 'https:', host: 'example.test' })).toBe('wss://example.test/ws');
    expect(defaultWsUrl()).toBe(`ws://${window.location.host}/ws`);
  });
});
