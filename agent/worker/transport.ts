// The agent worker's stream to the dashboard (/ingest). Runs in the worker thread, never on the
// app's thread. Messages are batched into seq-numbered frames; a frame is kept until the dashboard
// acks it, so after a dashboard restart the unacked frames are resent and nothing the bounded
// queue held is lost. Past queueMax messages the oldest go, are counted, and a `notice` says how
// many once the dashboard is back (for a frame that may have arrived, a notice in its place: see
// standIn). Failures are warned about once each, never per retry.
import type { WebSocket as WsSocket } from 'ws';
import type { Message } from '../../shared/protocol.js';
import { CLOSE, INGEST_PATH, MAX_FRAME_BYTES } from '../../shared/dashboard-constants.js';
import type { IngestReply } from '../../shared/dashboard-api.js';
import { redactUrl } from '../../shared/redact.js';
import { terminalSafeShort } from '../../shared/terminal-text.js';
import type { WorkerInit } from '../worker-messages.js';
import type { Sink, WarnFn } from './sink.js';

export interface TransportOptions {
  /** Dashboard URL: ws://host:port (http(s):// and a trailing /ingest are accepted too). */
  url: string;
  token: string | null;
  run: string;
  queueMax: number;
  warn: WarnFn;
  batchMs?: number;
  batchMax?: number;
  /** Cap of the reconnect backoff. */
  maxDelayMs?: number;
  /** Frames sent and not yet acked at most; the rest waits in the queue. */
  maxInFlight?: number;
}

interface SentFrame {
  seq: number;
  text: string;
  /** What losing this frame loses: its app messages, plus what its own drop notices counted. */
  lost: number;
  /** Messages it holds against queueMax (none once it is a stand-in). */
  messages: number;
  hasHello: boolean;
  /** Its messages were dropped: it now carries only a notice of them (see standIn). */
  standIn: boolean;
}

type WsModule = typeof import('ws');

/** Normalises the configured address to the ingest endpoint. */
export function ingestUrl(base: string): string {
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith(INGEST_PATH) ? path : path + INGEST_PATH;
  return url.toString();
}

const FRAME_OVERHEAD = 64;
/** Notices made on the way to this sink (not in the recording): deferred-sink.ts's start-up overflow. */
const STREAM_ONLY_NOTICES = new Set(['sink-start-overflow']);

export class DashboardTransport implements Sink {
  private readonly url: string;
  /** The address as warnings show it: a token or password in it must not reach the app's stderr. */
  private readonly shownUrl: string;
  private readonly batchMs: number;
  private readonly batchMax: number;
  private readonly maxDelayMs: number;
  private readonly maxInFlight: number;
  private ws: WsSocket | null = null;
  private open = false;
  private stopped = false;
  private pending: Message[] = [];
  private unacked: SentFrame[] = [];
  private unackedMessages = 0;
  private nextSeq = 0;
  private ackedSeq = -1;
  private dropped = 0;
  private droppedTotal = 0;
  private hello: Message | null = null;
  private helloLost = false;
  /** Notices this transport made (their `count` is what dropping one loses). */
  private readonly ownNotices = new WeakSet<Message>();
  private attempt = 0;
  private batchTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private flushWaiters: { target: number; resolve: () => void }[] = [];
  private readonly warned = new Set<string>();
  private wsModule: WsModule | null = null;

  constructor(
    private readonly options: TransportOptions,
    loadWs: () => Promise<WsModule> = () => import('ws'),
  ) {
    let url = '';
    try {
      url = ingestUrl(options.url);
    } catch {
      this.giveUp(`invalid dashboard address ${JSON.stringify(redactUrl(options.url))}; streaming off`);
    }
    this.url = url;
    this.shownUrl = url ? redactUrl(url) : '';
    this.batchMs = options.batchMs ?? 100;
    this.batchMax = options.batchMax ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.maxInFlight = options.maxInFlight ?? 64;
    if (this.stopped) return;
    loadWs().then(
      (mod) => {
        this.wsModule = mod;
        if (!this.stopped) this.connect();
      },
      (err: Error) => this.giveUp(`cannot load the ws module (${err.message})`),
    );
  }

  /** Messages dropped since start (the queue overflowed while the dashboard was away). */
  get droppedCount(): number {
    return this.droppedTotal;
  }

  get queued(): number {
    return this.pending.length + this.unackedMessages;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    try {
      this.options.warn(message);
    } catch {
      // a warning must never break the stream
    }
  }

  write(messages: readonly Message[]): void {
    if (this.stopped) return;
    try {
      for (const m of messages) {
        if (m.type === 'hello' && this.hello === null) this.hello = m;
        this.pending.push(m);
      }
      this.enforceBound();
      if (!this.open) return;
      if (this.pending.length >= this.batchMax) this.sendPending(false);
      else if (this.batchTimer === null && this.pending.length > 0) {
        this.batchTimer = setTimeout(() => {
          this.batchTimer = null;
          this.sendPending(false);
        }, this.batchMs);
        this.batchTimer.unref();
      }
    } catch (err) {
      this.warnOnce('internal', `dashboard stream: ${(err as Error).message}`);
    }
  }

  /** What dropping a message loses: a drop notice that only this stream carries stands for its count. */
  private lossOf(m: Message): number {
    if (m === this.hello) return 0;
    if (m.type === 'notice' && (this.ownNotices.has(m) || STREAM_ONLY_NOTICES.has(m.code))) return m.count ?? 0;
    return 1;
  }

  /**
   * Drops the oldest past queueMax: the messages of unacked frames first, then queued messages.
   * Frames already handed to an open connection stay (the dashboard has them or will); the
   * in-flight window bounds those.
   */
  private enforceBound(): void {
    const max = this.options.queueMax;
    while (this.pending.length + (this.open ? 0 : this.unackedMessages) > max) {
      const frame = this.open ? undefined : this.unacked.find((f) => !f.standIn);
      if (frame) {
        this.standIn(frame);
        continue;
      }
      const m = this.pending.shift()!;
      if (m === this.hello) this.helloLost = true;
      else this.addDropped(this.lossOf(m));
    }
  }

  /**
   * An unacked frame was sent on a connection that closed before its ack: the dashboard may have
   * stored it (an ack lost as it shut down) or not. Its messages are dropped, but the frame keeps
   * its seq and now carries a notice of what it held (and the hello if it had it): the dashboard
   * stores a seq once, so the notice is stored exactly when the messages were not, and the count
   * the dashboard shows matches what it is missing. A stand-in holds nothing against queueMax;
   * there are at most as many as frames in flight when a connection closed.
   */
  private standIn(frame: SentFrame): void {
    this.unackedMessages -= frame.messages;
    this.droppedTotal += frame.lost;
    const messages: Message[] = [];
    if (frame.hasHello && this.hello) messages.push(this.hello);
    if (frame.lost > 0) messages.push(this.dropNotice(frame.lost));
    frame.text = `{"seq":${frame.seq},"messages":[${messages.map((m) => JSON.stringify(m)).join(',')}]}`;
    frame.messages = 0;
    frame.standIn = true;
  }

  private dropNotice(count: number): Message {
    const notice: Message = {
      type: 'notice',
      run: this.options.run,
      ts: Date.now(),
      level: 'warn',
      code: 'dropped',
      message: `${count} messages dropped while the dashboard was unreachable (queue limit ${this.options.queueMax})`,
      count,
    };
    this.ownNotices.add(notice);
    return notice;
  }

  private addDropped(n: number): void {
    this.dropped += n;
    this.droppedTotal += n;
  }

  /** Frames queued messages and sends them (bypassing the in-flight window when flushing). */
  private sendPending(flushing: boolean): void {
    if (!this.open || !this.ws) return;
    if (this.batchTimer !== null) {
      clearTimeout(this.batchTimer);
      this.batchTimer = null;
    }
    if (this.dropped > 0 || this.helloLost) {
      const head: Message[] = [];
      if (this.helloLost && this.hello) head.push(this.hello);
      if (this.dropped > 0) head.push(this.dropNotice(this.dropped));
      this.pending.unshift(...head);
      this.dropped = 0;
      this.helloLost = false;
    }
    const limit = MAX_FRAME_BYTES - FRAME_OVERHEAD;
    while (this.pending.length > 0 && (flushing || this.unacked.length < this.maxInFlight)) {
      const parts: string[] = [];
      let bytes = 0;
      let taken = 0;
      let lost = 0;
      let hasHello = false;
      while (taken < this.pending.length && parts.length < this.batchMax) {
        const m = this.pending[taken]!;
        const text = JSON.stringify(m);
        const size = Buffer.byteLength(text) + 1;
        if (size > limit) {
          // One message too big for any frame: it can never be sent.
          this.pending.splice(taken, 1);
          this.addDropped(this.lossOf(m));
          this.warnOnce('too-big', `a ${m.type} message of ${size} bytes exceeds the dashboard's frame limit; dropped`);
          continue;
        }
        if (bytes + size > limit) break;
        parts.push(text);
        bytes += size;
        taken++;
        lost += this.lossOf(m);
        if (m === this.hello) hasHello = true;
      }
      if (taken === 0) break;
      this.pending.splice(0, taken);
      const seq = this.nextSeq++;
      const frame: SentFrame = { seq, text: `{"seq":${seq},"messages":[${parts.join(',')}]}`, lost, messages: taken, hasHello, standIn: false };
      this.unacked.push(frame);
      this.unackedMessages += taken;
      this.ws.send(frame.text);
    }
  }

  private connect(): void {
    const mod = this.wsModule;
    if (!mod || this.stopped || this.ws) return;
    const headers: Record<string, string> = {};
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let ws: WsSocket;
    try {
      ws = new mod.WebSocket(this.url, {
        headers,
        perMessageDeflate: false,
        handshakeTimeout: 5000,
        maxPayload: 1024 * 1024,
        followRedirects: false,
      });
    } catch (err) {
      this.giveUp(`invalid dashboard address ${redactUrl(this.options.url)} (${(err as Error).message})`);
      return;
    }
    this.ws = ws;
    // The worker lives as long as its port to the main thread; its sockets must not add to that.
    ws.on('upgrade', (res) => res.socket.unref());
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data) => this.onReply(String(data)));
    ws.on('error', (err: Error & { code?: string }) => {
      if (!this.open) {
        this.warnOnce(
          'unreachable',
          `dashboard ${this.shownUrl} unreachable (${err.code ?? err.message}); retrying in the background, holding up to ${this.options.queueMax} messages`,
        );
      }
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private onOpen(ws: WsSocket): void {
    if (ws !== this.ws) return;
    this.open = true;
    this.attempt = 0;
    for (const frame of this.unacked) ws.send(frame.text);
    const flushing = this.flushWaiters.some((w) => w.target === Infinity);
    this.sendPending(flushing);
    if (flushing) {
      const target = this.nextSeq - 1;
      for (const w of this.flushWaiters) if (w.target === Infinity) w.target = target;
      this.settleFlushes(false);
    }
  }

  private onReply(text: string): void {
    let reply: IngestReply;
    try {
      reply = JSON.parse(text) as IngestReply;
    } catch {
      return;
    }
    if (reply.kind === 'error') {
      this.warnOnce(`error:${reply.reason}`, `dashboard: ${terminalSafeShort(String(reply.reason))}`);
      return;
    }
    if (reply.kind !== 'ack' || typeof reply.seq !== 'number') return;
    if (reply.seq > this.ackedSeq) this.ackedSeq = reply.seq;
    while (this.unacked.length > 0 && this.unacked[0]!.seq <= reply.seq) {
      const f = this.unacked.shift()!;
      this.unackedMessages -= f.messages;
    }
    this.settleFlushes(false);
    if (this.pending.length > 0 && this.unacked.length < this.maxInFlight) this.sendPending(false);
  }

  private onClose(ws: WsSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    const wasOpen = this.open;
    this.ws = null;
    this.open = false;
    this.settleFlushes(true);
    if (this.stopped) return;
    this.enforceBound();
    // The reason comes from the server and goes to the app's stderr: printable text only.
    const said = reason ? `: ${terminalSafeShort(reason)}` : '';
    if (code === CLOSE.unauthorized || code === CLOSE.unsupportedProtocol) {
      this.giveUp(`dashboard refused this agent (${code}${said}); streaming stopped`);
      return;
    }
    if (code === CLOSE.malformed || code === CLOSE.tooBig) {
      // The dashboard would refuse the same frames again: drop what it had not acked.
      this.warnOnce(`rejected:${code}`, `dashboard rejected a batch (${code}${said}); unacknowledged messages dropped`);
      for (const f of this.unacked) {
        this.addDropped(f.lost);
        if (f.hasHello) this.helloLost = true;
      }
      this.unacked = [];
      this.unackedMessages = 0;
    } else if (wasOpen) {
      this.warnOnce('lost', `connection to dashboard ${this.shownUrl} lost (${code}${said}); reconnecting in the background`);
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== null) return;
    const ceiling = Math.min(this.maxDelayMs, 100 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private giveUp(message: string): void {
    this.warnOnce('gave-up', message);
    this.stop();
  }

  private stop(): void {
    this.stopped = true;
    this.pending = [];
    this.unacked = [];
    this.unackedMessages = 0;
    if (this.batchTimer !== null) clearTimeout(this.batchTimer);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.batchTimer = null;
    this.reconnectTimer = null;
    this.settleFlushes(true);
  }

  private settleFlushes(all: boolean): void {
    if (this.flushWaiters.length === 0) return;
    const keep: typeof this.flushWaiters = [];
    for (const w of this.flushWaiters) {
      if (all || w.target <= this.ackedSeq) w.resolve();
      else keep.push(w);
    }
    this.flushWaiters = keep;
  }

  flush(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (!this.open) {
      // A flush is usually the last word of an exiting process: rather than wait out the backoff,
      // try the dashboard now (the caller bounds the wait; a refused connection ends it at once).
      if (this.reconnectTimer !== null && this.pending.length + this.unackedMessages > 0) {
        clearTimeout(this.reconnectTimer);
        this.reconnectTimer = null;
        this.connect();
      }
      const connecting = this.ws !== null || this.wsModule === null;
      if (!connecting) return Promise.resolve();
      return new Promise((resolve) => this.flushWaiters.push({ target: Infinity, resolve }));
    }
    try {
      this.sendPending(true);
    } catch (err) {
      this.warnOnce('internal', `dashboard stream: ${(err as Error).message}`);
      return Promise.resolve();
    }
    const target = this.nextSeq - 1;
    if (target <= this.ackedSeq) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push({ target, resolve }));
  }

  close(): void {
    const ws = this.ws;
    this.stop();
    this.ws = null;
    this.open = false;
    try {
      ws?.close(1001, 'agent exiting');
    } catch {
      // closing is best effort
    }
  }
}

export function createDashboardSink(init: WorkerInit, warn: WarnFn): Sink {
  return new DashboardTransport({
    url: init.config.dashboard ?? '',
    token: init.config.token,
    run: init.run,
    queueMax: init.config.queueMax,
    warn,
  });
}
