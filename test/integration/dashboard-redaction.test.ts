// A token given to the agent, on its own (LOOPSCOPE_TOKEN) or inside LOOPSCOPE_DASHBOARD's URL
// (?token=, user:password@), must never be written to the recording, sent in the hello's config
// or printed on the app's stderr: not when streaming works, not in any warning when it fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { RunSummary } from '../../shared/dashboard-api.js';
import { FIXTURES, readRecording, runNode, tempDir, type RunResult } from '../helpers/run-node.js';
import { getJson, startDashboardProcess, waitFor, type DashboardProcess } from './dashboard-helpers.js';

const APP = join(FIXTURES, 'dashboard-app.cjs');
const SECRET = 'Sekr1t-Tok3n-value';
const PASSWORD = 'Pa55-w0rd-value';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

interface Outcome {
  result: RunResult;
  /** The recording's path and its whole text. */
  path: string;
  recording: string;
}

/**
 * Runs the app until `until` holds (given the app's stderr so far), then lets it end: on a busy
 * machine the agent may take seconds to connect or to warn, and a fixed run time would miss it.
 */
async function runApp(dashboard: string, extraEnv: Record<string, string>, until: (stderr: string) => boolean | Promise<boolean>): Promise<Outcome> {
  const dir = tempDir('ls-redact-');
  const record = join(dir, 'run.ndjson');
  const stopFile = join(dir, 'stop');
  const app = runNode(APP, {
    args: ['120000', '0', stopFile],
    timeoutMs: 150_000,
    env: { LOOPSCOPE_DASHBOARD: dashboard, LOOPSCOPE_RECORD: record, LOOPSCOPE_APP: 'redact-app', LOOPSCOPE_INTERVAL_MS: '200', ...extraEnv },
  });
  let stderr = '';
  app.child.stderr!.on('data', (d: Buffer | string) => (stderr += String(d)));
  try {
    await waitFor(() => until(stderr), 60_000, 'the awaited event of the app');
  } finally {
    writeFileSync(stopFile, '');
  }
  const result = await app;
  return { result, path: record, recording: readFileSync(record, 'utf8') };
}

function expectNoSecret(o: Outcome, secrets: string[]): void {
  for (const s of secrets) {
    for (const form of [s, encodeURIComponent(s)]) {
      expect(o.recording).not.toContain(form);
      expect(o.result.stderr).not.toContain(form);
      expect(o.result.stdout).not.toContain(form);
    }
  }
}

describe('the dashboard token never leaves the agent', () => {
  let dash: DashboardProcess;

  beforeAll(async () => {
    dash = await startDashboardProcess({ token: SECRET });
  });

  afterAll(async () => {
    await dash?.stop();
  });

  it('streams with ?token= in the URL, and neither the hello, the recording nor stderr shows it', async () => {
    const headers = { authorization: `Bearer ${SECRET}` };
    const onDashboard = async (): Promise<RunSummary | undefined> => {
      const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${dash.port}/api/runs`, headers);
      return body.runs.find((r) => r.app === 'redact-query');
    };
    // It reaches the dashboard with that token (so the agent sends no Origin)...
    const o = await runApp(`ws://127.0.0.1:${dash.port}/?token=${SECRET}`, { LOOPSCOPE_APP: 'redact-query' }, async () => (await onDashboard()) !== undefined);
    expect(o.result.code).toBe(0);
    expectNoSecret(o, [SECRET]);
    const hello = readRecording(o.path).find((m) => m.type === 'hello');
    expect(hello && hello.type === 'hello' && hello.config.dashboard).toBe(`ws://127.0.0.1:${dash.port}/?token=***`);
    // ...and the dashboard's copy of the hello is as clean.
    const run = (await onDashboard())!;
    const state = await fetch(`http://127.0.0.1:${dash.port}/api/runs/${encodeURIComponent(run.run)}`, { headers });
    expect(await state.text()).not.toContain(SECRET);
  }, 120_000);

  it('hides user:password@ and LOOPSCOPE_TOKEN, also in the warning of a dashboard that went away', async () => {
    const second = await startDashboardProcess({ token: SECRET });
    let stopped = false;
    // Once the run is on the second dashboard, that dashboard goes away; the agent warns that the
    // connection was lost, naming the address.
    const o = await runApp(`ws://agent:${PASSWORD}@127.0.0.1:${second.port}`, { LOOPSCOPE_TOKEN: SECRET, LOOPSCOPE_APP: 'redact-userinfo' }, async (stderr) => {
      if (!stopped) {
        const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${second.port}/api/runs`, { authorization: `Bearer ${SECRET}` });
        if (!body.runs.some((r) => r.app === 'redact-userinfo')) return false;
        await second.stop();
        stopped = true;
      }
      return /connection to dashboard .* lost/.test(stderr);
    }).finally(() => second.stop());
    expect(o.result.stderr).toMatch(/connection to dashboard ws:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/ingest lost/);
    expectNoSecret(o, [SECRET, PASSWORD]);
  }, 120_000);
});

describe('warnings of an unusable dashboard address', () => {
  it('an unreachable dashboard is named without its token', async () => {
    const port = await freePort();
    const o = await runApp(`ws://127.0.0.1:${port}/?token=${SECRET}&app=x`, { LOOPSCOPE_TOKEN: `${SECRET}-2` }, (stderr) => /unreachable/.test(stderr));
    expect(o.result.stderr).toMatch(/dashboard ws:\/\/127\.0\.0\.1:\d+\/ingest\?token=\*\*\*&app=x unreachable/);
    expectNoSecret(o, [SECRET, `${SECRET}-2`]);
  }, 120_000);

  it('an address that does not parse is quoted without its token or password', async () => {
    const o = await runApp(`ws://agent:${PASSWORD}@[not-an-address/?token=${SECRET}`, {}, (stderr) => /invalid dashboard address/.test(stderr));
    expect(o.result.stderr).toMatch(/invalid dashboard address/);
    expectNoSecret(o, [SECRET, PASSWORD]);
  }, 120_000);
});
