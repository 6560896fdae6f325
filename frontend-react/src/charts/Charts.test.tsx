import { act, render, screen } from '@testing-library/react';
import { Profiler } from 'react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeScheduler, FakeWebSocket, makeBatch, makeEvent, makeSettings } from '../test/fakes';
import { FakeUPlot } from '../test/uplotMock';

// Count Chart renders: a memo wrapper like the real one, counting calls.
const chartRenders = vi.hoisted(() => ({ count: 0 }));
vi.mock('./Chart', async (importOriginal) => {
  const orig = await importOriginal<typeof import('./Chart')>();
  const { memo } = await import('react');
  const Real = orig.Chart.type as (p: import('./Chart').ChartProps) => ReturnType<typeof orig.Chart.type>;
  return {
    Chart: memo((p: import('./Chart').ChartProps) => {
      chartRenders.count++;
      return Real(p);
    }),
  };
});

const { App } = await import('../App');

beforeEach(() => {
  FakeWebSocket.reset();
  FakeUPlot.reset();
  chartRenders.count = 0;
});

function setup() {
  const sched = new FakeScheduler();
  let commits = 0;
  const view = render(
    <Profiler id="app" onRender={() => commits++}>
      <App realtime={sched.options()} />
    </Profiler>,
  );
  return { sched, view, commits: () => commits };
}

const plot = (testId: string) => {
  const el = screen.getByTestId(testId);
  const p = FakeUPlot.live().find((x) => x.root.parentElement === el);
  if (!p) throw new Error(`no uPlot in ${testId}`);
  return p;
};

describe('charts', () => {
  it('puts one uPlot in each chart container', () => {
    setup();
    expect(FakeUPlot.live()).toHaveLength(4);
    expect(plot('chart-latency').labels).toEqual(['p50', 'p99', 'deadline']);
    expect(plot('chart-throughput').labels).toEqual(['on time', 'late', 'dropped']);
    expect(plot('chart-miss').labels).toEqual(['miss rate']);
    expect(plot('chart-load').labels).toEqual(['queue depth', 'busy workers', 'workers']);
    expect(plot('chart-latency').opts.scales?.x?.time).toBe(true);
  });

  it('updates every chart once per frame with setData, without React renders of the charts', () => {
    const { sched, commits } = setup();
    const initialCommits = commits();
    const initialChartRenders = chartRenders.count;
    const ws = FakeWebSocket.last;

    act(() => {
      ws.open();
      for (let seq = 1; seq <= 10; seq++) {
        ws.send(makeBatch(seq, { events: [makeEvent({ id: `e${seq}` })], config: makeSettings({ deadlineMs: 80 }) }));
      }
    });
    expect(commits()).toBe(initialCommits); // nothing before the frame
    for (const p of FakeUPlot.live()) expect(p.setDataCalls).toBe(0);

    act(() => sched.frame());
    expect(commits()).toBe(initialCommits + 1); // one React commit for the frame
    for (const p of FakeUPlot.live()) expect(p.setDataCalls).toBe(1); // one setData per chart
    expect(chartRenders.count).toBe(initialChartRenders); // no chart re-rendered
    const lat = plot('chart-latency');
    expect(lat.data[0]).toHaveLength(10);
    expect(lat.data[1]).toEqual(Array(10).fill(40.5)); // p50
    expect(lat.data[3]).toEqual(Array(10).fill(80)); // deadline from config
    expect(lat.legendIdx).toBe(9); // the legend shows the newest values
    expect(screen.getByTestId('chart-latency').dataset.points).toBe('10');

    // A frame with nothing new: no setData, no commit.
    act(() => sched.frame());
    expect(commits()).toBe(initialCommits + 1);
    for (const p of FakeUPlot.live()) expect(p.setDataCalls).toBe(1);

    // Next batch, next frame.
    act(() => {
      ws.send(makeBatch(11));
      sched.frame();
    });
    expect(commits()).toBe(initialCommits + 2);
    for (const p of FakeUPlot.live()) expect(p.setDataCalls).toBe(2);
    expect(plot('chart-throughput').data[0]).toHaveLength(11);
    expect(chartRenders.count).toBe(initialChartRenders);
    expect(FakeUPlot.instances).toHaveLength(4); // never rebuilt
  });

  it('destroys the plots on unmount', () => {
    const { view } = setup();
    view.unmount();
    expect(FakeUPlot.live()).toHaveLength(0);
  });
});
