// The shutdown waterfall: from the trigger to the exit, cleanup steps and the snapshot's resources
// as bars on one time axis, so the slow step and the handle that never closed stand out.
import { formatDetails } from '../../../shared/details.js';
import type { ShutdownState } from '../../../shared/run-state.js';
import { shutdownOutcome, shutdownResources } from '../../../shared/run-state.js';
import { h, replaceChildren, s } from './dom.js';
import { COLOURS, formatClock, formatMs, formatWhere, triggerLabel } from './format.js';

const ROW = 26;
const BAR = 14;
/** Room right of the plot for the last tick label and the exit marker. */
const RIGHT_PAD = 34;
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
  // Waterfall order: first closed at the top, the stragglers (never closed) at the bottom.
  const resources = shutdownResources(sd).sort((a, b) => (a.closedAfterMs ?? Infinity) - (b.closedAfterMs ?? Infinity));
  for (const r of resources.slice(0, MAX_RESOURCE_ROWS)) {
    const closed = r.closedAfterMs !== null;
    const detail = formatDetails(r.details);
    // The process's own stdin/stdout/stderr stay open to the end in every process: grey, not a finding.
    const stdio = !closed && !r.keptAlive && isStdio(r.details);
    rows.push({
      kind: 'resource',
      label: `${r.type}${r.createdAt?.functionName ? ` · ${r.createdAt.functionName}` : ''}`,
      sub: `${r.createdAt ? formatWhere(r.createdAt) : 'creation site not recorded'}${detail ? ` · ${detail}` : ''}`,
      from: 0,
      to: closed ? r.closedAfterMs! : end,
      // Red: it held the process open; amber: open to the end but unref'd, so harmless to the exit.
      colour: closed ? '#9fb8d6' : stdio ? COLOURS.muted : r.keptAlive ? COLOURS.bad : COLOURS.warn,
      text: closed ? `closed at ${formatMs(r.closedAfterMs)}` : stdio ? 'stdio · stays open' : sd.end ? (r.keptAlive ? 'never closed · kept it alive' : 'never closed') : 'open',
    });
  }

  const width = Math.max(280, el.clientWidth || 600);
  // Narrow screens put each label above its bar, so the bars keep the full width.
  const stacked = width < 560;
  const labelW = stacked ? 4 : Math.min(280, Math.max(150, Math.round(width * 0.32)));
  const plotW = width - labelW - RIGHT_PAD;
  const rowH = stacked ? 40 : ROW;
  const barY = stacked ? 22 : 6;
  const x = (ms: number) => labelW + (Math.min(ms, end) / end) * plotW;
  const markers: { ms: number; label: string; cls: string }[] = [{ ms: 0, label: triggerLabel(sd.start.trigger), cls: 'trigger' }];
  for (const sig of sd.signals) markers.push({ ms: sig.afterMs, label: sig.signal, cls: 'signal' });
  if (sd.hang) markers.push({ ms: sd.hang.afterMs, label: `hang · ${sd.hang.keptAlive.length} kept alive`, cls: 'hang' });
  if (sd.end) markers.push({ ms: end, label: exitText, cls: `exit ${OUTCOME_LEVEL[sd.end.outcome] ?? ''}` });
  // Marker labels that would overlap go one line lower.
  const CHAR_W = 6;
  const lines: number[] = [];
  const placed = markers.map((m) => {
    const mx = x(m.ms);
    const w = m.label.length * CHAR_W;
    const left = Math.max(0, Math.min(width - w, mx - w / 2));
    let line = 0;
    while ((lines[line] ?? -Infinity) > left - 8) line++;
    lines[line] = left + w;
    return { ...m, mx, left, line };
  });
  const markerLines = Math.max(1, lines.length);
  const plotBottom = AXIS + rows.length * rowH + 4;
  const height = plotBottom + markerLines * 14 + 6;

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
    svg.append(s('line', { x1: x(t), x2: x(t), y1: AXIS - 6, y2: plotBottom, class: 'grid' }));
    svg.append(s('text', { x: x(t), y: AXIS - 10, class: 'tick', 'text-anchor': t === 0 ? 'start' : 'middle' }, formatMs(t)));
  }
  const maxChars = Math.floor((stacked ? width : labelW - 8) / CHAR_W);
  const clip = (text: string) => (text.length > maxChars ? `${text.slice(0, Math.max(1, maxChars - 1))}…` : text);
  rows.forEach((r, i) => {
    const y = AXIS + i * rowH;
    if (i > 0 && r.kind === 'resource' && rows[i - 1]!.kind === 'step') svg.append(s('line', { x1: 0, x2: width, y1: y, y2: y, class: 'sep' }));
    const label = s('text', { x: 4, y: y + 12, class: `row-label ${r.kind}` }, clip(r.label));
    label.append(s('title', {}, `${r.label}\n${r.sub}`));
    svg.append(label);
    svg.append(s('text', { x: 4, y: stacked ? y + 21 : y + 23, class: 'row-sub' }, clip(r.sub)));
    const bx = x(r.from);
    const bw = Math.max(2, x(r.to) - bx);
    const by = y + barY;
    svg.append(s('rect', { x: bx, y: by, width: bw, height: BAR, rx: 2, fill: r.colour }));
    if (r.striped) svg.append(s('rect', { x: bx, y: by, width: bw, height: BAR, rx: 2, fill: 'url(#stripes)' }));
    const textW = r.text.length * CHAR_W;
    const inside = bw > textW + 12;
    const right = !inside && bx + bw + textW + 8 < width;
    const tx = inside ? bx + bw - 4 : right ? bx + bw + 4 : bx - 4;
    svg.append(s('text', { x: tx, y: by + 11, class: `bar-text${inside ? ' inside' : ''}`, 'text-anchor': inside || !right ? 'end' : 'start' }, r.text));
  });
  for (const m of placed) {
    svg.append(s('line', { x1: m.mx, x2: m.mx, y1: AXIS - 4, y2: plotBottom + m.line * 14 + 2, class: `marker ${m.cls}` }));
    svg.append(s('text', { x: m.left, y: plotBottom + m.line * 14 + 12, class: `marker-text ${m.cls}` }, m.label));
  }

  const stillOpen = (sd.end?.stillOpen ?? sd.hang?.keptAlive ?? []).filter((k) => !isStdio(k.details));
  const head = h(
    'div',
    { class: 'sd-head' },
    h('div', { class: 'sd-total' }, h('span', { class: 'big' }, formatMs(sd.end ? sd.end.durationMs : end)), h('span', { class: 'caption' }, ongoing && !sd.end ? 'cleanup so far' : 'total cleanup time')),
    h(
      'div',
      { class: 'sd-facts' },
      outcome ? h('span', { class: `badge big-badge ${OUTCOME_LEVEL[outcome] ?? 'bad'}` }, outcome) : h('span', { class: 'badge big-badge warn pulse' }, 'shutting down'),
      h('span', { class: 'sd-exit' }, exitText),
      h('span', { class: 'muted' }, `trigger ${triggerLabel(sd.start.trigger)}${sd.start.reason ? ` (${sd.start.reason})` : ''} at ${formatClock(sd.start.startedAt)}`),
    ),
  );
  const body: (HTMLElement | SVGElement | null)[] = [
    head,
    h('div', { class: 'waterfall-wrap' }, svg),
    rows.length === 0 ? h('p', { class: 'note' }, 'No cleanup steps registered and nothing open at the start: the process had nothing to clean up.') : null,
    resources.length > MAX_RESOURCE_ROWS ? h('p', { class: 'note' }, `${resources.length - MAX_RESOURCE_ROWS} more resources not drawn`) : null,
    sd.start.snapshotTruncated ? h('p', { class: 'note' }, `${sd.start.snapshotTruncated} resources left out of the snapshot`) : null,
    stillOpen.length
      ? h(
          'div',
          { class: 'still-open' },
          h('h4', {}, sd.end ? 'Still open at the exit' : 'Keeping the process alive'),
          h('ul', {}, ...stillOpen.map((k) => h('li', {}, h('b', {}, k.type), k.createdAt ? ' created at ' : ' (creation site not recorded)', k.createdAt?.functionName ? h('b', {}, k.createdAt.functionName, ' ') : '', k.createdAt ? formatWhere(k.createdAt) : '', k.details ? h('span', { class: 'muted' }, ` · ${formatDetails(k.details)}`) : null))),
        )
      : null,
    sd.end?.error ? h('pre', { class: 'crash' }, sd.end.error) : null,
  ];
  replaceChildren(el, ...body.filter((b): b is HTMLElement => b !== null));
}

/** The process's own stdio handle (the agent marks it with details.stdio). */
function isStdio(details: Record<string, unknown> | undefined): boolean {
  return typeof details?.stdio === 'string';
}
