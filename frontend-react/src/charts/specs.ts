import type uPlot from 'uplot';
import type { Band, SeriesData } from '../series';

/** Colours for the canvas, read from the page's CSS variables (light or dark). */
export interface Palette {
  fg: string;
  muted: string;
  grid: string;
  ok: string;
  warn: string;
  bad: string;
  info: string;
  accent: string;
}

export const FALLBACK_PALETTE: Palette = {
  fg: '#1b1f24',
  muted: '#5c6670',
  grid: '#d8dde3',
  ok: '#1f7a35',
  warn: '#8a5a00',
  bad: '#b3261e',
  info: '#1c5fb8',
  accent: '#7b3fb8',
};

export function readPalette(el: Element): Palette {
  const cs = typeof getComputedStyle === 'function' ? getComputedStyle(el) : null;
  const v = (name: string, fallback: string) => cs?.getPropertyValue(name).trim() || fallback;
  const f = FALLBACK_PALETTE;
  return {
    fg: v('--fg', f.fg),
    muted: v('--muted', f.muted),
    grid: v('--border', f.grid),
    ok: v('--ok', f.ok),
    warn: v('--warn', f.warn),
    bad: v('--bad', f.bad),
    info: v('--info', f.info),
    accent: v('--accent', f.accent),
  };
}

/** One chart: its uPlot options and which columns it draws. */
export interface ChartSpec {
  /** for logs and tests */
  name: string;
  /** windowMs is read at every redraw: the range can change under a live chart. */
  options(p: Palette, width: number, height: number, windowMs: () => number, bands?: () => readonly Band[]): uPlot.Options;
  data(d: SeriesData): uPlot.AlignedData;
}

type Cols = readonly (number | null)[];
const aligned = (...cols: Cols[]) => cols as unknown as uPlot.AlignedData;

const fmt = (digits: number, unit: string) => (_u: uPlot, v: number | null) =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : `${v.toFixed(digits)}${unit}`;

/** y from 0 to a little above the data (1 when empty). */
const fromZero: uPlot.Range.Function = (_u, _min, max) => [0, max !== null && max > 0 ? max * 1.1 : 1];

/**
 * y from 0 to a quarter above the data, so a line at its maximum (every
 * worker busy) sits visibly below the top edge, not on it.
 */
export const withHeadroom: uPlot.Range.Function = (_u, _min, max) => [0, max !== null && max > 0 ? max * 1.25 : 1];

/** Band fills by status, translucent over the grid and under the lines. */
export const BAND_FILL: Record<Band['status'], string> = {
  ok: 'transparent',
  degraded: 'rgba(214, 150, 0, 0.16)',
  overloaded: 'rgba(179, 38, 30, 0.16)',
};

/**
 * Shades the incidents (spans at degraded or overloaded) behind the lines.
 * bands is read at every redraw; the chart sets it with the data.
 */
export function bandsPlugin(bands: () => readonly Band[]): uPlot.Plugin {
  return {
    hooks: {
      drawClear: [
        (u) => {
          const list = bands();
          if (list.length === 0) return;
          const { ctx } = u;
          const { top, height, left, width } = u.bbox;
          ctx.save();
          for (const b of list) {
            const x0 = Math.max(left, u.valToPos(b.from, 'x', true));
            const x1 = Math.min(left + width, Math.max(u.valToPos(b.to, 'x', true), x0 + 2));
            if (x1 <= left || x0 >= left + width) continue;
            ctx.fillStyle = BAND_FILL[b.status];
            ctx.fillRect(x0, top, x1 - x0, height);
          }
          ctx.restore();
        },
      ],
    },
  };
}

/**
 * The x window: windowMs wide, starting at the first point while there is
 * less history than that (the lines grow to the right), then ending at the
 * newest point (they scroll).
 */
export function windowRange(windowMs: () => number): uPlot.Range.Function {
  return (_u, min, max) => {
    const span = windowMs() / 1000;
    if (max === null || min === null) {
      const now = Date.now() / 1000;
      return [now - span, now];
    }
    const start = Math.max(min, max - span);
    return [start, start + span];
  };
}

function base(
  p: Palette,
  width: number,
  height: number,
  windowMs: () => number,
  yLabel: string,
  bands: () => readonly Band[] = () => [],
): uPlot.Options {
  const axis = {
    stroke: p.muted,
    grid: { stroke: p.grid, width: 1 },
    ticks: { stroke: p.grid, width: 1 },
    font: '11px system-ui, sans-serif',
    labelFont: '11px system-ui, sans-serif',
  };
  return {
    width,
    height,
    pxAlign: 1,
    cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
    legend: { show: true, live: true },
    scales: {
      // A sliding window ending at the newest point.
      x: { time: true, range: windowRange(windowMs) },
      y: { range: fromZero },
    },
    axes: [
      { ...axis, space: 60 },
      { ...axis, label: yLabel, size: 48, labelSize: 16 },
    ],
    series: [{ label: 'time' }],
    plugins: [bandsPlugin(bands)],
  };
}

/** Latency: p50 and p99 per tick, and the deadline as a line. */
export const latencySpec: ChartSpec = {
  name: 'latency',
  options(p, width, height, windowMs, bands) {
    const o = base(p, width, height, windowMs, 'ms', bands);
    o.series.push(
      // Ticks where nothing was processed have no latency: the lines span them.
      { label: 'p50', stroke: p.info, width: 1.5, spanGaps: true, value: fmt(1, ' ms') },
      { label: 'p99', stroke: p.accent, width: 1.5, spanGaps: true, value: fmt(1, ' ms') },
      { label: 'deadline', stroke: p.bad, width: 1.5, dash: [6, 4], value: fmt(0, ' ms') },
    );
    return o;
  },
  data: (d) => aligned(d.x, d.p50, d.p99, d.deadline),
};

/** Throughput: finished per second by outcome. */
export const throughputSpec: ChartSpec = {
  name: 'throughput',
  options(p, width, height, windowMs, bands) {
    const o = base(p, width, height, windowMs, 'events/s', bands);
    o.series.push(
      { label: 'on time', stroke: p.ok, width: 1.5, value: fmt(0, '/s') },
      { label: 'late', stroke: p.warn, width: 1.5, value: fmt(0, '/s') },
      { label: 'dropped', stroke: p.bad, width: 1.5, dash: [4, 3], value: fmt(0, '/s') },
    );
    return o;
  },
  data: (d) => aligned(d.x, d.onTime, d.late, d.dropped),
};

/** Miss rate: (late + dropped) / finished per tick. */
export const missSpec: ChartSpec = {
  name: 'miss',
  options(p, width, height, windowMs, bands) {
    const o = base(p, width, height, windowMs, '% missed', bands);
    o.scales!.y = { range: [0, 100] };
    // Ticks where nothing finished have no miss rate: the line spans them.
    o.series.push({ label: 'miss rate', stroke: p.bad, width: 1.5, spanGaps: true, fill: 'rgba(179, 38, 30, 0.12)', value: fmt(1, ' %') });
    return o;
  },
  data: (d) => aligned(d.x, d.miss),
};

/** Load: queue depth (left axis) and busy workers (right axis). */
export const loadSpec: ChartSpec = {
  name: 'load',
  options(p, width, height, windowMs, bands) {
    const o = base(p, width, height, windowMs, 'queued', bands);
    o.scales!.y = { range: withHeadroom };
    o.scales!.busy = { range: withHeadroom };
    o.axes!.push({ ...o.axes![1]!, scale: 'busy', side: 1, label: 'busy workers', grid: { show: false } });
    o.series.push(
      { label: 'queue depth', stroke: p.info, width: 1.5, value: fmt(0, '') },
      { label: 'busy workers', stroke: p.ok, width: 1.5, scale: 'busy', value: fmt(0, '') },
      { label: 'workers', stroke: p.ok, width: 1, dash: [2, 3], scale: 'busy', value: fmt(0, '') },
    );
    return o;
  },
  data: (d) => aligned(d.x, d.queue, d.busy, d.workers),
};
