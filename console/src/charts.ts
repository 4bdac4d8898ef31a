/**
 * Stacked bars per day with uPlot. uPlot draws series as given, so each series is drawn as the
 * running total up to it, tallest first: the later, shorter bars paint over the lower part of
 * the earlier ones and the stack reads from the bottom up. The tooltip shows each series' own
 * value, not the running total.
 */
import uPlot from './vendor/uPlot.esm.js';
import { fill, h, swatch } from './dom.js';
import { dayLabel } from './format.js';

export interface StackedSeries {
  label: string;
  color: string;
  values: number[];
}

export interface StackedChartOptions {
  days: string[];
  series: StackedSeries[];
  /** How a value reads on the axis and in the tooltip. */
  format: (n: number) => string;
  height?: number;
}

export interface Chart {
  el: HTMLElement;
  destroy(): void;
}

export function stackedBars(opts: StackedChartOptions): Chart {
  const el = h('div', { class: 'chart' });
  const tip = h('div', { class: 'chart-tip', hidden: true });
  const plotArea = h('div', { class: 'chart-plot' });
  el.append(plotArea, tip);
  const n = opts.days.length;
  const xs = opts.days.map((_, i) => i);
  const cumulative: number[][] = [];
  let running = new Array<number>(n).fill(0);
  for (const s of opts.series) {
    running = running.map((v, i) => v + (s.values[i] ?? 0));
    cumulative.push(running);
  }
  const order = opts.series.map((_, i) => i).reverse();
  const bars = uPlot.paths.bars!({ size: [0.72, 48], gap: 1, radius: 0.15 });
  const data: uPlot.AlignedData = [xs, ...order.map((i) => cumulative[i]!)];
  const step = Math.max(1, Math.ceil(n / 12));

  let plot: uPlot | undefined;
  const make = (width: number) => {
    plot?.destroy();
    plot = new uPlot(
      {
        width,
        height: opts.height ?? 260,
        legend: { show: false },
        cursor: { points: { show: false }, drag: { x: false, y: false, setScale: false } },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        scales: { x: { time: false, range: () => [-0.6, n - 0.4] } },
        axes: [
          {
            stroke: '#6b7385',
            grid: { show: false },
            ticks: { show: false },
            splits: () => xs.filter((i) => i % step === 0),
            values: (_u, splits) => splits.map((i) => dayLabel(opts.days[i] ?? '')),
            font: '12px Inter, system-ui, sans-serif',
          },
          {
            stroke: '#6b7385',
            grid: { stroke: '#eef0f5', width: 1 },
            ticks: { show: false },
            size: 64,
            values: (_u, splits) => splits.map((v) => opts.format(v)),
            font: '12px Inter, system-ui, sans-serif',
          },
        ],
        series: [{}, ...order.map((i) => ({ label: opts.series[i]!.label, fill: opts.series[i]!.color, stroke: opts.series[i]!.color, width: 0, paths: bars, points: { show: false } }))],
        hooks: {
          setCursor: [
            (u) => {
              const idx = u.cursor.idx;
              if (idx === null || idx === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
                tip.hidden = true;
                return;
              }
              const rows = opts.series.map((s) => ({ s, v: s.values[idx] ?? 0 })).filter((r) => r.v > 0);
              const total = rows.reduce((a, r) => a + r.v, 0);
              fill(
                tip,
                h('div', { class: 'chart-tip-day' }, dayLabel(opts.days[idx] ?? '')),
                rows.length === 0 ? h('div', { class: 'muted' }, 'nothing') : null,
                rows.reverse().map((r) => h('div', { class: 'chart-tip-row' }, swatch(r.s.color), h('span', { class: 'chart-tip-label' }, r.s.label), h('b', null, opts.format(r.v)))),
                rows.length > 1 ? h('div', { class: 'chart-tip-row total' }, h('span', { class: 'chart-tip-label' }, 'Total'), h('b', null, opts.format(total))) : null,
              );
              tip.hidden = false;
              const left = u.valToPos(idx, 'x') + u.over.offsetLeft;
              const flip = left > u.width * 0.62;
              tip.style.left = `${flip ? left - 14 : left + 14}px`;
              tip.style.transform = flip ? 'translateX(-100%)' : 'none';
            },
          ],
        },
      },
      data,
      plotArea,
    );
  };
  const observer = new ResizeObserver((entries) => {
    const width = Math.floor(entries[0]?.contentRect.width ?? 0);
    if (width > 0 && width !== plot?.width) make(width);
  });
  observer.observe(el);
  return {
    el,
    destroy() {
      observer.disconnect();
      plot?.destroy();
    },
  };
}
