import { act, fireEvent, render, screen } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { App } from '../App';
import { FakeScheduler, FakeWebSocket, makeBatch, makeEvent } from '../test/fakes';
import type { EventResult } from '../types';
import { EventsPanel } from './EventsPanel';

beforeEach(() => FakeWebSocket.reset());

const rows = () => screen.getAllByTestId('event-row');
const text = (id: string) => screen.getByTestId(id).textContent;

const hostile = makeEvent({
  id: '7f3c2a10-0000-4000-8000-00000000abcd',
  source: 'ingest',
  status: 'dropped',
  reason: 'failed',
  failure: 'http-503',
  createdAt: 1_700_000_000_000,
  processedAt: 1_700_000_000_042,
  latencyMs: 42.04,
  deadlineMs: 100,
  payload: { html: '<img src=x onerror=alert(1)>', n: 1 },
  result: { note: '<script>alert(2)</script>', ok: false },
});

/** The App with its stream open, and a way to send batches through it. */
function live() {
  const sched = new FakeScheduler();
  render(<App realtime={sched.options()} />);
  let seq = 0;
  const send = (events: EventResult[]) =>
    act(() => {
      const ws = FakeWebSocket.last;
      if (ws.readyState !== 1) ws.open();
      ws.send(makeBatch(++seq, { events }));
      sched.frame();
    });
  return { send };
}

describe('event details', () => {
  it('opens on click with the full outcome, payload and result as escaped text', () => {
    const { send } = live();
    send([hostile]);
    expect(screen.queryByTestId('event-detail')).toBeNull();
    fireEvent.click(rows()[0]!);

    const detail = screen.getByTestId('event-detail');
    expect(detail.getAttribute('role')).toBe('dialog');
    expect(text('detail-id')).toBe(hostile.id);
    expect(text('detail-source')).toBe('ingest');
    expect(text('detail-status')).toBe('dropped');
    expect(text('detail-reason')).toBe('failed');
    expect(text('detail-failure')).toBe('http-503');
    expect(text('detail-latency')).toBe('42.0 ms of 100 ms (42% of the deadline)');
    expect(text('detail-created')).toMatch(/^\d\d:\d\d:\d\d\.000$/);
    expect(text('detail-processed')).toMatch(/^\d\d:\d\d:\d\d\.042$/);
    const payload = JSON.stringify(hostile.payload);
    expect(text('detail-payload-size')).toBe(`${new TextEncoder().encode(payload).length} bytes`);
    // Pretty JSON, as text: the markup in it is not markup.
    expect(text('detail-payload')).toBe(JSON.stringify(hostile.payload, null, 2));
    expect(text('detail-result')).toBe('{\n  "note": "<script>alert(2)</script>",\n  "ok": false\n}');
    expect(detail.querySelector('img, script')).toBeNull();
    expect(detail).toBe(document.activeElement);
  });

  it('stays open, as it was, while new batches push its row away', () => {
    const { send } = live();
    send([hostile]);
    fireEvent.click(rows()[0]!);
    for (let i = 0; i < 60; i++) send([makeEvent({ status: 'on-time' })]);
    // The table moved on: the event is no longer shown, its details still are.
    expect(rows()).toHaveLength(50);
    expect(rows().some((r) => r.querySelector('td')!.getAttribute('title') === hostile.id)).toBe(false);
    expect(text('detail-id')).toBe(hostile.id);
    expect(text('detail-failure')).toBe('http-503');
    expect(text('detail-result')).toContain('<script>alert(2)</script>');
  });

  it('opens from the keyboard with Enter or Space on a focused row, and closes on Escape', () => {
    const a = makeEvent({ id: 'aaaaaaaa-0000-4000-8000-000000000001', status: 'late', latencyMs: 130, reason: 'cancelled' });
    const b = makeEvent({ id: 'bbbbbbbb-0000-4000-8000-000000000002' });
    render(<EventsPanel events={[b, a]} totals={undefined} />);
    const row = rows()[1]!;
    expect(row.tabIndex).toBe(0);
    row.focus();
    fireEvent.keyDown(row, { key: 'Enter' });
    expect(text('detail-id')).toBe(a.id);
    expect(text('detail-reason')).toBe('cancelled');
    expect(text('detail-failure')).toBe('—');
    expect(text('detail-payload-size')).toBe('none');
    expect(screen.queryByTestId('detail-payload')).toBeNull();
    expect(screen.getByTestId('detail-result-none').textContent).toBe('none');

    fireEvent.keyDown(document.activeElement!, { key: 'Escape' });
    expect(screen.queryByTestId('event-detail')).toBeNull();
    // Focus is back on the row it was opened from.
    expect(document.activeElement).toBe(row);

    fireEvent.keyDown(rows()[0]!, { key: ' ' });
    expect(text('detail-id')).toBe(b.id);
    fireEvent.keyDown(rows()[0]!, { key: 'x' });
    expect(text('detail-id')).toBe(b.id);
    fireEvent.click(screen.getByTestId('detail-close'));
    expect(screen.queryByTestId('event-detail')).toBeNull();
  });

  it('shows another row in its place when that row is clicked', () => {
    const a = makeEvent({ id: 'aaaaaaaa-0000-4000-8000-000000000001', result: { n: 1 } });
    const b = makeEvent({ id: 'bbbbbbbb-0000-4000-8000-000000000002', result: { n: 2 } });
    render(<EventsPanel events={[b, a]} totals={undefined} />);
    fireEvent.click(rows()[0]!);
    fireEvent.click(rows()[1]!);
    expect(screen.getAllByTestId('event-detail')).toHaveLength(1);
    expect(text('detail-id')).toBe(a.id);
    expect(text('detail-result')).toBe('{\n  "n": 1\n}');
  });
});
