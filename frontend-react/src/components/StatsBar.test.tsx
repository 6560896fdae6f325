import { act, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeBatch, makeHealth, makeSettings } from '../test/fakes';
import { StatsBar } from './StatsBar';

afterEach(() => {
  vi.useRealTimers();
});

describe('StatsBar', () => {
  it('shows the server totals as plain integers', () => {
    const b = makeBatch(1, {
      totals: { received: 1234567, onTime: 1200000, late: 30000, dropped: 4567, inFlight: 12, droppedBy: {}, failedBy: {} },
    });
    render(<StatsBar latest={b} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.getByTestId('total-received').textContent).toBe('1234567');
    expect(screen.getByTestId('total-ontime').textContent).toBe('1200000');
    expect(screen.getByTestId('total-late').textContent).toBe('30000');
    expect(screen.getByTestId('total-dropped').textContent).toBe('4567');
    expect(screen.getByTestId('total-inflight').textContent).toBe('12');
    expect(screen.getByTestId('conn-state').textContent).toBe('live');
  });

  it('shows latency, health and drop reasons', () => {
    const b = makeBatch(1, {
      latency: { count: 9, p50: 40.5, p90: 80.25, p99: 120, max: 130.75 },
      health: makeHealth({ queueDepth: 700, queueCap: 1000, workers: 8, busy: 8, status: 'degraded', tickJitterMs: 1.25, scheduleErrorMs: 3 }),
      totals: { received: 10, onTime: 5, late: 1, dropped: 4, inFlight: 0, droppedBy: { expired: 1, 'queue-full': 3 }, failedBy: {} },
    });
    render(<StatsBar latest={b} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.getByTestId('latency-p50').textContent).toBe('40.5');
    expect(screen.getByTestId('latency-p90').textContent).toBe('80.3');
    expect(screen.getByTestId('latency-p99').textContent).toBe('120.0');
    expect(screen.getByTestId('latency-max').textContent).toBe('130.8');
    const badge = screen.getByTestId('health-status');
    expect(badge.textContent).toBe('degraded');
    expect(badge.className).toContain('health-degraded');
    expect(screen.getByTestId('health-queue').textContent).toBe('700 / 1000');
    expect(screen.getByTestId('health-busy').textContent).toBe('8 / 8');
    const items = screen.getByTestId('drop-reasons').querySelectorAll('li');
    expect([...items].map((li) => li.textContent)).toEqual(['queue-full 3', 'expired 1']);
  });

  it('shows dashes before the first batch and no latency for an idle tick', () => {
    const { rerender } = render(<StatsBar latest={null} state="connecting" lastBatchAt={null} missedBatches={0} />);
    expect(screen.getByTestId('total-received').textContent).toBe('—');
    expect(screen.getByTestId('conn-state').textContent).toBe('connecting');
    const idle = makeBatch(2, { latency: { count: 0, p50: 0, p90: 0, p99: 0, max: 0 } });
    rerender(<StatsBar latest={idle} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.getByTestId('latency-p99').textContent).toBe('—');
    expect(screen.getByTestId('total-received').textContent).toBe('20');
  });

  it('counts the seconds since the last batch while reconnecting', () => {
    vi.useFakeTimers();
    let now = 50_000;
    render(
      <StatsBar latest={makeBatch(1)} state="reconnecting" lastBatchAt={47_500} missedBatches={3} now={() => now} />,
    );
    expect(screen.getByTestId('conn-state').textContent).toBe('reconnecting');
    expect(screen.getByTestId('conn-age').textContent).toBe('last batch 2 s ago');
    expect(screen.getByText('3 missed')).toBeTruthy();
    now += 3000;
    act(() => {
      vi.advanceTimersByTime(1000);
    });
    expect(screen.getByTestId('conn-age').textContent).toBe('last batch 5 s ago');
  });

  it('shows the health verdict as a labelled badge with punctuality', () => {
    const { rerender } = render(
      <StatsBar latest={makeBatch(1, { health: makeHealth({ status: 'overloaded', tickJitterMs: 2.5, scheduleErrorMs: 12.25 }) })} state="live" lastBatchAt={1} missedBatches={0} />,
    );
    const badge = screen.getByTestId('health-status');
    expect(badge.textContent).toBe('overloaded');
    expect(badge.className).toContain('health-overloaded');
    expect(badge.className).toContain('badge-lg');
    expect(screen.getByTestId('health-jitter').textContent).toBe('2.5');
    expect(screen.getByTestId('health-schedule-error').textContent).toBe('12.3');
    rerender(<StatsBar latest={makeBatch(2)} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.getByTestId('health-status').textContent).toBe('ok');
    expect(screen.getByTestId('health-status').className).toContain('health-ok');
    rerender(<StatsBar latest={null} state="connecting" lastBatchAt={null} missedBatches={0} />);
    expect(screen.queryByTestId('health-status')).toBeNull();
  });

  it('names the cause beside the verdict, and none when ok', () => {
    const { rerender } = render(
      <StatsBar
        latest={makeBatch(1, { health: makeHealth({ status: 'degraded', cause: 'worker failing: http-500', queueDepth: 0 }) })}
        state="live"
        lastBatchAt={1}
        missedBatches={0}
      />,
    );
    expect(screen.getByTestId('health-status').textContent).toBe('degraded');
    expect(screen.getByTestId('health-cause').textContent).toBe('worker failing: http-500');
    rerender(<StatsBar latest={makeBatch(2)} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.queryByTestId('health-cause')).toBeNull();
  });

  it('shows offline', () => {
    render(<StatsBar latest={null} state="offline" lastBatchAt={null} missedBatches={0} />);
    expect(screen.getByTestId('conn-state').textContent).toBe('offline');
    expect(screen.queryByTestId('conn-age')).toBeNull();
  });
});

describe('StatsBar worker', () => {
  it('shows the processor, the worker host, the concurrency, the limit and call latency', () => {
    const b = makeBatch(3, {
      config: makeSettings({ processor: 'http', workerUrl: 'https://user-worker.example:8443/work?x=1', concurrency: 'adaptive', workers: 64 }),
      health: makeHealth({ workers: 64, limit: 9, callP50Ms: 12.25, callP90Ms: 30, callP99Ms: 48, callBestMs: 10.5 }),
    });
    render(<StatsBar latest={b} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.getByTestId('health-processor').textContent).toBe('http');
    expect(screen.getByTestId('health-worker-host').textContent).toBe('user-worker.example:8443');
    expect(screen.getByTestId('health-concurrency').textContent).toBe('adaptive');
    expect(screen.getByTestId('health-limit').textContent).toBe('limit 9 / 64');
    expect(screen.getByTestId('health-calls').textContent).toBe('calls p50 12.3 · p90 30.0 · p99 48.0 · best 10.5 ms');
  });

  it('shows no host for a simulated processor and says when no call completed', () => {
    const b = makeBatch(3, {
      config: makeSettings({ processor: 'sleep', workerUrl: 'http://left-over.example/work' }),
      health: makeHealth({ workers: 4, limit: 4 }),
    });
    render(<StatsBar latest={b} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.getByTestId('health-processor').textContent).toBe('sleep');
    expect(screen.queryByTestId('health-worker-host')).toBeNull();
    expect(screen.getByTestId('health-limit').textContent).toBe('limit 4 / 4');
    expect(screen.getByTestId('health-calls').textContent).toMatch(/none/);
  });

  it('shows the subject of a nats worker where an http worker shows its host', () => {
    const b = makeBatch(3, {
      config: makeSettings({ processor: 'nats', workerSubject: 'jobs.resize', workerUrl: 'http://left-over.example/work', concurrency: 'adaptive' }),
      health: makeHealth({ workers: 16, limit: 5, callP50Ms: 3, callP99Ms: 7, callBestMs: 2 }),
    });
    const { rerender } = render(<StatsBar latest={b} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.getByTestId('health-processor').textContent).toBe('nats');
    expect(screen.getByTestId('health-worker-subject').textContent).toBe('jobs.resize');
    expect(screen.queryByTestId('health-worker-host')).toBeNull();
    expect(screen.getByTestId('health-limit').textContent).toBe('limit 5 / 16');
    // Not for http: the subject in force means nothing there.
    const h = makeBatch(4, { config: makeSettings({ processor: 'http', workerUrl: 'http://w.example:8090/work', workerSubject: 'jobs.resize' }) });
    rerender(<StatsBar latest={h} state="live" lastBatchAt={1} missedBatches={0} />);
    expect(screen.queryByTestId('health-worker-subject')).toBeNull();
    expect(screen.getByTestId('health-worker-host').textContent).toBe('w.example:8090');
  });

  it('lists failures by kind beside the drop reasons', () => {
    const b = makeBatch(3, {
      totals: { received: 9, onTime: 2, late: 0, dropped: 7, inFlight: 0, droppedBy: { failed: 7 }, failedBy: { connect: 2, 'http-503': 5 } },
    });
    render(<StatsBar latest={b} state="live" lastBatchAt={1} missedBatches={0} />);
    const items = screen.getByTestId('failure-kinds').querySelectorAll('li');
    expect([...items].map((li) => li.textContent)).toEqual(['http-503 5', 'connect 2']);
  });
});
