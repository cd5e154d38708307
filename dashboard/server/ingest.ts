// /ingest: one connection per agent run. Every frame is validated with the shared schema before
// anything is stored or forwarded; a bad frame closes only its own connection, with a code and a
// reason the agent logs, so one broken or hostile agent cannot disturb the others or a browser.
// Browsers are refused before the handshake (refuseBrowser): a page on any site can open a
// WebSocket to 127.0.0.1, and only agents may write.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { CLOSE, ingestFrameSchema, type IngestReply } from '../../shared/dashboard-api.js';
import { PROTOCOL_VERSION } from '../../shared/version.js';
import type { Store } from './store.js';
import { terminalSafe, terminalSafeShort } from '../../shared/terminal-text.js';
import { logOncePer } from './log-once.js';

/** A close reason is limited to 123 bytes by the WebSocket protocol. */
export function closeReason(text: string): string {
  let out = terminalSafe(text);
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** A hello from another protocol version may not even fit today's schema: look before validating. */
function unknownProtocol(value: unknown): number | null {
  if (typeof value !== 'object' || value === null) return null;
  const messages = (value as { messages?: unknown }).messages;
  if (!Array.isArray(messages)) return null;
  for (const m of messages) {
    if (typeof m !== 'object' || m === null) continue;
    const { type, protocol } = m as { type?: unknown; protocol?: unknown };
    if (type === 'hello' && typeof protocol === 'number' && protocol !== PROTOCOL_VERSION) return protocol;
  }
  return null;
}

export class IngestEndpoint {
  private rejected = 0;
  private stopped = false;
  private readonly logBrowser: (origin: string, line: string) => void;

  constructor(
    private readonly store: Store,
    private readonly log: (line: string) => void,
  ) {
    this.logBrowser = logOncePer(log, 'ingest: browser origins');
  }

  /**
   * At the HTTP upgrade, before any WebSocket exists: a request from a browser page (it carries an
   * Origin; agents send none) gets 403 with the reason, and is logged once per origin.
   * reason: what Auth.checkIngestOrigin said.
   */
  refuseBrowser(req: IncomingMessage, socket: Duplex, reason: string): void {
    this.rejected++;
    const origin = String(req.headers.origin);
    this.logBrowser(origin, `ingest: refused ${terminalSafeShort(reason)} (403 before the handshake; logged once per origin)`);
    const body = JSON.stringify({ error: reason });
    socket.end(
      `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  /** From now on frames are left unacked: the agents keep them and resend to the next dashboard. */
  stop(): void {
    this.stopped = true;
  }

  get rejectedCount(): number {
    return this.rejected;
  }

  /** authError: the reason the request's credentials were refused, or null. */
  handle(ws: WebSocket, req: IncomingMessage, authError: string | null): void {
    const who = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    let run: string | null = null;
    let closing = false;

    const reject = (code: number, reason: string): void => {
      if (closing) return;
      closing = true;
      this.rejected++;
      this.log(`ingest ${who}${run ? ` run ${terminalSafeShort(run, 80)}` : ''}: ${terminalSafeShort(reason)}; closing (${code})`);
      ws.close(code, closeReason(reason));
    };

    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes with 1009 by itself when a frame exceeds maxPayload; say so once here.
      if (closing) return;
      closing = true;
      this.rejected++;
      this.log(
        `ingest ${who}${run ? ` run ${terminalSafeShort(run, 80)}` : ''}: ${terminalSafeShort(err.message)}${err.code ? ` (${terminalSafeShort(err.code, 40)})` : ''}; connection closed`,
      );
    });
    ws.on('close', () => {
      closing = true;
      if (run !== null) this.store.disconnect(run);
    });

    if (authError !== null) {
      reject(CLOSE.unauthorized, `unauthorized: ${authError}`);
      return;
    }

    const reply = (r: IngestReply): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(r));
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (closing || this.stopped) return;
      if (isBinary) return reject(CLOSE.malformed, 'malformed frame: binary frames are not accepted');
      let value: unknown;
      try {
        value = JSON.parse(rawText(data));
      } catch (err) {
        return reject(CLOSE.malformed, `malformed frame: not JSON (${(err as Error).message})`);
      }
      const version = unknownProtocol(value);
      if (version !== null) {
        return reject(
          CLOSE.unsupportedProtocol,
          `unsupported protocol ${version}: this dashboard speaks protocol ${PROTOCOL_VERSION}; use matching loopscope versions`,
        );
      }
      const parsed = ingestFrameSchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(frame)';
        return reject(CLOSE.malformed, `malformed frame: ${where}: ${issue?.message ?? 'invalid'}`);
      }
      const { seq, messages } = parsed.data;
      if (messages.length === 0) return reply({ kind: 'ack', seq });
      const frameRun = messages[0]!.run;
      if (messages.some((m) => m.run !== frameRun) || (run !== null && frameRun !== run)) {
        return reject(CLOSE.malformed, 'malformed frame: a connection carries the messages of one run');
      }
      if (run === null) {
        run = frameRun;
        this.store.connect(run);
      }
      this.store.accept(frameRun, seq, messages, (err) => {
        if (!err) return reply({ kind: 'ack', seq });
        // Not on disk, so not acked: the agent keeps the batch and resends it on its next connection.
        if (closing) return;
        reply({ kind: 'error', reason: `batch ${seq} not stored: ${err.code ?? err.message}` });
        reject(CLOSE.storageFailed, `storage failed (${err.code ?? err.message}); resend later`);
      });
    });
  }
}
