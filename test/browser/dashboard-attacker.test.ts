/// <reference lib="dom" />
// The attack of issue #8, as a real page in Debian's chromium: a site on another origin, open in
// the user's browser, tries to write to the dashboard on 127.0.0.1 with a WebSocket to /ingest
// (a valid hello) and with no-cors POSTs of 500 runs that would prune the user's own. The
// dashboard must refuse all of it, store and prune nothing, and say so in its log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startDashboard, type RunningDashboard } from '../../dist/dashboard/server/main.js';
import type { RunSummary } from '../../shared/dashboard-api.js';
import type { Message } from '../../shared/protocol.js';
import { tempDir } from '../helpers/run-node.js';
import { connect, hello, shutdownPair, waitFor } from '../integration/dashboard-helpers.js';
import { assertBuilt, launchBrowser } from './browser.js';

const VICTIM_APP = 'victim-app';
const VICTIM_RUNS = ['victim-run-a', 'victim-run-b'];

let dashboard: RunningDashboard;
let dataDir: string;
let attacker: Server;
let attackerPort: number;
let browser: Browser;
const logs: string[] = [];

interface AttackResult {
  ws: { opened: boolean; messages: string[]; code?: number; timedOut?: boolean };
  noCorsText: string;
  noCorsBlob: string;
  cors: string;
}

/** The attacker's page: everything it tries, reported in window.__attack. */
function attackPage(dashPort: number, origin: string): string {
  const future = Date.now() + 86_400_000;
  const lines: string[] = [];
  for (let i = 0; i < 500; i++) {
    const run = `attack-${origin.replace(/\W/g, '-')}-${i}`;
    lines.push(JSON.stringify(hello(run, VICTIM_APP, { ts: future + i, startedAt: future + i } as Partial<Message>)));
    for (const m of shutdownPair(run, future + i + 1)) lines.push(JSON.stringify(m));
  }
  const constants = {
    ws: `ws://127.0.0.1:${dashPort}/ingest`,
    post: `http://127.0.0.1:${dashPort}/api/recordings`,
    frame: JSON.stringify({ seq: 0, messages: [hello(`attack-ws-${origin.replace(/\W/g, '-')}`, VICTIM_APP)] }),
    ndjson: lines.join('\n') + '\n',
  };
  const script = `
const C = ${JSON.stringify(constants)};
window.__attack = (async () => {
  const out = {};
  out.ws = await new Promise((resolve) => {
    const r = { opened: false, messages: [] };
    const ws = new WebSocket(C.ws);
    ws.onopen = () => { r.opened = true; ws.send(C.frame); };
    ws.onmessage = (e) => r.messages.push(String(e.data));
    ws.onclose = (e) => { r.code = e.code; resolve(r); };
    setTimeout(() => resolve({ ...r, timedOut: true }), 10000);
  });
  const attempt = async (init) => {
    try { const res = await fetch(C.post, init); return res.type + ':' + res.status; } catch (e) { return 'error:' + e.name; }
  };
  out.noCorsText = await attempt({ method: 'POST', mode: 'no-cors', body: C.ndjson, headers: { 'content-type': 'text/plain' } });
  out.noCorsBlob = await attempt({ method: 'POST', mode: 'no-cors', body: new Blob([C.ndjson]) });
  // The content type the dashboard wants needs a CORS preflight, which it never approves.
  out.cors = await attempt({ method: 'POST', body: C.ndjson, headers: { 'content-type': 'application/x-ndjson' } });
  return out;
})();`;
  return `<!doctype html><html><head><title>cute cats</title></head><body><p>nothing to see</p><script>${script}</script></body></html>`;
}

async function runIds(): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${dashboard.port}/api/runs`);
  return ((await res.json()) as { runs: RunSummary[] }).runs.map((r) => r.run).sort();
}

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

beforeAll(async () => {
  assertBuilt();
  dataDir = tempDir('loopscope-attacked-');
  dashboard = await startDashboard({ port: 0, host: '127.0.0.1', data: dataDir, log: (l) => logs.push(l) });
  for (const run of VICTIM_RUNS) {
    const agent = await connect(`ws://127.0.0.1:${dashboard.port}/ingest`);
    agent.ws.send(JSON.stringify({ seq: 0, messages: [hello(run, VICTIM_APP), ...shutdownPair(run)] }));
    await waitFor(() => agent.received.length === 1, 30_000, `ack of ${run}`);
    agent.ws.close();
    await agent.closed;
  }
  await waitFor(() => Object.keys(snapshot(dataDir)).length >= VICTIM_RUNS.length, 30_000, 'victim runs on disk');
  attacker = createServer((req, res) => {
    const origin = `http://${req.headers.host ?? ''}`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(attackPage(dashboard.port, origin));
  });
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', () => r()));
  attackerPort = (attacker.address() as { port: number }).port;
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (attacker ? attacker.close(() => r()) : r()));
  await dashboard?.close();
});

describe('a page on another origin attacks the dashboard', { timeout: 90_000 }, () => {
  // localhost:OTHER is another site; 127.0.0.1:OTHER is the same site (ports do not count) but
  // another origin: both must be refused.
  for (const host of ['localhost', '127.0.0.1']) {
    it(`from http://${host}:OTHER: no WebSocket, no write, no prune`, async () => {
      const before = await runIds();
      expect(before).toEqual(expect.arrayContaining(VICTIM_RUNS));
      const files = snapshot(dataDir);
      const origin = `http://${host}:${attackerPort}`;
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${origin}/`);
        const result = (await page.evaluate(() => (window as unknown as { __attack: Promise<unknown> }).__attack)) as AttackResult;
        // The handshake was refused: the socket never opened and nothing was acked.
        expect(result.ws.opened).toBe(false);
        expect(result.ws.timedOut).toBeUndefined();
        expect(result.ws.code).toBe(1006);
        expect(result.ws.messages).toEqual([]);
        // The browser did send the simple POSTs (opaque answers); the preflighted one never left.
        expect(result.noCorsText).toBe('opaque:0');
        expect(result.noCorsBlob).toBe('opaque:0');
        expect(result.cors).toBe('error:TypeError');
      } finally {
        await context.close();
      }
      // The dashboard saw and refused each attempt itself (not the browser on its behalf).
      expect(logs.some((l) => l.startsWith('ingest: refused') && l.includes(`Origin ${origin})`))).toBe(true);
      const site = host === 'localhost' ? 'cross-site' : 'same-site';
      expect(logs.some((l) => l.startsWith('refused POST /api/recordings') && l.includes(`a ${site} request`))).toBe(true);
      expect(logs.some((l) => /recording uploaded/.test(l))).toBe(false);
      expect(await runIds()).toEqual(before);
      expect(snapshot(dataDir)).toEqual(files);
    });
  }
});
