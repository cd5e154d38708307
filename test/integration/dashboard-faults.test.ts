// Each kind of bad client is refused with its close code and a reason, logged by the dashboard,
// while a well-behaved agent on the same dashboard carries on and nothing invalid reaches /live.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { CLOSE, MAX_FRAME_BYTES, type RunSummary } from '../../shared/dashboard-api.js';
import { tempDir } from '../helpers/run-node.js';
import { connect, getJson, hello, liveMessages, loop, startDashboardProcess, waitFor, type Client, type DashboardProcess } from './dashboard-helpers.js';

describe('dashboard refuses bad clients, others carry on', () => {
  let dash: DashboardProcess;
  let good: Client;
  let live: Client;
  let seq = 0;
  const goodRun = 'good-agent-1';

  async function sendGood(ts: number): Promise<void> {
    const s = seq++;
    good.ws.send(JSON.stringify({ seq: s, messages: [loop(goodRun, ts)] }));
    await waitFor(() => good.received.some((r) => (r as { seq?: number }).seq === s), 5000, `ack ${s}`);
  }

  beforeAll(async () => {
    dash = await startDashboardProcess({ data: tempDir('ls-dash-faults-') });
    live = await connect(`ws://127.0.0.1:${dash.port}/live`);
    good = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    good.ws.send(JSON.stringify({ seq: seq++, messages: [hello(goodRun, 'good')] }));
    await waitFor(() => good.received.length === 1, 5000, 'first ack');
  });

  afterAll(async () => {
    good?.ws.close();
    live?.ws.close();
    await dash?.stop();
  });

  async function expectRefused(client: Client, code: number, reason: RegExp, logged: RegExp): Promise<void> {
    const closed = await client.closed;
    expect(closed.code).toBe(code);
    expect(closed.reason).toMatch(reason);
    await waitFor(() => dash.logs.some((l) => logged.test(l)), 5000, `log ${logged}`);
    // The good agent is unaffected: its next batch is stored, acked and reaches /live.
    const ts = Date.now() + seq;
    await sendGood(ts);
    await waitFor(() => liveMessages(live.received).some((m) => m.ts === ts), 5000, 'live message of the good agent');
  }

  it('closes a connection that sends a frame that is not JSON (4000)', async () => {
    const bad = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    bad.ws.send('{"seq": 1, "messages": [');
    await expectRefused(bad, CLOSE.malformed, /malformed frame: not JSON/, /ingest .*malformed frame: not JSON.*\(4000\)/);
  });

  it('closes a connection whose frame fails the schema, naming the field (4000), and forwards none of it', async () => {
    const bad = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    const broken = { ...loop('bad-agent-2'), utilization: 7 };
    bad.ws.send(JSON.stringify({ seq: 0, messages: [loop('bad-agent-2'), broken] }));
    await expectRefused(bad, CLOSE.malformed, /messages\.1\.utilization/, /bad-agent-2|messages\.1\.utilization/);
    expect(liveMessages(live.received).some((m) => m.run === 'bad-agent-2')).toBe(false);
    const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${dash.port}/api/runs`);
    expect(body.runs.some((r) => r.run === 'bad-agent-2')).toBe(false);
  });

  it('closes a connection that sends a frame over maxPayload (1009)', async () => {
    const bad = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    bad.ws.send('x'.repeat(MAX_FRAME_BYTES + 1024));
    await expectRefused(bad, CLOSE.tooBig, /.*/, /ingest .*Max payload size exceeded/);
  });

  it('closes a connection with a wrong token (4001) on a dashboard that has one', async () => {
    const secured = await startDashboardProcess({ token: 's3cret-token' });
    try {
      const wrong = await connect(`ws://127.0.0.1:${secured.port}/ingest`, { headers: { authorization: 'Bearer nope' } });
      const closed = await wrong.closed;
      expect(closed.code).toBe(CLOSE.unauthorized);
      expect(closed.reason).toMatch(/unauthorized: wrong token/);
      const missing = await connect(`ws://127.0.0.1:${secured.port}/ingest`);
      expect((await missing.closed).reason).toMatch(/token required/);
      // Right token by header and by query: accepted and acked.
      const right = await connect(`ws://127.0.0.1:${secured.port}/ingest`, { headers: { authorization: 'Bearer s3cret-token' } });
      right.ws.send(JSON.stringify({ seq: 0, messages: [hello('tok-run')] }));
      await waitFor(() => right.received.length === 1, 5000, 'ack with token');
      expect(right.received[0]).toEqual({ kind: 'ack', seq: 0 });
      right.ws.close();
      const byQuery = await connect(`ws://127.0.0.1:${secured.port}/ingest?token=s3cret-token`);
      byQuery.ws.send(JSON.stringify({ seq: 0, messages: [] }));
      await waitFor(() => byQuery.received.length === 1, 5000, 'ack with ?token');
      byQuery.ws.close();
      // REST: 401 without, cookie after ?token= on the page.
      expect((await fetch(`http://127.0.0.1:${secured.port}/api/runs`)).status).toBe(401);
      const page = await fetch(`http://127.0.0.1:${secured.port}/?token=s3cret-token`, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(page.status).toBe(302);
      expect(page.headers.get('location')).toBe('/');
      const cookie = page.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/HttpOnly/);
      const withCookie = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${secured.port}/api/runs`, { cookie: cookie.split(';')[0]! });
      expect(withCookie.status).toBe(200);
      expect(withCookie.body.runs.map((r) => r.run)).toContain('tok-run');
      expect(secured.logs.some((l) => /unauthorized: wrong token.*\(4001\)/.test(l))).toBe(true);
      // /live: the page's cookie (and its own Origin) let it in; nothing else does.
      const origin = `http://127.0.0.1:${secured.port}`;
      const liveNoCookie = await connect(`ws://127.0.0.1:${secured.port}/live`, { headers: { origin } });
      expect((await liveNoCookie.closed).code).toBe(CLOSE.unauthorized);
      const liveCookie = await connect(`ws://127.0.0.1:${secured.port}/live`, { headers: { origin, cookie: cookie.split(';')[0]! } });
      await waitFor(() => liveCookie.received.length > 0, 5000, 'runs over /live with the cookie');
      expect((liveCookie.received[0] as { kind: string }).kind).toBe('runs');
      liveCookie.ws.close();
    } finally {
      await secured.stop();
    }
    await sendGood(Date.now());
  });

  it('refuses /live from a foreign Origin (4003) and accepts its own', async () => {
    const foreign = await connect(`ws://127.0.0.1:${dash.port}/live`, { headers: { origin: 'http://evil.example' } });
    const closed = await foreign.closed;
    expect(closed.code).toBe(CLOSE.forbiddenOrigin);
    expect(closed.reason).toMatch(/forbidden origin/);
    expect(foreign.received).toEqual([]);
    await waitFor(() => dash.logs.some((l) => /live: Origin http:\/\/evil\.example is not this dashboard/.test(l)), 5000, 'origin log');
    const own = await connect(`ws://127.0.0.1:${dash.port}/live`, { headers: { origin: `http://127.0.0.1:${dash.port}` } });
    await waitFor(() => own.received.length > 0, 5000, 'runs event');
    expect((own.received[0] as { kind: string }).kind).toBe('runs');
    own.ws.close();
    await sendGood(Date.now());
  });

  it('answers only to loopback Host names on a loopback dashboard (DNS rebinding)', async () => {
    // fetch will not send a foreign Host header; a plain request does, as a rebound browser would.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request({ host: '127.0.0.1', port: dash.port, path: '/api/runs', headers: { host: `evil.example:${dash.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(403);
    expect((await fetch(`http://localhost:${dash.port}/api/runs`)).status).toBe(200);
  });

  it('closes an agent speaking an unknown protocol version with a clear reason (4002)', async () => {
    const future = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    // A future hello may not even match today's schema: the version is looked at first.
    future.ws.send(JSON.stringify({ seq: 0, messages: [{ type: 'hello', run: 'future-1', ts: Date.now(), protocol: 99, newField: {} }] }));
    await expectRefused(future, CLOSE.unsupportedProtocol, /unsupported protocol 99: this dashboard speaks protocol 1/, /unsupported protocol 99/);
  });

  it('kept the good agent connected and all of its batches', async () => {
    const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${dash.port}/api/runs`);
    const run = body.runs.find((r) => r.run === goodRun);
    expect(run).toMatchObject({ app: 'good', connected: true, phase: 'running', source: 'live' });
    const state = await getJson<{ loop: unknown[]; messages: number }>(`http://127.0.0.1:${dash.port}/api/runs/${goodRun}`);
    expect(state.body.messages).toBe(seq);
    expect(state.body.loop.length).toBe(seq - 1);
    expect(good.ws.readyState).toBe(good.ws.OPEN);
  });
});
