import { act, fireEvent, render, screen } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { SCHEMA_URL } from './schema';
import { FakeScheduler, FakeWebSocket, makeBatch, makeEvent, makeSettings } from './test/fakes';
import schemaJson from './test/schema.json';

/** Answers GET /api/config/schema with the server's schema, anything else with `other`. */
const withSchema = (other: () => Response) =>
  vi.fn(async (url: string, _init?: RequestInit) => (url === SCHEMA_URL ? new Response(JSON.stringify(schemaJson), { status: 200 }) : other()));

beforeEach(() => FakeWebSocket.reset());

describe('App', () => {
  it('shows the header, the link back to / and live data', async () => {
    const sched = new FakeScheduler();
    render(<App realtime={sched.options()} fetch={withSchema(() => new Response('[]', { status: 200 }))} />);
    await act(async () => {}); // the settings' schema arrives
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
    // Charts, the settings in force and the table tools are there.
    for (const id of ['chart-latency', 'chart-throughput', 'chart-miss', 'chart-load', 'health-status', 'control-rate', 'control-submit', 'filter-problems', 'pause-table']) {
      expect(screen.getByTestId(id), id).toBeTruthy();
    }
    expect(screen.getByTestId('config-rate').textContent).toBe('20');
  });

  it('PATCHes the settings with the given fetch and shows what comes back in force', async () => {
    const sched = new FakeScheduler();
    const fetch = withSchema(() => new Response(JSON.stringify(makeSettings({ rate: 5 })), { status: 200 }));
    render(<App realtime={sched.options()} fetch={fetch} />);
    await act(async () => {}); // the settings' schema arrives
    act(() => {
      FakeWebSocket.last.open();
      FakeWebSocket.last.send(makeBatch(1));
      sched.frame();
    });
    fireEvent.change(screen.getByTestId('control-rate'), { target: { value: '5' } });
    await act(async () => {
      fireEvent.click(screen.getByTestId('control-submit'));
    });
    // Besides GET /api/history and /api/incidents at mount: one PATCH.
    const patches = fetch.mock.calls.filter((c) => c[1]?.method === 'PATCH');
    expect(patches).toHaveLength(1);
    expect(patches[0]![0]).toBe('/api/config');
    expect(JSON.parse(patches[0]![1]!.body as string)).toEqual({ rate: 5 });
    act(() => {
      FakeWebSocket.last.send(makeBatch(2, { config: makeSettings({ rate: 5 }) }));
      sched.frame();
    });
    expect(screen.getByTestId('config-rate').textContent).toBe('5');
    expect((screen.getByTestId('control-rate') as HTMLInputElement).value).toBe('5');
  });
});
