// Talks to the dashboard server: REST for snapshots, /live for everything after. URLs are relative
// to the page so a path prefix in front of the dashboard still works; the token cookie, set by the
// server when the page was opened with ?token=, rides along on both.
import type { LiveEvent, RunSummary } from '../../../shared/dashboard-api.js';
import type { RunState } from '../../../shared/run-state.js';

export async function fetchRuns(): Promise<RunSummary[]> {
  const res = await fetch('api/runs', { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`GET api/runs: ${res.status}`);
  const body = (await res.json()) as { runs: RunSummary[] };
  return body.runs;
}

export async function fetchRun(run: string): Promise<RunState | null> {
  const res = await fetch(`api/runs/${encodeURIComponent(run)}`, { credentials: 'same-origin' });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET api/runs/${run}: ${res.status}`);
  return (await res.json()) as RunState;
}

export interface UploadResult {
  runs: string[];
  skipped: number;
}

export async function uploadRecording(file: File): Promise<UploadResult> {
  const res = await fetch('api/recordings', {
    method: 'POST',
    credentials: 'same-origin',
    // Not a "simple" content type: the server refuses writes that a page on another site could
    // send without a preflight (text/plain, forms), and this one is what proves it is not one.
    headers: { 'content-type': 'application/x-ndjson' },
    body: await file.text(),
  });
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    throw new Error(`upload failed (${res.status})${text ? `: ${text.slice(0, 200)}` : ''}`);
  }
  return (await res.json()) as UploadResult;
}

export type ConnState = 'connecting' | 'open' | 'closed';

export interface LiveHandlers {
  onEvent(ev: LiveEvent): void;
  /** Called on every (re)connect: whatever happened while away must be re-fetched. */
  onOpen(): void;
  onState(state: ConnState, retryInMs?: number): void;
}

/** Keeps a /live socket open, reconnecting with capped exponential backoff and jitter. */
export function connectLive(handlers: LiveHandlers): { close(): void } {
  let attempt = 0;
  let socket: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;

  const url = new URL('live', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  url.hash = '';

  const open = () => {
    if (stopped) return;
    handlers.onState('connecting');
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      handlers.onState('open');
      handlers.onOpen();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let ev: LiveEvent;
      try {
        ev = JSON.parse(e.data) as LiveEvent;
      } catch {
        return;
      }
      handlers.onEvent(ev);
    };
    ws.onclose = () => {
      if (socket !== ws || stopped) return;
      socket = null;
      const base = Math.min(10_000, 500 * 2 ** attempt);
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      attempt++;
      handlers.onState('closed', delay);
      timer = setTimeout(open, delay);
    };
  };
  open();
  return {
    close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      socket?.close();
    },
  };
}
