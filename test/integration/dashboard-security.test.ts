// The dashboard on a developer's laptop, attacked the way a web page in their browser can: a
// WebSocket to /ingest and "simple" cross-site POSTs. Browsers must not be able to write; agents
// (no Origin) and the dashboard's own page (same origin, non-simple content type) still can.
// Also: blank tokens, JSON errors without internals, and log lines a client cannot forge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { CLOSE, type RunSummary } from '../../shared/dashboard-api.js';
import type { Message } from '../../shared/protocol.js';
import { CLI, ROOT, tempDir } from '../helpers/run-node.js';
import { connect, getJson, hello, shutdownPair, startDashboardProcess, waitFor, type DashboardProcess } from './dashboard-helpers.js';

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with exactly these headers (fetch would add its own Sec-Fetch-* headers). */
function http(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What a WebSocket handshake to /ingest came to: opened, or the HTTP answer that refused it. */
function tryUpgrade(url: string, origin: string | undefined): Promise<{ opened: boolean; status?: number; body?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(origin !== undefined ? { origin } : {}) });
    ws.on('open', () => {
      ws.close();
      resolve({ opened: true });
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ opened: false, status: res.statusCode, body }));
    });
    ws.on('error', () => undefined);
  });
}

/** Every file of the data folder with its size and content hash: "untouched" means equal. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    try {
      const data = readFileSync(join(dir, name));
      out[name] = `${data.length}:${createHash('sha1').update(data).digest('hex')}`;
    } catch {
      // a folder
    }
  }
  return out;
}

function expectShortJsonError(answer: HttpAnswer, status: number): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  const parsed = JSON.parse(answer.body) as { error?: unknown };
  expect(typeof parsed.error).toBe('string');
  expect(Object.keys(parsed)).toEqual(['error']);
  // No stack frames, no install paths.
  expect(answer.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\/work\/|\/home\/|\/usr\/|<html|<pre>/i);
  expect(answer.body.length).toBeLessThan(400);
}

describe('browsers cannot write to the dashboard', { timeout: 90_000 }, () => {
  let dash: DashboardProcess;
  let dataDir: string;
  const APP = 'victim-app';
  const seeded = ['victim-run-1', 'victim-run-2'];

  /** The attack of the issue: 500 runs of the victim's app that started in the future. */
  function pruningUpload(): string {
    const future = Date.now() + 86_400_000;
    const lines: string[] = [];
    for (let i = 0; i < 500; i++) {
      const run = `attacker-run-${i}`;
      lines.push(JSON.stringify(hello(run, APP, { ts: future + i, startedAt: future + i } as Partial<Message>)));
      for (const m of shutdownPair(run, future + i + 1)) lines.push(JSON.stringify(m));
    }
    return lines.join('\n') + '\n';
  }

  async function runs(): Promise<string[]> {
    const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${dash.port}/api/runs`);
    return body.runs.map((r) => r.run).sort();
  }

  beforeAll(async () => {
    dataDir = tempDir('ls-dash-sec-');
    dash = await startDashboardProcess({ data: dataDir });
    // Two finished runs of the victim's app, on disk: what the attack pruned before.
    const agent = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    agent.ws.send(JSON.stringify({ seq: 0, messages: [hello(seeded[0]!, APP), ...shutdownPair(seeded[0]!)] }));
    await waitFor(() => agent.received.length === 1, 30_000, 'ack of the first seeded run');
    agent.ws.close();
    await agent.closed;
    const second = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    second.ws.send(JSON.stringify({ seq: 0, messages: [hello(seeded[1]!, APP), ...shutdownPair(seeded[1]!)] }));
    await waitFor(() => second.received.length === 1, 30_000, 'ack of the second seeded run');
    second.ws.close();
    await second.closed;
    await waitFor(() => Object.keys(snapshot(dataDir)).length >= 2, 30_000, 'seeded runs on disk');
  });

  afterAll(async () => {
    await dash?.stop();
  });

  it('refuses a WebSocket to /ingest from any browser Origin at the upgrade (403), logged once per origin', async () => {
    const url = `ws://127.0.0.1:${dash.port}/ingest`;
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${dash.port}`, 'https://evil.example']) {
      const answer = await tryUpgrade(url, origin);
      expect(answer.opened).toBe(false);
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body!).error).toMatch(/browser page .* may not write to \/ingest; only agents may/);
    }
    await waitFor(() => dash.logs.some((l) => l.includes('Origin null')), 15_000, 'log of the null origin');
    expect(dash.logs.filter((l) => /ingest: refused .*Origin https:\/\/evil\.example/.test(l))).toHaveLength(1);
    // An agent sends no Origin and still gets through.
    expect((await tryUpgrade(url, undefined)).opened).toBe(true);
  });

  it('refuses cross-site and simple POSTs with a JSON 403, changing nothing in memory or on disk', async () => {
    const before = await runs();
    expect(before).toEqual(expect.arrayContaining(seeded));
    const files = snapshot(dataDir);
    const body = pruningUpload();
    const origin = `http://127.0.0.1:${dash.port}`;
    const attempts: Record<string, string>[] = [
      // fetch(url, { mode: 'no-cors', body, headers: { 'content-type': 'text/plain' } }) from another site
      { 'content-type': 'text/plain;charset=UTF-8', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' },
      // the same from another port of 127.0.0.1: same site, but not this origin
      { 'content-type': 'application/x-ndjson', origin: 'http://127.0.0.1:9', 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' },
      // a browser without Sec-Fetch-* headers: the Origin alone decides
      { 'content-type': 'application/x-ndjson', origin: 'http://localhost:9' },
      // a Blob body sends no content type at all; a form sends one of the simple ones
      { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      { 'content-type': 'multipart/form-data; boundary=x', 'sec-fetch-site': 'cross-site' },
      // even this dashboard's origin must not use a content type that needs no preflight
      { 'content-type': 'text/plain', origin, 'sec-fetch-site': 'same-origin' },
      // and neither may a non-browser client
      { 'content-type': 'text/plain' },
      {},
    ];
    for (const headers of attempts) {
      const answer = await http(dash.port, 'POST', '/api/recordings', headers, body);
      expectShortJsonError(answer, 403);
    }
    expect(await runs()).toEqual(before);
    expect(snapshot(dataDir)).toEqual(files);
    expect(dash.logs.some((l) => /refused POST \/api\/recordings: a cross-site request/.test(l))).toBe(true);
  });

  it('accepts the upload from its own page and from non-browser clients that say so', async () => {
    const origin = `http://127.0.0.1:${dash.port}`;
    const one = (run: string): string => [hello(run, 'uploaded-app'), ...shutdownPair(run)].map((m) => JSON.stringify(m)).join('\n') + '\n';
    const page = await http(
      dash.port,
      'POST',
      '/api/recordings',
      { 'content-type': 'application/x-ndjson', origin, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' },
      one('from-the-page'),
    );
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body).runs).toEqual(['from-the-page']);
    const curl = await http(dash.port, 'POST', '/api/recordings', { 'content-type': 'text/plain', 'x-loopscope': '1' }, one('from-curl'));
    expect(curl.status).toBe(200);
    expect(await runs()).toEqual(expect.arrayContaining([...seeded, 'from-the-page', 'from-curl']));
  });

  it('answers errors with a short JSON { error } and the right status, never a stack or a path', async () => {
    expectShortJsonError(await http(dash.port, 'GET', '/api/runs/%E0%A4%A', {}), 400);
    expectShortJsonError(await http(dash.port, 'GET', '/no/such/page', { accept: 'text/html' }), 404);
    expectShortJsonError(await http(dash.port, 'GET', '/api/no-such-route', {}), 404);
    expectShortJsonError(await http(dash.port, 'GET', '/api/runs/no-such-run', {}), 404);
    // An absolute-form target the router cannot parse.
    expectShortJsonError(await http(dash.port, 'GET', 'http://[', {}), 404);
    // A malformed JSON body: refused or reported as skipped, in JSON either way.
    const malformed = await http(dash.port, 'POST', '/api/recordings', { 'content-type': 'application/json' }, '{"type":"hello",');
    expect(malformed.status).toBeLessThan(500);
    expect(malformed.headers['content-type']).toMatch(/^application\/json/);
    expect(malformed.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\/work\//);
  });

  it('prints client text in its log with control characters escaped, one line per event', async () => {
    const bad = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    // V8 quotes a short invalid text whole in its error message: ESC and newline included.
    bad.ws.send('\u001b[2J\nFORGED');
    await bad.closed;
    const line = await waitFor(() => dash.logs.find((l) => l.includes('FORGED')), 15_000, 'log of the malformed frame');
    expect(line).toMatch(/^ingest .*malformed frame/);
    expect(line).toContain('\\e[2J\\nFORGED');
    // An 8-bit CSI (0x9b) in an Origin header, which Node reads as latin1.
    await new Promise<void>((resolve) => {
      const socket = connectTcp(dash.port, '127.0.0.1', () => {
        socket.write(
          Buffer.from(
            `GET /ingest HTTP/1.1\r\nHost: 127.0.0.1:${dash.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://csi\x9b2J.example\r\n\r\n',
            'latin1',
          ),
        );
      });
      socket.on('data', () => undefined);
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    const csi = await waitFor(() => dash.logs.find((l) => l.includes('csi')), 15_000, 'log of the 8-bit CSI origin');
    expect(csi).toContain('csi\\u009b2J.example');
    for (const l of dash.logs) expect(l).not.toMatch(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/);
  });
});

describe('/live answers only its own origin', { timeout: 90_000 }, () => {
  /** The close code /live gives a browser with this Origin (and Host), or 'open'. */
  async function liveVerdict(port: number, urlHost: string, origin: string, host?: string): Promise<number | 'open'> {
    const client = await connect(`ws://${urlHost}:${port}/live`, { origin, ...(host ? { headers: { host } } : {}) });
    // An accepted browser gets the run list at once; a refused one is closed.
    const first = await Promise.race([client.closed.then((c) => c.code), waitFor(() => client.received.length > 0, 15_000, 'run list').then(() => 'open' as const)]);
    client.ws.close();
    return first;
  }

  it('matches scheme, host and port exactly, IPv4 and IPv6, and keeps rebound names out', async () => {
    const dash = await startDashboardProcess({});
    try {
      const p = dash.port;
      expect(await liveVerdict(p, '127.0.0.1', `http://127.0.0.1:${p}`)).toBe('open');
      expect(await liveVerdict(p, '127.0.0.1', `http://localhost:${p}`)).toBe(CLOSE.forbiddenOrigin);
      expect(await liveVerdict(p, '127.0.0.1', `http://127.0.0.1:${p === 65535 ? 1 : p + 1}`)).toBe(CLOSE.forbiddenOrigin);
      expect(await liveVerdict(p, '127.0.0.1', `ws://127.0.0.1:${p}`)).toBe(CLOSE.forbiddenOrigin);
      expect(await liveVerdict(p, '127.0.0.1', 'null')).toBe(CLOSE.forbiddenOrigin);
      // The browser spelled the name in capitals: still the same origin.
      expect(await liveVerdict(p, '127.0.0.1', `http://LOCALHOST:${p}`, `LocalHost:${p}`)).toBe('open');
      // DNS rebinding: evil.example now resolves to 127.0.0.1, and Origin matches Host.
      expect(await liveVerdict(p, '127.0.0.1', `http://evil.example:${p}`, `evil.example:${p}`)).toBe(CLOSE.unauthorized);
    } finally {
      await dash.stop();
    }
    const six = await startDashboardProcess({ host: '::1' });
    try {
      expect(await liveVerdict(six.port, '[::1]', `http://[::1]:${six.port}`)).toBe('open');
      expect(await liveVerdict(six.port, '[::1]', `http://[::2]:${six.port}`)).toBe(CLOSE.forbiddenOrigin);
      expect(await liveVerdict(six.port, '[::1]', `http://127.0.0.1:${six.port}`)).toBe(CLOSE.forbiddenOrigin);
    } finally {
      await six.stop();
    }
  });
});

describe('a blank --token is no token', { timeout: 90_000 }, () => {
  /** `loopscope dashboard ...` until its "agents:" line; returns what it printed and stops it. */
  async function dashboardOutput(args: string[], probe: (port: number, token: string | null) => Promise<void>): Promise<string> {
    const child = spawn(process.execPath, [CLI, 'dashboard', '--port', '0', '--data', tempDir('ls-dash-token-'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      await waitFor(() => /^agents: /m.test(out) || child.exitCode !== null, 60_000, 'dashboard output');
      const port = Number(/on http:\/\/[^/\s]+:(\d+)\//.exec(out)?.[1]);
      const token = /[?&]token=([^\s&]+)/.exec(out)?.[1] ?? null;
      if (port > 0) await probe(port, token === null ? null : decodeURIComponent(token));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    return out;
  }

  /** The output with what differs from run to run (port, token, folder) replaced. */
  function shape(out: string): string {
    return out
      .replace(/:\d+\b/g, ':PORT')
      .replace(/token=[\w-]+/g, 'token=TOKEN')
      .replace(/token: [\w-]+/g, 'token: TOKEN')
      .replace(/LOOPSCOPE_TOKEN=[\w-]+/g, 'LOOPSCOPE_TOKEN=TOKEN')
      .replace(/\(data: [^)]+\)/g, '(data: DIR)');
  }

  async function refusesBlankCredentials(port: number, token: string | null): Promise<void> {
    expect(token).not.toBeNull();
    expect(token!.length).toBeGreaterThanOrEqual(20);
    const api = `http://127.0.0.1:${port}/api/runs`;
    for (const headers of [{}, { cookie: 'loopscope_token=' }, { authorization: 'Bearer ' }, { authorization: 'Bearer    ' }]) {
      expect((await fetch(api, { headers })).status).toBe(401);
    }
    expect((await fetch(`${api}?token=`)).status).toBe(401);
    expect((await fetch(`${api}?token=%20`)).status).toBe(401);
    expect((await fetch(api, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    // An agent with an empty token is told why (4001) rather than dropped at the handshake.
    const agent = await connect(`ws://127.0.0.1:${port}/ingest?token=`);
    expect((await agent.closed).code).toBe(CLOSE.unauthorized);
  }

  it('beyond loopback, --token "" and --token "  " generate a token and print what no --token prints', async () => {
    const none = await dashboardOutput(['--host', '0.0.0.0'], refusesBlankCredentials);
    const empty = await dashboardOutput(['--host', '0.0.0.0', '--token', ''], refusesBlankCredentials);
    const blank = await dashboardOutput(['--host', '0.0.0.0', '--token', '   '], refusesBlankCredentials);
    expect(none).toMatch(/^token: /m);
    expect(shape(empty)).toBe(shape(none));
    expect(shape(blank)).toBe(shape(none));
  }, 120_000);

  it('on loopback, --token "" means no token, as without the option', async () => {
    const open = async (port: number, token: string | null): Promise<void> => {
      expect(token).toBeNull();
      expect((await fetch(`http://127.0.0.1:${port}/api/runs`)).status).toBe(200);
    };
    const none = await dashboardOutput([], open);
    const empty = await dashboardOutput(['--token', ''], open);
    expect(shape(empty)).toBe(shape(none));
  }, 120_000);
});

describe('an error thrown in a route', { timeout: 90_000 }, () => {
  it('becomes a 500 { error } without its message or stack; the dashboard logs it', async () => {
    const { default: express } = await import('express');
    const { jsonErrors } = await import('../../dist/dashboard/server/http-app.js');
    const logs: string[] = [];
    const app = express();
    app.get('/boom', () => {
      throw new Error(`ENOENT: no such file, open '${ROOT}/secret/place.json'`);
    });
    app.use(jsonErrors((l: string) => logs.push(l)));
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const answer = await http(port, 'GET', '/boom', {});
      expectShortJsonError(answer, 500);
      expect(answer.body).not.toContain('secret/place');
      expect(logs.some((l) => l.includes('GET /boom failed') && l.includes('secret/place'))).toBe(true);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
