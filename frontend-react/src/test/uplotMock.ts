import type uPlot from 'uplot';

/**
 * Stands in for uPlot under jsdom (no canvas): records what the charts ask
 * of it. Installed for every test file by setup.ts (vi.mock('uplot')).
 */
export class FakeUPlot {
  static instances: FakeUPlot[] = [];
  static reset(): void {
    FakeUPlot.instances = [];
  }
  /** Instances not destroyed, by their series' first label. */
  static live(): FakeUPlot[] {
    return FakeUPlot.instances.filter((p) => !p.destroyed);
  }

  readonly root: HTMLElement;
  data: uPlot.AlignedData;
  setDataCalls = 0;
  sizes: { width: number; height: number }[] = [];
  destroyed = false;
  /** uPlot puts the cursor at left -10 while the pointer is off the plot. */
  cursor: { left?: number; top?: number } = { left: -10, top: -10 };
  legendIdx: number | null = null;

  constructor(
    readonly opts: uPlot.Options,
    data?: uPlot.AlignedData,
    targ?: HTMLElement,
  ) {
    this.data = data ?? ([] as unknown as uPlot.AlignedData);
    this.root = document.createElement('div');
    this.root.className = 'uplot fake-uplot';
    targ?.appendChild(this.root);
    FakeUPlot.instances.push(this);
  }

  /** The labels of the y series (not x). */
  get labels(): string[] {
    return this.opts.series.slice(1).map((s) => String(s.label ?? ''));
  }

  setData(data: uPlot.AlignedData): void {
    this.data = data;
    this.setDataCalls++;
  }

  setLegend(opts: { idx?: number }): void {
    this.legendIdx = opts.idx ?? null;
  }

  setSize(size: { width: number; height: number }): void {
    this.sizes.push(size);
  }

  destroy(): void {
    this.destroyed = true;
    this.root.remove();
  }
}

export default FakeUPlot;
