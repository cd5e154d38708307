// /live: fans accepted messages and run changes out to browsers. A browser that cannot keep up
// (a background tab, a slow link) must not make the server buffer without bound, so past a
// per-client limit of unsent bytes its events are skipped; once it has drained it gets a fresh
// run list, its cue to refetch the state of the run it shows.
import type { WebSocket } from 'ws';
import type { LiveEvent, RunSummary } from '../../shared/dashboard-api.js';
import type { Message } from '../../shared/protocol.js';

/** Unsent bytes per browser past which its events are skipped. */
export const LIVE_BUFFER_LIMIT = 1024 * 1024;

interface Client {
  ws: WebSocket;
  lagging: boolean;
  skipped: number;
}

export class LiveHub {
  private readonly clients = new Set<Client>();
  private skippedTotal = 0;

  constructor(
    private readonly runs: () => RunSummary[],
    private readonly log: (line: string) => void,
    private readonly limit = LIVE_BUFFER_LIMIT,
  ) {}

  add(ws: WebSocket): void {
    const client: Client = { ws, lagging: false, skipped: 0 };
    this.clients.add(client);
    ws.on('close', () => this.clients.delete(client));
    ws.on('error', () => this.clients.delete(client));
    // Browsers say nothing on /live; anything they send is ignored.
    ws.on('message', () => undefined);
    this.sendTo(client, JSON.stringify({ kind: 'runs', runs: this.runs() } satisfies LiveEvent));
  }

  get size(): number {
    return this.clients.size;
  }

  get skipped(): number {
    return this.skippedTotal;
  }

  message(message: Message): void {
    if (this.clients.size === 0) return;
    this.broadcast(JSON.stringify({ kind: 'message', message } satisfies LiveEvent));
  }

  run(run: RunSummary): void {
    if (this.clients.size === 0) return;
    this.broadcast(JSON.stringify({ kind: 'run', run } satisfies LiveEvent));
  }

  runsChanged(): void {
    if (this.clients.size === 0) return;
    this.broadcast(JSON.stringify({ kind: 'runs', runs: this.runs() } satisfies LiveEvent));
  }

  private broadcast(text: string): void {
    for (const c of this.clients) this.sendTo(c, text);
  }

  private sendTo(c: Client, text: string): void {
    if (c.ws.readyState !== c.ws.OPEN) return;
    if (c.ws.bufferedAmount > this.limit) {
      if (!c.lagging) {
        c.lagging = true;
        this.log(`live: a browser is not keeping up (${c.ws.bufferedAmount} bytes unsent); skipping its events until it drains`);
      }
      c.skipped++;
      this.skippedTotal++;
      return;
    }
    if (c.lagging) {
      c.lagging = false;
      c.ws.send(JSON.stringify({ kind: 'runs', runs: this.runs() } satisfies LiveEvent));
    }
    c.ws.send(text);
  }

  closeAll(code: number, reason: string): void {
    for (const c of this.clients) c.ws.close(code, reason);
    this.clients.clear();
  }
}
