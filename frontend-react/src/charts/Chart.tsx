import { memo, useEffect, useId, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Band, SeriesData, SeriesModel } from '../series';
import { readPalette, type ChartSpec } from './specs';

export interface ChartProps {
  model: SeriesModel;
  spec: ChartSpec;
  title: string;
  /** On the plot's container (the browser tests look for its canvas). */
  testId: string;
  /** Plot height in CSS px, without the legend. */
  height?: number;
  className?: string;
}

const MIN_WIDTH = 200;
const DARK = '(prefers-color-scheme: dark)';

/**
 * One uPlot chart fed by the series model. The component renders once; the
 * uPlot instance lives in an effect and is updated with setData from the
 * model's per-frame commit, never through React state. It follows the
 * container's width (ResizeObserver) and the light/dark scheme.
 */
function ChartImpl({ model, spec, title, testId, height = 170, className }: ChartProps) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    let plot: uPlot | null = null;
    let width = Math.max(MIN_WIDTH, Math.floor(el.clientWidth));
    let bands: readonly Band[] = [];
    const windowMs = () => model.windowMs;

    const mark = (d: SeriesData) => {
      bands = d.bands;
      // Plain attributes (not styles), for tests and debugging.
      el.dataset.points = String(d.length);
      el.dataset.bands = String(bands.length);
      el.dataset.range = model.range;
      // The oldest point's time (unix s): how far back the chart reaches.
      el.dataset.from = d.length > 0 ? String(d.x[0]) : '';
    };
    const build = () => {
      plot?.destroy();
      const d = model.getData();
      mark(d);
      plot = new uPlot(spec.options(readPalette(el), width, height, windowMs, () => bands), spec.data(d), el);
      if (d.length > 0) plot.setLegend({ idx: d.length - 1 });
    };
    build();

    const unsubscribe = model.subscribe((d) => {
      if (!plot) return;
      mark(d);
      plot.setData(spec.data(d));
      // The legend shows the newest values unless the pointer is on the plot.
      const left = plot.cursor.left;
      if (d.length > 0 && (left === undefined || left < 0)) plot.setLegend({ idx: d.length - 1 });
    });

    let ro: ResizeObserver | null = null;
    if (typeof ResizeObserver === 'function') {
      ro = new ResizeObserver((entries) => {
        const w = Math.max(MIN_WIDTH, Math.floor(entries[0]?.contentRect.width ?? width));
        if (w !== width) {
          width = w;
          plot?.setSize({ width, height });
        }
      });
      ro.observe(el);
    }

    const mq = typeof window.matchMedia === 'function' ? window.matchMedia(DARK) : null;
    mq?.addEventListener('change', build);

    return () => {
      unsubscribe();
      ro?.disconnect();
      mq?.removeEventListener('change', build);
      plot?.destroy();
      plot = null;
    };
  }, [model, spec, height]);

  return (
    <figure className={className ? `card chart ${className}` : 'card chart'} aria-labelledby={titleId}>
      <figcaption id={titleId} className="chart-title">
        {title}
      </figcaption>
      <div className="chart-plot" ref={ref} data-testid={testId} data-chart={spec.name} />
    </figure>
  );
}

/** Re-renders only if its props change (they are stable in the app). */
export const Chart = memo(ChartImpl);
