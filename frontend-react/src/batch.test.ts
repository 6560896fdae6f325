import { describe, expect, it } from 'vitest';
import { defaultWsUrl, parseBatch, withSince } from './batch';
import { makeBatch, makeEvent, makeSettings } from './test/fakes';

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
    expect(parsed?.totals).toEqual({ received: 0, onTime: 0, late: 0, dropped: 0, inFlight: 0, droppedBy: {} });
    expect(parsed?.health.status).toBe('ok');
    expect(parsed?.events.map((e) => e.id)).toEqual(['x']);
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

describe('URLs', () => {
  it('builds the /ws URL from location', () => {
    expect(defaultWsUrl({ protocol: 'http:', host: 'example.test:8080' })).toBe('ws://example.test:8080/ws');
    expect(defaultWsUrl({ protocol: 'https:', host: 'example.test' })).toBe('wss://example.test/ws');
    expect(defaultWsUrl()).toBe(`ws://${window.location.host}/ws`);
  });

  it('adds since', () => {
    expect(withSince('ws://h/ws', null)).toBe('ws://h/ws');
    expect(withSince('ws://h/ws', 0)).toBe('ws://h/ws?since=0');
    expect(withSince('ws://h/ws?a=b', 42)).toBe('ws://h/ws?a=b&since=42');
  });
});
