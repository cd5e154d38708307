// A frame the dashboard stored but whose ack never reached the agent (the dashboard shut down, or
// the network cut, between the two): if the agent's queue overflows before it can resend it, the
// agent cannot know whether those messages are lost. The drop count the dashboard ends up with
// must still match exactly what it is missing. A real dashboard process, behind a TCP relay that
// swallows the dashboard's replies and then cuts the connection.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { DashboardTransport } from '../../agent/worker/transport.js';
import type { Message } from '../../shared/protocol.js';
import { readRecording, tempDir } from '../helpers/run-node.js';
import { getJson, hello, loop, startDashboardProcess, waitFor, type DashboardProcess } from './dashboard-helpers.js';

const started: DashboardProcess[] = [];
const transports: DashboardTransport[] = [];
const relays: Relay[] = [];

afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  for (const r of relays.splice(0)) await r.down();
  await Promise.all(started.splice(0).map((d) => d.stop('SIGKILL')));
});

/** Forwards a port to the dashboard; can swallow what the dashboard sends, cut, refuse, resume. */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  swallowReplies = false;
  port = 0;

  constructor(private readonly target: number) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(this.target, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (!this.swallowReplies) client.write(d);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', () => r()));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Cuts every connection and refuses new ones until up() again. */
  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

async function storedCount(port: number, run: string): Promise<number> {
  try {
    const { body } = await getJson<{ messages: number }>(`http://127.0.0.1:${port}/api/runs/${run}`);
    return body.messages;
  } catch {
    return 0;
  }
}

describe('a frame stored by the dashboard whose ack was lost', () => {
  it('is not counted as dropped when the queue overflows before it is resent', async () => {
    const data = tempDir('ls-lost-ack-');
    const dash = await startDashboardProcess({ data });
    started.push(dash);
    const relay = new Relay(dash.port);
    relays.push(relay);
    await relay.up();
    const run = 'lost-ack-run';
    const warnings: string[] = [];
    const t = new DashboardTransport({ url: `ws://127.0.0.1:${relay.port}`, token: null, run, queueMax: 10, warn: (m) => warnings.push(m), maxDelayMs: 300 });
    transports.push(t);
    let ts = Date.now();
    const written: Message[] = [hello(run, 'lost-ack-app')];
    const write = (n: number) => {
      for (let i = 0; i < n; i++) {
        const m = loop(run, ++ts);
        written.push(m);
        t.write([m]);
      }
    };
    t.write([written[0]!]);
    write(5);
    await waitFor(async () => {
      await t.flush();
      return t.queued === 0;
    }, 10_000, 'first messages acked');

    // Stored by the dashboard, acks swallowed: the agent still holds these frames as unacked.
    relay.swallowReplies = true;
    write(8);
    await waitFor(async () => (await storedCount(dash.port, run)) === 14, 10_000, 'the dashboard stored the 8 unacked messages');
    expect(t.queued).toBe(8);

    // The connection is cut before any ack: while it is down, 20 more overflow a queue of 10.
    await relay.down();
    relay.swallowReplies = false;
    await waitFor(() => warnings.some((w) => /lost/.test(w)), 10_000, 'the agent saw the connection go');
    write(20);
    expect(t.queued).toBeLessThanOrEqual(10);
    await relay.up();
    await waitFor(async () => {
      await t.flush();
      return t.queued === 0;
    }, 15_000, 'queue drained after the reconnect');

    const stored = readRecording(join(data, `${run}.ndjson`));
    const storedKeys = new Set(stored.map((m) => `${m.type}@${m.ts}`));
    const missing = written.filter((m) => !storedKeys.has(`${m.type}@${m.ts}`));
    const notices = stored.filter((m): m is Extract<Message, { type: 'notice' }> => m.type === 'notice');
    // the 8 arrived; of the 20 written while away the oldest 10 went
    expect(missing.map((m) => m.ts)).toEqual(written.slice(-20, -10).map((m) => m.ts));
    expect(notices.reduce((sum, n) => sum + (n.count ?? 0), 0)).toBe(missing.length);
    expect(stored.filter((m) => m.type === 'hello')).toHaveLength(1);
  });
});
