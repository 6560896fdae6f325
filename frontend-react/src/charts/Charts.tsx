import { memo, useEffect, useId, useState } from 'react';
import type { FetchLike } from '../configApi';
import { fetchHistory, RANGES } from '../historyApi';
import type { SeriesModel } from '../series';
import type { HistoryRange } from '../types';
import { Chart } from './Chart';
import { latencySpec, loadSpec, missSpec, throughputSpec } from './specs';

export interface ChartsProps {
  series: SeriesModel;
  /** For tests: the fetch used for GET /api/history. */
  fetch?: FetchLike;
}

type HistoryState =
  | { kind: 'loading' }
  | { kind: 'loaded'; points: number }
  | { kind: 'failed'; error: string };

function historyText(s: HistoryState): string {
  switch (s.kind) {
    case 'loading':
      return 'Loading the server’s history…';
    case 'loaded':
      return s.points > 0
        ? `History from the server: ${s.points} points, then live.`
        : 'The server has no history for this range yet: live from now.';
    case 'failed':
      return `No history from the server (${s.error}): live since the page opened.`;
  }
}

/**
 * The four charts over the range chosen (1 min by default). At mount and
 * at every change of range the range's history is fetched
 * (GET /api/history) and put in front of the live points; the charts
 * themselves render once (series is stable) and follow the model.
 */
export const Charts = memo(function Charts({ series, fetch }: ChartsProps) {
  const uid = useId();
  const [range, setRange] = useState<HistoryRange>(series.range);
  const [history, setHistory] = useState<HistoryState>({ kind: 'loading' });

  useEffect(() => {
    let current = true;
    series.setRange(range);
    series.flush();
    setHistory({ kind: 'loading' });
    void fetchHistory(range, fetch).then((res) => {
      // A range switched again before the answer came ignores it.
      if (!current) return;
      if (!res.ok) {
        setHistory({ kind: 'failed', error: res.status ? `HTTP ${res.status}: ${res.error}` : res.error });
        return;
      }
      series.load(res.data);
      series.flush();
      setHistory({ kind: 'loaded', points: res.data.points.length });
    });
    return () => {
      current = false;
    };
  }, [series, range, fetch]);

  const label = RANGES.find((r) => r.key === range)?.label ?? range;
  const per = range === '1m' ? 'per tick' : range === '24h' ? 'per minute' : 'per second';
  return (
    <section className="charts-section" aria-labelledby={`${uid}-title`}>
      <div className="charts-head">
        <h2 id={`${uid}-title`}>Over the last {label}</h2>
        <div className="range-select" role="group" aria-label="Time range of the charts" data-testid="range-select">
          {RANGES.map((r) => (
            <button
              key={r.key}
              type="button"
              className="range-button"
              aria-pressed={r.key === range}
              data-testid={`range-${r.key}`}
              onClick={() => setRange(r.key)}
            >
              {r.label}
            </button>
          ))}
        </div>
        <p className="muted small history-status" role="status" data-testid="history-status" data-state={history.kind}>
          {historyText(history)} Shaded: <span className="band-key band-degraded">degraded</span>{' '}
          <span className="band-key band-overloaded">overloaded</span>.
        </p>
      </div>
      <div className="charts" aria-label={`Charts, last ${label}`}>
        <Chart model={series} spec={latencySpec} testId="chart-latency" title={`Latency (ms), ${per}`} />
        <Chart model={series} spec={throughputSpec} testId="chart-throughput" title="Finished per second (over a sliding second)" />
        <Chart model={series} spec={missSpec} testId="chart-miss" title="Miss rate: (late + dropped) / finished" />
        <Chart model={series} spec={loadSpec} testId="chart-load" title="Queue depth and busy workers" />
      </div>
    </section>
  );
});
