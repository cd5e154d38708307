// The process list: live processes first, children indented under their parent run.
import type { RunSummary } from '../../../shared/dashboard-api.js';
import { h, replaceChildren } from './dom.js';
import { formatClock } from './format.js';

export interface PhaseBadge {
  label: string;
  level: 'ok' | 'warn' | 'bad' | 'muted' | 'info';
}

/** What the badge says for a run: the phase, and for an exited run how it ended. */
export function phaseBadge(r: Pick<RunSummary, 'phase' | 'outcome' | 'exitCode' | 'exitSignal'>): PhaseBadge {
  switch (r.phase) {
    case 'running':
      return { label: 'running', level: 'ok' };
    case 'blocked':
      return { label: 'blocked now', level: 'bad' };
    case 'shutting-down':
      return { label: 'shutting down', level: 'warn' };
    case 'ended-abruptly':
      return { label: 'ended abruptly', level: 'bad' };
    case 'exited': {
      const outcome = r.outcome ?? 'clean';
      const exit = r.exitSignal ? r.exitSignal : r.exitCode !== null ? `code ${r.exitCode}` : '';
      const level = outcome === 'clean' ? 'muted' : outcome === 'timeout' ? 'warn' : 'bad';
      return { label: `exited · ${outcome}${exit ? ` · ${exit}` : ''}`, level };
    }
  }
}

function order(a: RunSummary, b: RunSummary): number {
  const live = Number(b.connected) - Number(a.connected);
  if (live !== 0) return live;
  return (b.startedAt ?? b.lastTs) - (a.startedAt ?? a.lastTs);
}

/** Runs as a tree: roots are runs without a parent in the list; returns [run, depth] in display order. */
export function treeOrder(runs: RunSummary[]): [RunSummary, number][] {
  const byRun = new Map(runs.map((r) => [r.run, r]));
  const children = new Map<string, RunSummary[]>();
  const roots: RunSummary[] = [];
  for (const r of runs) {
    if (r.parentRun && byRun.has(r.parentRun) && r.parentRun !== r.run) {
      const list = children.get(r.parentRun) ?? [];
      list.push(r);
      children.set(r.parentRun, list);
    } else roots.push(r);
  }
  const out: [RunSummary, number][] = [];
  const seen = new Set<string>();
  const walk = (r: RunSummary, depth: number) => {
    if (seen.has(r.run)) return;
    seen.add(r.run);
    out.push([r, depth]);
    for (const c of (children.get(r.run) ?? []).sort(order)) walk(c, depth + 1);
  };
  for (const r of roots.sort(order)) walk(r, 0);
  return out;
}

export function renderProcessList(el: HTMLElement, runs: RunSummary[], selected: string | null, onSelect: (run: string) => void): void {
  if (runs.length === 0) {
    replaceChildren(el, h('li', { class: 'process-empty' }, 'No processes yet.'));
    return;
  }
  const items = treeOrder(runs).map(([r, depth]) => {
    const badge = phaseBadge(r);
    return h(
      'li',
      {
        class: `process${r.run === selected ? ' selected' : ''}${r.connected ? '' : ' gone'}`,
        style: `--depth:${depth}`,
        'data-run': r.run,
        'data-phase': r.phase,
      },
      h(
        'button',
        { type: 'button', onclick: () => onSelect(r.run), 'aria-current': r.run === selected ? 'true' : null },
        h(
          'span',
          { class: 'process-head' },
          h('span', { class: 'process-name' }, depth > 0 ? '↳ ' : '', r.app),
          h('span', { class: `badge ${badge.level}` }, badge.label),
        ),
        h(
          'span',
          { class: 'process-meta' },
          `pid ${r.pid ?? '?'}`,
          r.hostname ? ` · ${r.hostname}` : '',
          r.nodeVersion ? ` · ${r.nodeVersion}` : '',
          r.source === 'recording' ? ' · recording' : '',
          r.startedAt ? ` · ${formatClock(r.startedAt)}` : '',
          r.blockCount > 0 ? ` · ${r.blockCount} block${r.blockCount === 1 ? '' : 's'}` : '',
        ),
      ),
    );
  });
  replaceChildren(el, ...items);
}
