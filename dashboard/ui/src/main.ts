// The page: a process list fed by /live, and the selected run folded locally with the same reducer
// the server uses, from a REST snapshot plus the live messages that follow it.
import './styles.css';
import type { LiveEvent, RunSummary } from '../../../shared/dashboard-api.js';
import type { Message } from '../../../shared/protocol.js';
import { applyMessage, type RunState } from '../../../shared/run-state.js';
import { connectLive, fetchRun, fetchRuns, uploadRecording } from './api.js';
import { RunView } from './detail.js';
import { h, replaceChildren } from './dom.js';
import { renderProcessList } from './process-list.js';

const listEl = document.getElementById('process-list')!;
const detailEl = document.getElementById('detail')!;
const connEl = document.getElementById('conn')!;
const uploadInput = document.getElementById('upload-input') as HTMLInputElement;
const uploadStatus = document.getElementById('upload-status')!;

const runs = new Map<string, RunSummary>();
let selected: string | null = null;
let state: RunState | null = null;
/** Live messages for the selected run that arrived while its snapshot was loading. */
let pending: Message[] | null = null;
let view: RunView | null = null;
let loadToken = 0;
let lastReload = 0;

function selectedFromHash(): string | null {
  const m = /^#\/run\/(.+)$/.exec(window.location.hash);
  return m ? decodeURIComponent(m[1]!) : null;
}

/** Skips what the snapshot already holds, for the messages that raced with it. */
function alreadyIn(s: RunState, m: Message): boolean {
  if (m.ts > s.lastTs) return false;
  switch (m.type) {
    case 'loop':
      return s.loop.some((p) => p.ts === m.ts);
    case 'resources':
      return s.resourcePoints.some((p) => p.ts === m.ts);
    case 'block':
    case 'shutdown.step':
    case 'shutdown.closed':
    case 'shutdown.hang':
    case 'shutdown.end':
    case 'hello':
      return false; // idempotent in the reducer
    case 'shutdown.start':
      return s.shutdowns.some((sd) => sd.start.startedAt === m.startedAt);
    default:
      return true;
  }
}

let renderTimer: ReturnType<typeof setTimeout> | null = null;
function scheduleRender(): void {
  if (renderTimer) return;
  // Coalesce bursts; short enough that a new event is on screen well within a second.
  renderTimer = setTimeout(() => {
    renderTimer = null;
    render();
  }, 40);
}

function render(): void {
  renderProcessList(listEl, [...runs.values()], selected, select);
  if (!selected) {
    view?.destroy();
    view = null;
    replaceChildren(detailEl, h('p', { class: 'empty-detail' }, runs.size ? 'Select a process.' : 'No processes yet. Start one with ', runs.size ? '' : h('code', {}, 'loopscope run --dashboard <url> -- node app.js'), runs.size ? '' : ', or open a recording.'));
    return;
  }
  if (!state) {
    if (!view) replaceChildren(detailEl, h('p', { class: 'empty-detail' }, 'Loading…'));
    return;
  }
  if (!view) view = new RunView(detailEl, select);
  const summary = runs.get(selected);
  const app = summary?.app ?? state.hello?.app;
  const siblings = [...runs.values()].filter((r) => r.app === app).sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0));
  view.render(state, summary, siblings, Date.now());
}

async function loadSelected(): Promise<void> {
  const run = selected;
  if (!run) return;
  const token = ++loadToken;
  pending = [];
  try {
    const snapshot = await fetchRun(run);
    if (token !== loadToken) return;
    if (!snapshot) {
      state = null;
      pending = null;
      replaceChildren(detailEl, h('p', { class: 'empty-detail' }, `Run ${run} is not known to this dashboard.`));
      return;
    }
    for (const m of pending) if (!alreadyIn(snapshot, m)) applyMessage(snapshot, m);
    state = snapshot;
    pending = null;
    render();
  } catch (err) {
    if (token !== loadToken) return;
    pending = null;
    replaceChildren(detailEl, h('p', { class: 'empty-detail' }, `Could not load ${run}: ${(err as Error).message}`));
  }
}

function select(run: string): void {
  if (run === selected) return;
  selected = run;
  state = null;
  view?.destroy();
  view = null;
  const hash = `#/run/${encodeURIComponent(run)}`;
  if (window.location.hash !== hash) history.replaceState(null, '', hash);
  render();
  void loadSelected();
}

/** With nothing chosen, follow the newest live process so the first minute shows something. */
function autoSelect(): void {
  if (selected) return;
  const live = [...runs.values()].filter((r) => r.connected).sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0));
  const pick = live[0] ?? [...runs.values()].sort((a, b) => b.lastTs - a.lastTs)[0];
  if (pick) select(pick.run);
}

function onEvent(ev: LiveEvent): void {
  switch (ev.kind) {
    case 'runs':
      runs.clear();
      for (const r of ev.runs) runs.set(r.run, r);
      autoSelect();
      scheduleRender();
      // A full list is also the server's cue that this page may have missed messages (it was
      // too slow and events were skipped): reload the run on screen, at most every 2 s.
      if (selected && state && !pending && Date.now() - lastReload > 2_000) {
        lastReload = Date.now();
        void loadSelected();
      }
      break;
    case 'run':
      runs.set(ev.run.run, ev.run);
      autoSelect();
      scheduleRender();
      break;
    case 'message': {
      const m = ev.message;
      if (m.run !== selected) return;
      if (pending) pending.push(m);
      else if (state) {
        applyMessage(state, m);
        scheduleRender();
      }
      break;
    }
  }
}

async function refreshAll(): Promise<void> {
  try {
    const list = await fetchRuns();
    runs.clear();
    for (const r of list) runs.set(r.run, r);
  } catch {
    // /live will deliver the list; a failed fetch here only delays it.
  }
  autoSelect();
  render();
  if (selected) await loadSelected();
}

connectLive({
  onEvent,
  onOpen: () => void refreshAll(),
  onState: (s, retryInMs) => {
    connEl.dataset.state = s;
    connEl.textContent = s === 'open' ? 'live' : s === 'connecting' ? 'connecting…' : `disconnected · retrying in ${Math.ceil((retryInMs ?? 0) / 1000)} s`;
  },
});

uploadInput.addEventListener('change', async () => {
  const file = uploadInput.files?.[0];
  if (!file) return;
  uploadStatus.textContent = `opening ${file.name}…`;
  try {
    const result = await uploadRecording(file);
    uploadStatus.textContent = `${file.name}: ${result.runs.length} run${result.runs.length === 1 ? '' : 's'}${result.skipped ? `, ${result.skipped} bad lines skipped` : ''}`;
    await refreshAll();
    const first = result.runs[0];
    if (first) select(first);
  } catch (err) {
    uploadStatus.textContent = (err as Error).message;
  } finally {
    uploadInput.value = '';
  }
});

window.addEventListener('hashchange', () => {
  const run = selectedFromHash();
  if (run && run !== selected) select(run);
});

// Ages and in-progress durations move with the clock even when no message arrives.
setInterval(() => {
  if (!state || !view) return;
  const sd = state.shutdowns[state.shutdowns.length - 1];
  const ticking = state.blocks.some((b) => !b.ended) || (sd && !sd.end);
  if (ticking || view.widthChanged()) render();
}, 500);
window.addEventListener('resize', scheduleRender);

selected = selectedFromHash();
if (selected) {
  const run = selected;
  selected = null;
  select(run);
}
