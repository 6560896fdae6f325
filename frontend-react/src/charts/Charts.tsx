import { memo } from 'react';
import type { SeriesModel } from '../series';
import { Chart } from './Chart';
import { latencySpec, loadSpec, missSpec, throughputSpec } from './specs';

/** The four charts over the last 60 s; renders once (series is stable). */
export const Charts = memo(function Charts({ series }: { series: SeriesModel }) {
  const secs = Math.round(series.windowMs / 1000);
  return (
    <section className="charts" aria-label={`Charts, last ${secs} s`}>
      <Chart model={series} spec={latencySpec} testId="chart-latency" title={`Latency per tick (ms), last ${secs} s`} />
      <Chart model={series} spec={throughputSpec} testId="chart-throughput" title="Throughput (finished events/s)" />
      <Chart model={series} spec={missSpec} testId="chart-miss" title="Miss rate: (late + dropped) / finished" />
      <Chart model={series} spec={loadSpec} testId="chart-load" title="Queue depth and busy workers" />
    </section>
  );
});
