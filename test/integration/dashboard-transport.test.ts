// The agent's transport (agent/worker/transport.ts) used directly, without a worker, against a
// real dashboard process: restarts lose nothing the queue held, overflow is counted and said,
// refusals stop it with one warning.
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { DashboardTransport } from '../../agent/worker/transport.js';
import type { Message } from '../../shared/protocol.js';
import { readRecording, tempDir } from '../helpers/run-node.js';
import { getJson, hello, loop, startDashboardProcess, waitFor, type DashboardProcess } from './dashboard-helpers.js';

// Durations here are checked to a few ms (the 20 ms): one retry absorbs a scheduling
// hiccup of a shared 2-core CI machine; a real regression fails both attempts.
const TIMING = { retry: 1 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started: DashboardProcess[] = [];
const transports: DashboardTransport[] = [];

async function dashboard(opts: Parameters<typeof startDashboardProcess>[0]): Promise<DashboardProcess> {
  const d = await startDashboardProcess(opts);
  started.push(d);
  return d;
}

function transport(port: number, run: string, queueMax: number, warnings: string[], token: string | null = null): DashboardTransport {
  const t = new DashboardTransport({ url: `ws://127.0.0.1:${port}`, token, run, queueMax, warn: (m) => warnings.push(m), maxDelayMs: 400 });
  transports.push(t);
  return t;
}

afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  await Promise.all(started.splice(0).map((d) => d.stop('SIGKILL')));
});

/** Writes a loop message every `everyMs` until stopped; returns what was written. */
function streamer(t: DashboardTransport, run: string, everyMs: number): { written: Message[]; stop(): void } {
  const written: Message[] = [];
  let ts = Date.now();
  const timer = setInterval(() => {
    const m = loop(run, ++ts);
    written.push(m);
    t.write([m]);
  }, everyMs);
  return { written, stop: () => clearInterval(timer) };
}

function stored(data: string, run: string): Message[] {
  return readRecording(join(data, `${run}.ndjson`));
}

describe('dashboard transport', TIMING, () => {
  it('loses nothing across a dashboard killed and restarted mid-stream, and stores nothing twice', async () => {
    const data = tempDir('ls-transport-restart-');
    let dash = await dashboard({ data });
    const port = dash.port;
    const warnings: string[] = [];
    const run = 'restart-run-1';
    const t = transport(port, run, 10_000, warnings);
    const h = hello(run, 'restart-app');
    t.write([h]);
    const s = streamer(t, run, 10);
    await sleep(400);
    await dash.stop('SIGKILL');
    await sleep(700);
    dash = await dashboard({ data, port });
    await sleep(800);
    s.stop();
    await waitFor(async () => {
      await t.flush();
      return t.queued === 0;
    }, 10_000, 'queue drained');
    const got = stored(data, run);
    const expected = [h, ...s.written];
    expect(got.map((m) => `${m.type}@${m.ts}`)).toEqual(expected.map((m) => `${m.type}@${m.ts}`));
    expect(t.droppedCount).toBe(0);
    // One warning for the lost connection, none per retry.
    expect(warnings.filter((w) => /lost|unreachable/.test(w)).length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(2);
    const state = await getJson<{ messages: number; hello: { app: string } }>(`http://127.0.0.1:${port}/api/runs/${run}`);
    expect(state.body.messages).toBe(expected.length);
    expect(state.body.hello.app).toBe('restart-app');
  });

  it('drops the oldest past queueMax while the dashboard is away and says how many in a notice', async () => {
    const data = tempDir('ls-transport-drop-');
    let dash = await dashboard({ data });
    const port = dash.port;
    const warnings: string[] = [];
    const run = 'drop-run-1';
    const t = transport(port, run, 10, warnings);
    const h = hello(run, 'drop-app');
    t.write([h]);
    const first = Array.from({ length: 5 }, (_, i) => loop(run, Date.now() + i));
    t.write(first);
    await waitFor(async () => {
      await t.flush();
      return t.queued === 0;
    }, 5000, 'first batch acked');
    await dash.stop('SIGTERM');
    const away = Array.from({ length: 37 }, (_, i) => loop(run, Date.now() + 100 + i));
    for (const m of away) t.write([m]);
    expect(t.queued).toBeLessThanOrEqual(10);
    dash = await dashboard({ data, port });
    await waitFor(async () => {
      await t.flush();
      return t.queued === 0;
    }, 10_000, 'queue drained');
    const got = stored(data, run);
    const notices = got.filter((m) => m.type === 'notice');
    expect(notices).toHaveLength(1);
    const appMessages = got.filter((m) => m.type !== 'notice');
    const written = [h, ...first, ...away];
    const missing = written.length - appMessages.length;
    expect(missing).toBe(27);
    expect(notices[0]).toMatchObject({ code: 'dropped', count: missing, level: 'warn' });
    expect(t.droppedCount).toBe(missing);
    // The newest are the ones kept, in order.
    expect(appMessages.slice(-10).map((m) => m.ts)).toEqual(away.slice(-10).map((m) => m.ts));
  });

  it('keeps the hello when it has to drop, so the run still has its app', async () => {
    const dash = await dashboard({ data: tempDir('ls-transport-hello-') });
    const port = dash.port;
    await dash.stop('SIGTERM');
    const warnings: string[] = [];
    const run = 'hello-kept-1';
    const t = transport(port, run, 10, warnings);
    t.write([hello(run, 'kept-app')]);
    for (let i = 0; i < 30; i++) t.write([loop(run, Date.now() + i)]);
    const again = await dashboard({ port });
    await waitFor(async () => {
      await t.flush();
      return t.queued === 0;
    }, 10_000, 'drained');
    const state = await getJson<{ hello: { app: string } | null; notices: { count: number }[] }>(`http://127.0.0.1:${again.port}/api/runs/${run}`);
    expect(state.body.hello?.app).toBe('kept-app');
    expect(state.body.notices[0]?.count).toBe(20);
    expect(warnings.filter((w) => /unreachable/.test(w))).toHaveLength(1);
  });

  it('stops for good, warning once, on an unknown protocol version', async () => {
    const dash = await dashboard({});
    const warnings: string[] = [];
    const run = 'future-run';
    const t = transport(dash.port, run, 100, warnings);
    t.write([{ ...hello(run), protocol: 2 } as Message]);
    await waitFor(() => warnings.length > 0, 5000, 'warning');
    await sleep(1500);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/refused this agent \(4002: unsupported protocol 2/);
    expect(dash.logs.filter((l) => /unsupported protocol 2/.test(l))).toHaveLength(1);
    t.write([loop(run)]);
    expect(t.queued).toBe(0);
    await t.flush();
  });

  it('stops for good, warning once, on a wrong token', async () => {
    const dash = await dashboard({ token: 'right' });
    const warnings: string[] = [];
    const t = transport(dash.port, 'tok-run', 100, warnings, 'wrong');
    t.write([hello('tok-run')]);
    await waitFor(() => warnings.length > 0, 5000, 'warning');
    await sleep(1000);
    expect(warnings).toEqual([expect.stringMatching(/refused this agent \(4001: unauthorized: wrong token\)/)]);
    expect(dash.logs.filter((l) => /wrong token/.test(l))).toHaveLength(1);
  });

  it('warns once while the dashboard stays unreachable and flush does not wait for it', async () => {
    const dash = await dashboard({});
    const port = dash.port;
    await dash.stop('SIGKILL');
    const warnings: string[] = [];
    const t = transport(port, 'nobody-home', 100, warnings);
    t.write([hello('nobody-home')]);
    await sleep(2000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/unreachable \(ECONNREFUSED\); retrying in the background/);
    const t0 = performance.now();
    await t.flush();
    expect(performance.now() - t0).toBeLessThan(100);
  });
});
