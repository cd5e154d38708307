// The tabular views of one run: oldest live resources, blocks, sync I/O calls.
import type { BlockEvent, Frame } from '../../../shared/protocol.js';
import type { RunState } from '../../../shared/run-state.js';
import { firstUserFrame } from '../../../shared/stack.js';
import { h, replaceChildren } from './dom.js';
import { formatClock, formatFrameFull, formatMs, formatWhere } from './format.js';

function table(headers: string[], rows: HTMLTableRowElement[], empty: string, className = ''): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', { class: className }, h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', {}, t)))), h('tbody', {}, ...rows)),
  );
}

function whereCell(frame: Frame | null | undefined): HTMLTableCellElement {
  return h('td', { class: 'where', title: frame ? formatFrameFull(frame) : '' }, frame?.functionName ? h('b', {}, frame.functionName, ' ') : null, formatWhere(frame));
}

export function renderOldest(el: HTMLElement, state: RunState): void {
  const sample = state.latestResources;
  const oldest = sample?.oldest ?? [];
  const rows = oldest.map((r) =>
    h(
      'tr',
      {},
      h('td', {}, r.type),
      h('td', { class: 'num' }, r.ageMs === null ? '–' : formatMs(r.ageMs)),
      h('td', {}, r.keepsAlive ? h('span', { class: 'badge warn' }, 'yes') : h('span', { class: 'muted' }, 'no')),
      r.stack && r.stack.length > 0
        ? h('td', { class: 'stack-cell' }, h('details', {}, h('summary', {}, r.createdAt?.functionName ? h('b', {}, r.createdAt.functionName, ' ') : null, formatWhere(r.createdAt)), stackList(r.stack)))
        : whereCell(r.createdAt),
    ),
  );
  const note = sample ? h('p', { class: 'note' }, `${sample.tracked} long-lived resources tracked`, sample.stacksSkipped ? ` · ${sample.stacksSkipped} creation stacks skipped (budget)` : '') : null;
  replaceChildren(el, table(['type', 'age', 'keeps alive', 'created at'], rows, 'No long-lived resources reported yet.'), note);
}

/** The frame to name a block by: the first frame in the app's own code. */
export function blockFrame(b: BlockEvent): Frame | null {
  return firstUserFrame(b.stack) ?? b.stack[0] ?? null;
}

function stackList(stack: Frame[]): HTMLElement {
  return h('ol', { class: 'stack' }, ...stack.map((f) => h('li', {}, formatFrameFull(f))));
}

/** Block ids whose stack the user opened: re-rendering keeps them open. */
const openStacks = new Set<number>();

export function renderBlocks(el: HTMLElement, state: RunState, now: number): void {
  const blocks = [...state.blocks].reverse();
  const rows = blocks.map((b) => {
    const frame = blockFrame(b);
    const inProgress = !b.ended;
    const live = inProgress ? b.durationMs + Math.max(0, now - b.ts) : b.durationMs;
    const details = h(
      'details',
      {
        open: openStacks.has(b.id) || inProgress,
        // Opened for an in-progress block by us, not by the reader: do not remember that one.
        'data-auto': inProgress && !openStacks.has(b.id) ? '1' : null,
        ontoggle: (e: Event) => {
          const el = e.target as HTMLDetailsElement;
          if (el.dataset.auto) {
            delete el.dataset.auto;
            return;
          }
          if (el.open) openStacks.add(b.id);
          else openStacks.delete(b.id);
        },
      },
      h('summary', {}, frame ? h('b', { class: 'fn' }, frame.functionName || '(anonymous)') : h('span', { class: 'muted' }, b.native ? 'native code' : 'no stack'), frame ? ` ${formatWhere(frame)}` : ''),
      b.stack.length ? stackList(b.stack) : h('p', { class: 'muted' }, b.stackKind === 'none' ? 'Blocked in native code: the stack could only be read after it returned.' : 'No stack captured.'),
      b.syncCall ? h('p', { class: 'note' }, `in ${b.syncCall.api} at ${formatWhere(b.syncCall.createdAt)}`) : null,
    );
    return h(
      'tr',
      { class: inProgress ? 'in-progress' : '', 'data-block': b.id, 'data-ts': b.ts },
      h('td', {}, formatClock(b.startedAt)),
      h('td', { class: `num ${live >= 1000 ? 'bad' : live >= 200 ? 'warn' : ''}` }, inProgress ? h('span', { class: 'badge bad pulse' }, 'in progress') : null, inProgress ? h('br', {}) : null, formatMs(live)),
      h('td', {}, b.native ? h('span', { class: 'badge warn' }, 'native') : h('span', { class: 'muted' }, 'JS')),
      h(
        'td',
        { class: 'stack-cell' },
        details,
        b.resource ? h('span', { class: 'callback' }, `in a ${b.resource.type} callback`, b.resource.createdAt ? ` from ${formatWhere(b.resource.createdAt)}` : '') : null,
      ),
    );
  });
  const summary = h(
    'p',
    { class: 'note' },
    `${state.blockCount} block${state.blockCount === 1 ? '' : 's'}, ${formatMs(state.blockedMs)} blocked in total`,
    state.blocksDropped ? ` · ${state.blocksDropped} older not shown` : '',
  );
  replaceChildren(el, summary, table(['started', 'duration', 'kind', 'where'], rows, 'No blocks over the threshold. Good.', 'blocks'));
}

export function renderSyncIo(el: HTMLElement, state: RunState): void {
  const sites = [...state.syncSites].sort((a, b) => b.totalMs - a.totalMs);
  const rows = sites.map((s) =>
    h(
      'tr',
      {},
      h('td', {}, h('code', {}, s.api)),
      h('td', { class: 'num' }, s.count),
      h('td', { class: 'num' }, formatMs(s.totalMs)),
      h('td', { class: `num ${s.maxMs >= 50 ? 'warn' : ''}` }, formatMs(s.maxMs)),
      whereCell(s.createdAt),
    ),
  );
  replaceChildren(el, table(['api', 'count', 'total', 'max', 'caller'], rows, 'No sync I/O after start-up.'));
}

export function renderNotices(el: HTMLElement, state: RunState): void {
  const notices = state.notices.filter((n) => n.level !== 'info').slice(-5);
  replaceChildren(el, ...notices.map((n) => h('p', { class: `notice ${n.level}` }, `${n.message}`, n.count !== undefined ? ` (${n.count})` : '')));
}
