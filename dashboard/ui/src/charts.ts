// Live charts of one run: loop delay, utilisation, and pending resources by type (stacked).
import {
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
  type ChartDataset,
  type ChartOptions,
} from 'chart.js';
import type { RunState } from '../../../shared/run-state.js';
import { COLOURS, colourForType, formatClock, formatMs, formatPercent } from './format.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Filler, Legend, Tooltip);

/** Points drawn per chart: the newest ones; the state keeps more for the record. */
const MAX_DRAWN = 900;

type XY = { x: number; y: number };

function baseOptions(): ChartOptions<'line'> {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    parsing: false,
    normalized: true,
    interaction: { mode: 'index', intersect: false },
    elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 1.5, tension: 0 } },
    plugins: {
      legend: { position: 'bottom', labels: { boxWidth: 10, boxHeight: 10, font: { size: 11 } } },
      tooltip: { callbacks: { title: (items) => (items[0] ? formatClock(items[0].parsed.x ?? 0) : '') } },
    },
    scales: {
      x: {
        type: 'linear',
        ticks: {
          maxTicksLimit: 6,
          // Sub-second ticks of a young run would repeat the same clock time: label each second once.
          callback: (v, i, ticks) => {
            const label = formatClock(Number(v));
            return i > 0 && formatClock(ticks[i - 1]!.value) === label ? '' : label;
          },
          font: { size: 10 },
        },
        grid: { color: '#eef0f3' },
      },
    },
  };
}

function line(label: string, colour: string, data: XY[], fill = false): ChartDataset<'line', XY[]> {
  return { label, data, borderColor: colour, backgroundColor: fill ? `${colour}99` : colour, fill, pointRadius: 0 };
}

export class RunCharts {
  private delay: Chart<'line', XY[]>;
  private elu: Chart<'line', XY[]>;
  private resources: Chart<'line', XY[]>;

  constructor(
    private delayCanvas: HTMLCanvasElement,
    eluCanvas: HTMLCanvasElement,
    private resourcesCanvas: HTMLCanvasElement,
  ) {
    const delayOpts = baseOptions();
    delayOpts.scales!.y = {
      type: 'logarithmic',
      min: 0.1,
      ticks: {
        font: { size: 10 },
        // Only the decades: 1 ms, 10 ms, 100 ms, 1 s.
        callback: (v) => {
          const n = Number(v);
          return Number.isInteger(Math.log10(n)) ? formatMs(n) : '';
        },
      },
      grid: { color: '#eef0f3' },
    };
    delayOpts.plugins!.tooltip!.callbacks!.label = (item) => `${item.dataset.label}: ${formatMs(item.parsed.y)}`;
    // The legend follows the drawing order (max first): reversed, it reads p50, p99, max.
    delayOpts.plugins!.legend = { ...delayOpts.plugins!.legend, reverse: true };
    this.delay = new Chart(delayCanvas, {
      type: 'line',
      // With ~100 samples a second, p99 and max often coincide: max is drawn dashed on top so
      // both stay visible (Chart.js draws lower `order` on top).
      data: {
        datasets: [
          { ...line('p50', COLOURS.p50, []), order: 2 },
          { ...line('p99', COLOURS.p99, []), order: 1, borderWidth: 3 },
          { ...line('max', COLOURS.max, []), order: 0, borderWidth: 1.5, borderDash: [5, 4] },
        ],
      },
      options: delayOpts,
    });

    const eluOpts = baseOptions();
    eluOpts.scales!.y = {
      type: 'linear',
      min: 0,
      max: 1,
      ticks: { font: { size: 10 }, stepSize: 0.25, callback: (v) => formatPercent(Number(v)) },
      grid: { color: '#eef0f3' },
    };
    eluOpts.plugins!.tooltip!.callbacks!.label = (item) => `utilisation: ${formatPercent(item.parsed.y ?? 0)}`;
    eluOpts.plugins!.legend = { display: false };
    this.elu = new Chart(eluCanvas, {
      type: 'line',
      data: { datasets: [line('utilisation', COLOURS.elu, [], true)] },
      options: eluOpts,
    });

    const resOpts = baseOptions();
    resOpts.scales!.y = {
      type: 'linear',
      stacked: true,
      beginAtZero: true,
      ticks: { font: { size: 10 }, precision: 0 },
      grid: { color: '#eef0f3' },
    };
    this.resources = new Chart(resourcesCanvas, { type: 'line', data: { datasets: [] }, options: resOpts });
  }

  update(state: RunState): void {
    const loop = state.loop.slice(-MAX_DRAWN);
    const floor = (v: number) => Math.max(0.1, v);
    const [p50, p99, max] = this.delay.data.datasets;
    p50!.data = loop.map((p) => ({ x: p.ts, y: floor(p.delay.p50Ms) }));
    p99!.data = loop.map((p) => ({ x: p.ts, y: floor(p.delay.p99Ms) }));
    max!.data = loop.map((p) => ({ x: p.ts, y: floor(p.delay.maxMs) }));
    this.elu.data.datasets[0]!.data = loop.map((p) => ({ x: p.ts, y: p.utilization }));

    const points = state.resourcePoints.slice(-MAX_DRAWN);
    const types = new Set<string>();
    for (const p of points) for (const t of Object.keys(p.byType)) types.add(t);
    const sorted = [...types].sort();
    const existing = new Map(this.resources.data.datasets.map((d) => [d.label ?? '', d]));
    this.resources.data.datasets = sorted.map((t) => {
      const data = points.map((p) => ({ x: p.ts, y: p.byType[t] ?? 0 }));
      const ds = existing.get(t);
      if (ds) {
        ds.data = data;
        return ds;
      }
      return line(t, colourForType(t), data, true);
    });

    // Same time window on all three so they line up when read top to bottom.
    const xs = [loop[0]?.ts, points[0]?.ts].filter((v): v is number => v !== undefined);
    const xe = [loop[loop.length - 1]?.ts, points[points.length - 1]?.ts].filter((v): v is number => v !== undefined);
    const min = xs.length ? Math.min(...xs) : undefined;
    const maxX = xe.length ? Math.max(...xe) : undefined;
    // Point counts on the canvases: what the browser tests (and a curious reader) can check.
    this.delayCanvas.dataset.points = String(loop.length);
    this.resourcesCanvas.dataset.points = String(points.length);
    for (const c of [this.delay, this.elu, this.resources]) {
      c.options.scales!.x!.min = min;
      c.options.scales!.x!.max = maxX;
      c.update('none');
    }
  }

  destroy(): void {
    this.delay.destroy();
    this.elu.destroy();
    this.resources.destroy();
  }
}
