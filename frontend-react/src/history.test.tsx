import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { EventRow } from './components/EventRow';
import { REASONS, STATUSES } from './glossary';
import { FakeScheduler, FakeWebSocket, makeBatch, makeEvent, makeHealth, STARTED_AT } from './test/fakes';
import schemaJson from './test/schema.json';
import { FakeUPlot } from './test/uplotMock';
import type { HistoryPoint, Incident, NodeStatus } from './types';

beforeEach(() => {
  FakeWebSocket.reset();
  FakeUPlot.reset();
});

const NOW = STARTED_AT + 600_000;

function points(n: number, stepMs: number, over: (i: number) => Partial<HistoryPoint> = () => ({})): HistoryPoint[] {
  return Array.from({ length: n }, (_, i) => ({
    t: NOW - (n - i) * stepMs,
    received: 20,
    onTime: 20,
    late: 0,
    dropped: 0,
    droppedBy: {},
    failedBy: {},
    p50: 30,
    p90: 40,
    p99: 45,
    max: 50,
    queueDepth: 1,
    queueCap: 64,
    busy: 2,
    workers: 4,
    limit: 4,
    status: 'ok' as const,
    deadlineMs: 100,
    ...over(i),
  }));
}

interface Served {
  history?: Record<string, HistoryPoint[]>;
  incidents?: Incident[];
  historyStatus?: number;
}

/** A fetch answering /api/history and /api/incidents like the server. */
function fakeServer(s: Served) {
  return vi.fn(async (url: string, _init?: RequestInit) => {
    const u = new URL(url, 'http://test.local');
    if (u.pathname === '/api/history') {
      if (s.historyStatus) return new Response(JSON.stringify({ error: 'no history' }), { status: s.historyStatus });
      const range = u.searchParams.get('range') ?? '';
      const stepMs = range === '24h' ? 60_000 : 1000;
      return new Response(JSON.stringify({ range, stepMs, now: NOW, startedAt: STARTED_AT, points: s.history?.[range] ?? [] }));
    }
    if (u.pathname === '/api/incidents') return new Response(JSON.stringify({ incidents: s.incidents ?? [] }));
    if (u.pathname === '/api/config/schema') return new Response(JSON.stringify(schemaJson));
    return new Response('{}', { status: 404 });
  });
}

const chart = (id: string) => screen.getByTestId(id);
const plotIn = (id: string) => FakeUPlot.live().find((p) => p.root.parentElement === chart(id))!;

function setup(served: Served) {
  const sched = new FakeScheduler();
  const fetch = fakeServer(served);
  render(<App realtime={sched.options()} fetch={fetch} />);
  return { sched, fetch };
}

describe('charts with the server history', () => {
  it('draw the history at open, then append live batches', async () => {
    const { sched, fetch } = setup({ history: { '1m': points(60, 1000) } });
    expect(fetch).toHaveBeenCalledWith('/api/history?range=1m', expect.anything());
    await waitFor(() => expect(chart('chart-throughput').dataset.points).toBe('60'));
    expect(screen.getByTestId('history-status').dataset.state).toBe('loaded');
    // Before any batch: the charts are not empty.
    const thr = plotIn('chart-throughput');
    expect((thr.data[1] as number[]).slice(0, 3)).toEqual([20, 20, 20]);

    act(() => {
      FakeWebSocket.last.open();
      FakeWebSocket.last.send(makeBatch(1, { at: NOW + 100 }));
      FakeWebSocket.last.send(makeBatch(2, { at: NOW + 200 }));
      sched.frame();
    });
    // 60 + 2 points, less the oldest, now more than 60 s before the newest.
    expect(chart('chart-throughput').dataset.points).toBe('61');
    // 8 on time in each batch, both in the last second: 16/s.
    expect((thr.data[1] as number[]).at(-1)).toBe(16);
  });

  it('switch range: fetch that range, mark the button, keep the charts', async () => {
    const { fetch } = setup({ history: { '1m': points(60, 1000), '1h': points(3600, 1000) } });
    await waitFor(() => expect(chart('chart-latency').dataset.points).toBe('60'));
    const before = FakeUPlot.live().length;
    fireEvent.click(screen.getByTestId('range-1h'));
    expect(fetch).toHaveBeenCalledWith('/api/history?range=1h', expect.anything());
    await waitFor(() => expect(chart('chart-latency').dataset.points).toBe('3600'));
    expect(chart('chart-latency').dataset.range).toBe('1h');
    expect(screen.getByTestId('range-1h').getAttribute('aria-pressed')).toBe('true');
    expect(screen.getByTestId('range-1m').getAttribute('aria-pressed')).toBe('false');
    expect(FakeUPlot.live().length).toBe(before); // the same plots, new data
    // The x window follows the range: an hour.
    const range = plotIn('chart-latency').opts.scales!.x!.range as (u: unknown, a: number, b: number) => [number, number];
    const [x0, x1] = range(null, 0, NOW / 1000);
    expect(x1 - x0).toBe(3600);
  });

  it('say so when the server has no history, and stay live', async () => {
    const { sched } = setup({ historyStatus: 404 });
    await waitFor(() => expect(screen.getByTestId('history-status').dataset.state).toBe('failed'));
    expect(screen.getByTestId('history-status').textContent).toMatch(/HTTP 404/);
    act(() => {
      FakeWebSocket.last.open();
      FakeWebSocket.last.send(makeBatch(1));
      sched.frame();
    });
    expect(chart('chart-latency').dataset.points).toBe('1');
  });

  it('shade the incidents: a band per run of degraded or overloaded', async () => {
    setup({ history: { '1m': points(60, 1000, (i) => ({ status: i >= 10 && i < 20 ? 'overloaded' : i >= 40 && i < 45 ? 'degraded' : 'ok' })) } });
    await waitFor(() => expect(chart('chart-throughput').dataset.bands).toBe('2'));
    expect(chart('chart-miss').dataset.bands).toBe('2');
    // The bands are drawn by a plugin under the lines.
    expect(plotIn('chart-miss').opts.plugins?.[0]?.hooks.drawClear).toBeDefined();
  });
});

describe('incidents', () => {
  it('lists kind, status, start, duration or ongoing, worst miss and top reasons', async () => {
    const incidents: Incident[] = [
      { id: 2, kind: 'health', status: 'overloaded', start: NOW - 30_000, end: null, worstMissRate: 0.82, topReasons: [{ reason: 'shed', count: 120 }, { reason: 'expired', count: 4 }] },
      { id: 1, kind: 'restart', status: 'degraded', start: NOW - 400_000, end: NOW - 200_000, worstMissRate: 0.1, topReasons: [] },
    ];
    const { sched } = setup({ incidents });
    act(() => {
      FakeWebSocket.last.open();
      FakeWebSocket.last.send(makeBatch(1, { at: NOW }));
      sched.frame();
    });
    const rows = await screen.findAllByTestId('incident-row');
    expect(rows).toHaveLength(2);
    expect(rows[0]!.textContent).toContain('health');
    expect(rows[0]!.textContent).toContain('overloaded');
    expect(within(rows[0]!).getByTestId('incident-duration').textContent).toBe('ongoing (30 s)');
    expect(rows[0]!.textContent).toContain('82.0 %');
    expect(rows[0]!.textContent).toContain('shed 120');
    expect(within(rows[0]!).getByText(/shed 120/).getAttribute('title')).toMatch(/not started/);
    expect(within(rows[1]!).getByTestId('incident-duration').textContent).toBe('3 min 20 s');
    expect(rows[1]!.textContent).toContain('restart');
  });
});

describe('legend and rows', () => {
  it('explains every status and reason in one sentence', () => {
    setup({});
    const legend = screen.getByTestId('legend');
    for (const s of STATUSES) expect(within(legend).getByTestId(`legend-${s.key}`).textContent).toContain(s.text);
    for (const key of ['queue-full', 'expired', 'shed', 'shutdown', 'failed', 'cancelled', 'bus-unavailable', 'node-lost']) {
      const entry = within(legend).getByTestId(`legend-${key}`);
      expect(entry.textContent).toContain(key);
      expect(REASONS.find((r) => r.key === key)!.text.length).toBeGreaterThan(20);
    }
  });

  it('shows a dropped event as not processed, with how long it waited', () => {
    render(
      <table>
        <tbody>
          <EventRow event={makeEvent({ status: 'dropped', reason: 'expired', latencyMs: 101.5, processedAt: STARTED_AT + 1101 })} />
          <EventRow event={makeEvent({ status: 'dropped', reason: 'queue-full', latencyMs: 0 })} />
          <EventRow event={makeEvent({ status: 'on-time' })} />
        </tbody>
      </table>,
    );
    const [expired, full, ok] = screen.getAllByTestId('event-row');
    expect(expired!.textContent).toContain('not processed');
    expect(within(expired!).getByTestId('event-waited').textContent).toBe('waited 101.5 ms');
    expect(within(expired!).getByTestId('event-waited').getAttribute('title')).toBe('dropped after 101.5 ms in the queue, never processed');
    expect(expired!.textContent).not.toContain('/ 100 ms'); // no latency against the deadline
    expect(within(expired!).getByTestId('event-reason').getAttribute('title')).toMatch(/^expired: Its deadline passed/);
    expect(within(full!).getByTestId('event-waited').textContent).toBe('on arrival');
    expect(ok!.textContent).toContain('48.2 / 100 ms');
    expect(ok!.textContent).not.toContain('not processed');
  });
});

describe('cluster', () => {
  const nodes: NodeStatus[] = [
    { id: 'node-a', status: 'ok', startedAt: STARTED_AT, lastSeen: NOW - 100, skewMs: 0, health: { ...makeHealth({ busy: 2, workers: 4, limit: 4 }) } },
    { id: 'node-b', status: 'overloaded', startedAt: STARTED_AT, lastSeen: NOW - 200, skewMs: -3.25, health: { ...makeHealth({ busy: 4, workers: 4, limit: 4, status: 'overloaded', cause: 'queue nearly full' }) } },
    { id: 'node-c', status: 'lost', startedAt: STARTED_AT, lastSeen: NOW - 5000, skewMs: 12, health: { ...makeHealth() } },
  ];

  it('lists the nodes, labels settings per node, offers no tick and shows the batch time', async () => {
    const { sched } = setup({});
    await act(async () => {}); // the settings' schema arrives
    act(() => {
      FakeWebSocket.last.open();
      FakeWebSocket.last.send(makeBatch(17958420039, { at: NOW, nodes }));
      sched.frame();
    });
    const rows = screen.getAllByTestId('node-row');
    expect(rows.map((r) => r.dataset.status)).toEqual(['ok', 'overloaded', 'lost']);
    expect(within(rows[1]!).getByTestId('node-skew').textContent).toBe('-3.3 ms');
    expect(within(rows[1]!).getByTestId('node-load').textContent).toBe('4 / 4');
    expect(within(rows[2]!).getByTestId('node-status').getAttribute('title')).toMatch(/not reported/);
    expect(within(rows[1]!).getByTestId('node-status').getAttribute('title')).toMatch(/Cause: queue nearly full\.$/);
    expect(screen.queryByTestId('control-tickMs')).toBeNull();
    expect(screen.getByTestId('per-node-workers').textContent).toContain('per node');
    expect(screen.getByTestId('per-node-queueCap').textContent).toContain('per node');
    expect(screen.getByTestId('batch-id').textContent).toMatch(/^batch at \d\d:\d\d:\d\d\.\d{3}/);
    expect(screen.getByTestId('batch-id').textContent).not.toContain('17958420039');
  });

  it('shows none of it on a single node', async () => {
    const { sched } = setup({});
    await act(async () => {}); // the settings' schema arrives
    act(() => {
      FakeWebSocket.last.open();
      FakeWebSocket.last.send(makeBatch(17));
      sched.frame();
    });
    expect(screen.queryByTestId('node-list')).toBeNull();
    expect(screen.getByTestId('control-tickMs')).toBeTruthy();
    expect(screen.queryByTestId('per-node-workers')).toBeNull();
    expect(screen.getByTestId('batch-id').textContent).toMatch(/^batch #17 /);
  });
});
