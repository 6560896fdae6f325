import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { makeBatch, makeEvent } from '../test/fakes';
import type { Batch, EventResult } from '../types';

// Count table renders: a memo wrapper like the real one, counting calls.
const tableRenders = vi.hoisted(() => ({ count: 0 }));
vi.mock('./EventTable', async (importOriginal) => {
  const orig = await importOriginal<typeof import('./EventTable')>();
  const { memo } = await import('react');
  const Real = orig.EventTable.type as (p: Parameters<typeof orig.EventTable.type>[0]) => ReturnType<typeof orig.EventTable.type>;
  return {
    EventTable: memo((p: Parameters<typeof Real>[0]) => {
      tableRenders.count++;
      return Real(p);
    }),
  };
});

const { EventsPanel } = await import('./EventsPanel');

const totals = (onTime: number, late: number, dropped: number): Batch['totals'] => ({
  ...makeBatch(1).totals,
  received: onTime + late + dropped,
  onTime,
  late,
  dropped,
  inFlight: 0,
});

const ids = () => screen.queryAllByTestId('event-row').map((r) => r.querySelector('td')!.textContent);

describe('EventsPanel', () => {
  const a = makeEvent({ id: 'a', status: 'on-time' });
  const b = makeEvent({ id: 'b', status: 'late', latencyMs: 130 });
  const c = makeEvent({ id: 'c', status: 'dropped', reason: 'expired' });
  const d = makeEvent({ id: 'd', status: 'on-time' });

  it('filters to late and dropped events', () => {
    render(<EventsPanel events={[d, c, b, a]} totals={totals(2, 1, 1)} />);
    expect(ids()).toEqual(['d', 'c', 'b', 'a']);
    const filter = screen.getByTestId('filter-problems') as HTMLInputElement;
    expect(filter.labels?.[0]?.textContent).toBe('Late/dropped only');
    fireEvent.click(filter);
    expect(filter.checked).toBe(true);
    expect(ids()).toEqual(['c', 'b']);
    // The status is text as well as colour.
    expect(screen.getAllByTestId('event-row').map((r) => r.querySelectorAll('td')[1]!.textContent)).toEqual(['dropped', 'late']);
    fireEvent.click(filter);
    expect(ids()).toEqual(['d', 'c', 'b', 'a']);
  });

  it('says so when the filter leaves nothing', () => {
    render(<EventsPanel events={[a, d]} totals={totals(2, 0, 0)} />);
    fireEvent.click(screen.getByTestId('filter-problems'));
    expect(ids()).toEqual([]);
    expect(screen.getByText('No late or dropped events among the newest.')).toBeTruthy();
  });

  it('pauses the table while the totals keep counting, then resumes', () => {
    const { rerender } = render(<EventsPanel events={[b, a]} totals={totals(10, 2, 0)} />);
    const pause = screen.getByTestId('pause-table');
    expect(pause.textContent).toBe('Pause');
    expect(pause.getAttribute('aria-pressed')).toBe('false');
    fireEvent.click(pause);
    expect(pause.textContent).toBe('Resume');
    expect(pause.getAttribute('aria-pressed')).toBe('true');
    expect(screen.getByTestId('paused-info').textContent).toBe('paused — 0 new events');

    rerender(<EventsPanel events={[d, c, b, a]} totals={totals(11, 2, 1)} />);
    expect(ids()).toEqual(['b', 'a']);
    expect(screen.getByTestId('paused-info').textContent).toBe('paused — 2 new events');
    rerender(<EventsPanel events={[d, c, b, a]} totals={totals(40, 5, 1)} />);
    expect(screen.getByTestId('paused-info').textContent).toBe('paused — 34 new events');
    // With the filter, the count is of late and dropped ones.
    fireEvent.click(screen.getByTestId('filter-problems'));
    expect(ids()).toEqual(['b']);
    expect(screen.getByTestId('paused-info').textContent).toBe('paused — 4 new events (late or dropped)');
    fireEvent.click(screen.getByTestId('filter-problems'));

    fireEvent.click(pause);
    expect(screen.queryByTestId('paused-info')).toBeNull();
    expect(ids()).toEqual(['d', 'c', 'b', 'a']);
  });

  it('does not re-render the table when its rows did not change', () => {
    const events: EventResult[] = [c, b, a];
    const { rerender } = render(<EventsPanel events={events} totals={totals(1, 1, 1)} />);
    tableRenders.count = 0;
    // New totals every tick, same events: no table render.
    rerender(<EventsPanel events={events} totals={totals(5, 1, 1)} />);
    rerender(<EventsPanel events={events} totals={totals(9, 1, 1)} />);
    expect(tableRenders.count).toBe(0);

    // Filtered: a new events array that adds only on-time events leaves the
    // late/dropped rows as they were.
    fireEvent.click(screen.getByTestId('filter-problems'));
    expect(tableRenders.count).toBe(1);
    rerender(<EventsPanel events={[d, ...events]} totals={totals(10, 1, 1)} />);
    expect(tableRenders.count).toBe(1);
    fireEvent.click(screen.getByTestId('filter-problems'));
    expect(tableRenders.count).toBe(2);

    // Paused: new events do not reach the table.
    fireEvent.click(screen.getByTestId('pause-table')); // renders once: the caption says "paused"
    const before = tableRenders.count;
    rerender(<EventsPanel events={[makeEvent(), d, ...events]} totals={totals(11, 1, 1)} />);
    rerender(<EventsPanel events={[makeEvent(), makeEvent(), d, ...events]} totals={totals(12, 1, 1)} />);
    expect(tableRenders.count).toBe(before);
  });
});
