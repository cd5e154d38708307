// One run on screen: built once when selected, then each section is redrawn in place, so nothing
// moves around while data streams in.
import type { RunSummary } from '../../../shared/dashboard-api.js';
import type { RunState } from '../../../shared/run-state.js';
import { runPhase } from '../../../shared/run-state.js';
import { RunCharts } from './charts.js';
import { h, replaceChildren } from './dom.js';
import { formatClock, formatMs, formatPercent } from './format.js';
import { phaseBadge } from './process-list.js';
import { renderBlocks, renderNotices, renderOldest, renderSyncIo } from './tables.js';
import { renderShutdown } from './timeline.js';

function card(id: string, title: string, extraClass = ''): { el: HTMLElement; body: HTMLElement; aside: HTMLElement } {
  const body = h('div', { class: 'card-body' });
  const aside = h('span', { class: 'card-aside' });
  const el = h('section', { class: `card ${extraClass}`, id }, h('header', {}, h('h3', {}, title), aside), body);
  return { el, body, aside };
}

export class RunView {
  private charts: RunCharts;
  private head = h('div', { class: 'run-head' });
  private notices = h('div', { class: 'notices' });
  private delay = card('delay', 'Event-loop delay', 'chart-card');
  private elu = card('utilisation', 'Loop utilisation', 'chart-card small');
  private resources = card('resources', 'Pending resources by type', 'chart-card');
  private oldest = card('oldest', 'Oldest live resources');
  private blocks = card('blocks', 'Blocks');
  private syncio = card('syncio', 'Sync I/O');
  private shutdown = card('shutdown', 'Shutdown', 'wide');
  private selectedShutdown: number | null = null;
  private lastWidth = 0;

  constructor(
    private root: HTMLElement,
    private onSelectRun: (run: string) => void,
  ) {
    const canvas = () => h('canvas', {});
    const delayCanvas = canvas();
    const eluCanvas = canvas();
    const resCanvas = canvas();
    this.delay.body.append(h('div', { class: 'chart-box' }, delayCanvas));
    this.elu.body.append(h('div', { class: 'chart-box small' }, eluCanvas));
    this.resources.body.append(h('div', { class: 'chart-box' }, resCanvas));
    replaceChildren(
      root,
      this.head,
      this.notices,
      this.shutdown.el,
      h('div', { class: 'grid charts' }, this.delay.el, this.resources.el, this.elu.el),
      h('div', { class: 'grid' }, this.blocks.el, this.oldest.el),
      this.syncio.el,
    );
    this.charts = new RunCharts(delayCanvas, eluCanvas, resCanvas);
  }

  render(state: RunState, summary: RunSummary | undefined, siblings: RunSummary[], now: number): void {
    const connected = summary?.connected ?? false;
    // A run that is gone stops the clock at its last message: nothing is still "in progress".
    if (!connected) now = state.lastTs;
    const phase = summary && summary.run === state.run ? runPhase(state, connected) : runPhase(state, false);
    this.renderHead(state, summary, phase);
    renderNotices(this.notices, state);
    this.charts.update(state);
    const last = state.loop[state.loop.length - 1];
    this.delay.aside.textContent = last ? `p50 ${formatMs(last.delay.p50Ms)} · p99 ${formatMs(last.delay.p99Ms)} · max ${formatMs(last.delay.maxMs)}` : 'waiting for samples';
    this.elu.aside.textContent = last ? formatPercent(last.utilization) : '';
    const res = state.latestResources;
    this.resources.aside.textContent = res ? `${Object.values(res.byType).reduce((a, b) => a + b, 0)} now` : 'waiting for samples';
    renderOldest(this.oldest.body, state);
    renderBlocks(this.blocks.body, state, now);
    this.blocks.aside.textContent = phase === 'blocked' ? 'blocked now' : '';
    renderSyncIo(this.syncio.body, state);
    this.renderShutdowns(state, siblings, now, phase === 'shutting-down');
  }

  /** Redraw what depends on the width (the SVG timeline) after a resize. */
  widthChanged(): boolean {
    const w = this.root.clientWidth;
    const changed = w !== this.lastWidth;
    this.lastWidth = w;
    return changed;
  }

  private renderHead(state: RunState, summary: RunSummary | undefined, phase: RunSummary['phase']): void {
    const hello = state.hello;
    const sd = state.shutdowns[state.shutdowns.length - 1];
    const badge = phaseBadge({
      phase,
      outcome: sd?.end?.outcome ?? summary?.outcome ?? null,
      exitCode: sd?.end?.exit.code ?? summary?.exitCode ?? null,
      exitSignal: sd?.end?.exit.signal ?? summary?.exitSignal ?? null,
    });
    replaceChildren(
      this.head,
      h('h2', {}, hello?.app ?? summary?.app ?? state.run, ' ', h('span', { class: `badge ${badge.level}`, id: 'run-phase' }, badge.label)),
      h(
        'p',
        { class: 'run-meta' },
        `pid ${hello?.pid ?? summary?.pid ?? '?'}`,
        hello ? ` · ${hello.hostname} · node ${hello.nodeVersion} · ${hello.mode} mode` : '',
        hello ? ` · started ${formatClock(hello.startedAt)}` : '',
        summary?.source === 'recording' ? ' · from a recording' : '',
        ` · run ${state.run}`,
      ),
      hello ? h('p', { class: 'run-argv', title: hello.argv.join(' ') }, h('code', {}, hello.argv.join(' '))) : null,
    );
  }

  private renderShutdowns(state: RunState, siblings: RunSummary[], now: number, ongoing: boolean): void {
    const list = state.shutdowns;
    const idx = this.selectedShutdown !== null && this.selectedShutdown < list.length ? this.selectedShutdown : list.length - 1;
    const sd = list[idx];
    const timeline = h('div', { class: 'timeline' });
    const past: HTMLElement[] = [];
    if (list.length > 1) {
      past.push(
        h('div', { class: 'past' }, h('span', { class: 'muted' }, 'This run: '),
          ...list.map((s, i) =>
            h('button', { type: 'button', class: `chip${i === idx ? ' selected' : ''}`, onclick: () => { this.selectedShutdown = i; this.renderShutdowns(state, siblings, now, ongoing); } },
              `${formatClock(s.start.startedAt)} · ${s.end?.outcome ?? '…'}`),
          ),
        ),
      );
    }
    const others = siblings.filter((r) => r.run !== state.run && r.outcome !== null).slice(0, 12);
    if (others.length) {
      past.push(
        h('div', { class: 'past' }, h('span', { class: 'muted' }, 'Earlier runs: '),
          ...others.map((r) =>
            h('button', { type: 'button', class: `chip ${r.outcome === 'clean' ? '' : r.outcome === 'timeout' ? 'warn' : 'bad'}`, onclick: () => this.onSelectRun(r.run) },
              `${r.startedAt ? formatClock(r.startedAt) : r.run} · ${r.outcome}${r.exitCode !== null ? ` · ${r.exitCode}` : r.exitSignal ? ` · ${r.exitSignal}` : ''}`),
          ),
        ),
      );
    }
    this.shutdown.aside.textContent = list.length ? `${list.length} shutdown${list.length === 1 ? '' : 's'} recorded` : '';
    replaceChildren(this.shutdown.body, timeline, ...past);
    if (sd) renderShutdown(timeline, sd, now, ongoing && idx === list.length - 1);
    else replaceChildren(timeline, h('p', { class: 'empty' }, 'No shutdown yet: when this process ends, its timeline appears here.'));
  }

  destroy(): void {
    this.charts.destroy();
  }
}
