import { act, render, screen } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { App } from './App';
import { FakeScheduler, FakeWebSocket, makeBatch, makeEvent } from './test/fakes';

beforeEach(() => FakeWebSocket.reset());

describe('App', () => {
  it('shows the header, the link back to / and live data', () => {
    const sched = new FakeScheduler();
    render(<App realtime={sched.options()} />);
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('ontime — live dashboard');
    expect(screen.getByRole('link', { name: /server-rendered/i }).getAttribute('href')).toBe('/');
    expect(screen.getByTestId('conn-state').textContent).toBe('connecting');
    expect(screen.queryAllByTestId('event-row')).toHaveLength(0);

    act(() => {
      const ws = FakeWebSocket.last;
      ws.open();
      ws.send(makeBatch(1, { events: [makeEvent({ id: 'one' }), makeEvent({ id: 'two', status: 'late' })] }));
      ws.send(makeBatch(2, { events: [makeEvent({ id: 'three', status: 'dropped', reason: 'expired' })] }));
      sched.frame();
    });
    expect(screen.getByTestId('conn-state').textContent).toBe('live');
    expect(screen.getByTestId('total-received').textContent).toBe('20');
    expect(screen.getByTestId('total-ontime').textContent).toBe('16');
    expect(screen.getByTestId('total-late').textContent).toBe('2');
    expect(screen.getByTestId('total-dropped').textContent).toBe('2');
    expect(screen.getByTestId('total-inflight').textContent).toBe('3');
    const rows = screen.getAllByTestId('event-row');
    expect(rows.map((r) => r.querySelector('td')!.textContent)).toEqual(['three', 'two', 'one']);
  });
});
