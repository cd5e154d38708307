// The shutdown waterfall: from the trigger to the exit, cleanup steps and the snapshot's resources
// as bars on one time axis, so the slow step and the handle that never closed stand out.
import type { ShutdownState } from '../../../shared/run-state.js';
import { shutdownOutcome, shutdownResources } from '../../../shared/run-state.js';
import { h, replaceChildren, s } from './dom.js';
import { COLOURS, formatClock, formatMs, formatWhere } from './format.js';

const ROW = 22;
const BAR = 14;
const AXIS = 26;
const MAX_RESOURCE_ROWS = 40;

const STEP_COLOUR: Record<string, string> = { ok: COLOURS.ok, failed: COLOURS.bad, timeout: COLOURS.warn, running: COLOURS.info };
const OUTCOME_LEVEL: Record<string, 'ok' | 'warn' | 'bad'> = { clean: 'ok', timeout: 'warn', error: 'bad', crash: 'bad', killed: 'bad' };

/** Nice round tick step for an axis of `span` ms with about `count` ticks. */
function tickStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 0.001)));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

interface Row {
  label: string;
  sub: string;
  from: number;
  to: number;
  colour: string;
  text: string;
  striped?: boolean;
  kind: 'step' | 'resource';
}

/** The span the timeline covers: to the exit, or to now while it is still going. */
export function timelineEnd(sd: ShutdownState, now: number): number {
  if (sd.end) return sd.end.durationMs;
  let end = Math.max(0, now - sd.start.startedAt);
  for (const st of sd.steps) end = Math.max(end, st.startMs + (st.durationMs ?? 0));
  for (const v of Object.values(sd.closed)) end = Math.max(end, v);
  if (sd.hang) end = Math.max(end, sd.hang.afterMs);
  return end;
}

export function renderShutdown(el: HTMLElement, sd: ShutdownState, now: number, ongoing: boolean): void {
  const end = Math.max(1, timelineEnd(sd, now));
  const outcome = sd.end ? shutdownOutcome(sd) : ongoing ? null : shutdownOutcome(sd);
  const exit = sd.end?.exit;
  const exitText = exit ? (exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code ?? '?'}`) : ongoing ? 'still running' : 'no exit recorded';

  const rows: Row[] = sd.steps.map((st) => {
    const running = st.durationMs === null;
    const to = running ? end : st.startMs + (st.durationMs ?? 0);
    return {
      kind: 'step',
      label: st.name,
      sub: st.outcome === 'ok' ? 'step' : `step · ${st.outcome}${st.error ? `: ${st.error}` : ''}`,
      from: st.startMs,
      to,
      colour: STEP_COLOUR[st.outcome] ?? COLOURS.info,
      text: running ? `running ${formatMs(to - st.startMs)}` : formatMs(st.durationMs),
      striped: running,
    };
  });
  const resources = shutdownResources(sd);
  for (const r of resources.slice(0, MAX_RESOURCE_ROWS)) {
    const closed = r.closedAfterMs !== null;
    const detail = r.details ? Object.entries(r.details).map(([k, v]) => `${k} ${v}`).join(', ') : '';
    rows.push({
      kind: 'resource',
      label: `${r.type}${r.createdAt?.functionName ? ` · ${r.createdAt.functionName}` : ''}`,
      sub: `${r.createdAt ? formatWhere(r.createdAt) : 'created before the agent'}${detail ? ` · ${detail}` : ''}`,
      from: 0,
      to: closed ? r.closedAfterMs! : end,
      colour: closed ? '#9fb8d6' : r.keptAlive || sd.end ? COLOURS.bad : COLOURS.warn,
      text: closed ? `closed at ${formatMs(r.closedAfterMs)}` : sd.end ? 'never closed' : 'open',
    });
  }

  const width = Math.max(300, el.clientWidth || 600);
  const labelW = Math.min(280, Math.max(130, Math.round(width * 0.34)));
  const plotW = width - labelW - 12;
  const x = (ms: number) => labelW + (Math.min(ms, end) / end) * plotW;
  const height = AXIS + rows.length * ROW + 30;

  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'waterfall', role: 'img', 'aria-label': 'shutdown timeline' });
  svg.append(
    s(
      'defs',
      {},
      s('pattern', { id: 'stripes', width: 8, height: 8, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, s('rect', { width: 4, height: 8, fill: 'rgba(255,255,255,0.45)' })),
    ),
  );
  const step = tickStep(end, Math.max(2, Math.floor(plotW / 90)));
  for (let t = 0; t <= end + 1e-9; t += step) {
    svg.append(s('line', { x1: x(t), x2: x(t), y1: AXIS - 6, y2: height - 24, class: 'grid' }));
    svg.append(s('text', { x: x(t), y: AXIS - 10, class: 'tick', 'text-anchor': t === 0 ? 'start' : 'middle' }, formatMs(t)));
  }
  rows.forEach((r, i) => {
    const y = AXIS + i * ROW;
    if (i > 0 && r.kind === 'resource' && rows[i - 1]!.kind === 'step') svg.append(s('line', { x1: 0, x2: width, y1: y, y2: y, class: 'sep' }));
    svg.append(s('text', { x: 4, y: y + 11, class: `row-label ${r.kind}` }, r.label));
    svg.append(s('text', { x: 4, y: y + 20, class: 'row-sub' }, r.sub));
    const bx = x(r.from);
    const bw = Math.max(2, x(r.to) - bx);
    svg.append(s('rect', { x: bx, y: y + 4, width: bw, height: BAR, rx: 2, fill: r.colour }));
    if (r.striped) svg.append(s('rect', { x: bx, y: y + 4, width: bw, height: BAR, rx: 2, fill: 'url(#stripes)' }));
    const inside = bw > 110;
    svg.append(s('text', { x: inside ? bx + bw - 4 : bx + bw + 4, y: y + 15, class: `bar-text${inside ? ' inside' : ''}`, 'text-anchor': inside ? 'end' : 'start' }, r.text));
  });
  const marker = (ms: number, label: string, cls: string) => {
    const mx = x(ms);
    svg.append(s('line', { x1: mx, x2: mx, y1: AXIS - 4, y2: height - 22, class: `marker ${cls}` }));
    svg.append(s('text', { x: mx, y: height - 8, class: `marker-text ${cls}`, 'text-anchor': mx > width - 80 ? 'end' : mx < labelW + 40 ? 'start' : 'middle' }, label));
  };
  marker(0, sd.start.trigger, 'trigger');
  for (const sig of sd.signals) marker(sig.afterMs, sig.signal, 'signal');
  if (sd.hang) marker(sd.hang.afterMs, `hang · ${sd.hang.keptAlive.length} kept alive`, 'hang');
  if (sd.end) marker(end, exitText, `exit ${OUTCOME_LEVEL[sd.end.outcome] ?? ''}`);

  const stillOpen = sd.end?.stillOpen ?? sd.hang?.keptAlive ?? [];
  const head = h(
    'div',
    { class: 'sd-head' },
    h('div', { class: 'sd-total' }, h('span', { class: 'big' }, formatMs(sd.end ? sd.end.durationMs : end)), h('span', { class: 'caption' }, ongoing && !sd.end ? 'cleanup so far' : 'total cleanup time')),
    h(
      'div',
      { class: 'sd-facts' },
      outcome ? h('span', { class: `badge big-badge ${OUTCOME_LEVEL[outcome] ?? 'bad'}` }, outcome) : h('span', { class: 'badge big-badge warn pulse' }, 'shutting down'),
      h('span', { class: 'sd-exit' }, exitText),
      h('span', { class: 'muted' }, `trigger ${sd.start.trigger}${sd.start.reason ? ` (${sd.start.reason})` : ''} at ${formatClock(sd.start.startedAt)}`),
    ),
  );
  const body: (HTMLElement | SVGElement | null)[] = [
    head,
    h('div', { class: 'waterfall-wrap' }, svg),
    resources.length > MAX_RESOURCE_ROWS ? h('p', { class: 'note' }, `${resources.length - MAX_RESOURCE_ROWS} more resources not drawn`) : null,
    sd.start.snapshotTruncated ? h('p', { class: 'note' }, `${sd.start.snapshotTruncated} resources left out of the snapshot`) : null,
    stillOpen.length
      ? h(
          'div',
          { class: 'still-open' },
          h('h4', {}, sd.end ? 'Still open at the exit' : 'Keeping the process alive'),
          h('ul', {}, ...stillOpen.map((k) => h('li', {}, h('b', {}, k.type), ' created at ', k.createdAt?.functionName ? h('b', {}, k.createdAt.functionName, ' ') : '', formatWhere(k.createdAt)))),
        )
      : null,
    sd.end?.error ? h('pre', { class: 'crash' }, sd.end.error) : null,
  ];
  replaceChildren(el, ...body.filter((b): b is HTMLElement => b !== null));
}
