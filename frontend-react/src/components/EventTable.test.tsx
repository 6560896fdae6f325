import { render, screen, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { makeEvent } from '../test/fakes';
import type { EventResult } from '../types';

// Count row renders: a plain (non-memo) stand-in for EventRow re-renders
// whenever EventTable renders, so it shows whether EventTable did.
const rowRenders = vi.hoisted(() => ({ count: 0 }));
vi.mock('./EventRow', async (importOriginal) => {
  const orig = await importOriginal<typeof import('./EventRow')>();
  const Real = orig.EventRow.type as (p: { event: EventResult }) => ReactNode;
  return {
    EventRow: (p: { event: EventResult }) => {
      rowRenders.count++;
      return Real(p);
    },
  };
});

const { EventTable } = await import('./EventTable');

describe('EventTable', () => {
  it('renders one row per event with status colour and text', () => {
    const t = new Date(2026, 0, 2, 14, 3, 7, 123).getTime();
    const events = [
      makeEvent({ id: 'aaaaaaaa-1111-4000-8000-000000000000', status: 'on-time', latencyMs: 48.24, deadlineMs: 100, createdAt: t, processedAt: t + 48 }),
      makeEvent({ id: 'bbbbbbbb-2222', status: 'late', latencyMs: 150, deadlineMs: 100 }),
      makeEvent({ id: 'cccccccc-3333', status: 'dropped', reason: 'queue-full', latencyMs: 0 }),
    ];
    render(<EventTable events={events} />);
    const table = screen.getByRole('table');
    const headers = within(table).getAllByRole('columnheader');
    expect(headers.map((h) => h.textContent)).toEqual(['ID', 'Status', 'Created', 'Processed', 'Latency / deadline', 'Reason', 'Result']);
    expect(headers.every((h) => h.getAttribute('scope') === 'col')).toBe(true);

    const rows = screen.getAllByTestId('event-row');
    expect(rows).toHaveLength(3);
    const cells = (i: number) => [...rows[i]!.querySelectorAll('td')].map((td) => td.textContent);
    expect(cells(0)).toEqual(['aaaaaaaa', 'on time', '14:03:07.123', '14:03:07.171', '48.2 / 100 ms', '—', '—']);
    expect(rows[0]!.querySelector('td')!.getAttribute('title')).toBe('aaaaaaaa-1111-4000-8000-000000000000');
    expect(cells(1)[1]).toBe('late');
    expect(cells(1)[4]).toBe('150.0 / 100 ms');
    expect(cells(2)[1]).toBe('dropped');
    expect(cells(2)[5]).toBe('queue-full');
    expect(within(rows[0]!).getByText('on time').className).toContain('status-on-time');
    expect(within(rows[1]!).getByText('late').className).toContain('status-late');
    expect(within(rows[2]!).getByText('dropped').className).toContain('status-dropped');
  });

  it('shows a placeholder, not an event row, when empty', () => {
    render(<EventTable events={[]} />);
    expect(screen.queryAllByTestId('event-row')).toHaveLength(0);
    expect(screen.getByText('Waiting for events…')).toBeTruthy();
  });

  it('does not re-render when given the same events array', () => {
    rowRenders.count = 0;
    const events = [makeEvent(), makeEvent()];
    const { rerender } = render(<EventTable events={events} />);
    expect(rowRenders.count).toBe(2);
    rerender(<EventTable events={events} />);
    rerender(<EventTable events={events} />);
    expect(rowRenders.count).toBe(2);
    rerender(<EventTable events={[...events]} />); // a new array does render
    expect(rowRenders.count).toBe(4);
  });
});

describe('EventTable worker results', () => {
  it('shows the kind of failure with the reason', () => {
    render(<EventTable events={[makeEvent({ status: 'dropped', reason: 'failed', failure: 'http-503', latencyMs: 3 })]} />);
    expect(screen.getByTestId('event-reason').textContent).toBe('failed · http-503');
    expect(screen.queryByTestId('event-result')).toBeNull();
  });

  it('previews the result as compact JSON, the whole of it in the title when cut', () => {
    const long = { ok: true, items: Array.from({ length: 20 }, (_, i) => `item-${i}`) };
    render(<EventTable events={[makeEvent({ result: { ok: true, n: 7 } }), makeEvent({ result: long })]} />);
    const [short, cut] = screen.getAllByTestId('event-result');
    expect(short!.textContent).toBe('{"ok":true,"n":7}');
    expect(short!.getAttribute('title')).toBeNull();
    expect(cut!.textContent).toHaveLength(60);
    expect(cut!.textContent!.endsWith('…')).toBe(true);
    expect(cut!.textContent!.startsWith('{"ok":true,"items":["item-0",')).toBe(true);
    expect(cut!.getAttribute('title')).toBe(JSON.stringify(long));
  });

  it('renders a hostile result as text, never as markup', () => {
    const evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
    const { container } = render(<EventTable events={[makeEvent({ result: { html: evil } })]} />);
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('img')).toBeNull();
    const cell = screen.getByTestId('event-result');
    expect(cell.textContent).toBe(`${JSON.stringify({ html: evil }).slice(0, 59)}…`);
    expect(cell.textContent!.startsWith('{"html":"<script>window.__pwned = 1</script>')).toBe(true);
    expect(cell.getAttribute('title')).toBe(JSON.stringify({ html: evil }));
    expect(cell.innerHTML).toContain('&lt;script&gt;');
  });
  it('shows why a shed event was shed, in numbers, under its reason', () => {
    const why = 'needs ~20ms, 12ms left: 8% chance in time; 14 waiting, 8 busy';
    render(<EventTable events={[makeEvent({ id: 'dddddddd-4444', status: 'dropped', reason: 'shed', detail: why })]} />);
    const cell = screen.getByTestId('event-reason');
    expect(within(cell).getByTestId('event-reason-detail').textContent).toBe(why);
    expect(cell.getAttribute('title')).toContain(`(${why})`);
  });
});
