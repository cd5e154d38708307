// A real app with the agent preloaded streams into a real dashboard process; the agent's own
// recording (LOOPSCOPE_RECORD) is the reference for what the dashboard must have stored.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSummary, LiveEvent } from '../../shared/dashboard-api.js';
import type { Message } from '../../shared/protocol.js';
import type { RunState } from '../../shared/run-state.js';
import { FIXTURES, readRecording, runNode, tempDir } from '../helpers/run-node.js';
import { connect, getJson, liveMessages, startDashboardProcess, waitFor, type DashboardProcess } from './dashboard-helpers.js';

const APP = join(FIXTURES, 'dashboard-app.cjs');
const started: DashboardProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function dashboard(opts: Parameters<typeof startDashboardProcess>[0]): Promise<DashboardProcess> {
  const d = await startDashboardProcess(opts);
  started.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((d) => d.stop('SIGKILL')));
});

function agentEnv(port: number, record: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LOOPSCOPE_DASHBOARD: `ws://127.0.0.1:${port}`,
    LOOPSCOPE_RECORD: record,
    LOOPSCOPE_APP: 'e2e-app',
    LOOPSCOPE_INTERVAL_MS: '100',
    ...extra,
  };
}

async function connectedRun(port: number): Promise<RunSummary | undefined> {
  try {
    const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${port}/api/runs`);
    return body.runs.find((r) => r.connected);
  } catch {
    return undefined;
  }
}

const key = (m: Message) => `${m.type}@${m.ts}`;

function runOf(recording: Message[]): string {
  const run = recording[0]?.run;
  if (!run) throw new Error('empty recording');
  return run;
}

describe('agent -> dashboard, end to end', () => {
  it('shows a live app with its hello and loop points, on REST and /live, then its exit', async () => {
    const dash = await dashboard({ data: tempDir('ls-e2e-live-') });
    const live = await connect(`ws://127.0.0.1:${dash.port}/live`);
    const record = join(tempDir('ls-e2e-rec-'), 'rec.ndjson');
    const app = runNode(APP, { args: ['4000', '0'], env: agentEnv(dash.port, record) });
    const summary = await waitFor(async () => {
      const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${dash.port}/api/runs`);
      return body.runs.find((r) => r.app === 'e2e-app' && r.connected);
    }, 10_000, 'connected run');
    expect(summary).toMatchObject({ source: 'live', pid: app.child.pid, nodeVersion: process.version });
    const state = await waitFor(async () => {
      const { body } = await getJson<RunState>(`http://127.0.0.1:${dash.port}/api/runs/${summary.run}`);
      return body.loop.length >= 3 ? body : null;
    }, 10_000, 'loop points');
    expect(state.hello?.app).toBe('e2e-app');
    const result = await app;
    expect(result.code).toBe(0);
    const done = await waitFor(async () => {
      const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${dash.port}/api/runs`);
      const r = body.runs.find((x) => x.run === summary.run);
      return r && !r.connected ? r : null;
    }, 10_000, 'disconnected');
    expect(done).toMatchObject({ phase: 'exited', outcome: 'clean', exitCode: 0 });
    expect(done.blockCount).toBeGreaterThanOrEqual(1);
    // /live saw the run connect and exit, and every message the agent recorded.
    const events = live.received as LiveEvent[];
    expect(events[0]?.kind).toBe('runs');
    const runEvents = events.filter((e): e is Extract<LiveEvent, { kind: 'run' }> => e.kind === 'run' && e.run.run === summary.run);
    expect(runEvents.some((e) => e.run.connected)).toBe(true);
    expect(runEvents.at(-1)?.run).toMatchObject({ connected: false, phase: 'exited' });
    const recording = readRecording(record);
    const seen = new Set(liveMessages(events).map(key));
    expect(recording.filter((m) => !seen.has(key(m)))).toEqual([]);
    live.ws.close();
  });

  it('loses nothing when the dashboard is stopped and restarted while the agent streams', async () => {
    const data = tempDir('ls-e2e-restart-');
    let dash = await dashboard({ data });
    const port = dash.port;
    const record = join(tempDir('ls-e2e-rec-'), 'rec.ndjson');
    const stopFile = join(tempDir('ls-e2e-stop-'), 'stop');
    const app = runNode(APP, { args: ['30000', '0', stopFile], env: agentEnv(port, record), timeoutMs: 40_000 });
    await waitFor(() => connectedRun(port), 10_000, 'run');
    await sleep(500);
    await dash.stop('SIGTERM');
    await sleep(1200);
    dash = await dashboard({ data, port });
    await waitFor(() => connectedRun(port), 15_000, 'agent back on the restarted dashboard');
    await sleep(300);
    writeFileSync(stopFile, '');
    const result = await app;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/connection to dashboard .* lost/);
    const recording = readRecording(record);
    const run = runOf(recording);
    const stored = readRecording(join(data, `${run}.ndjson`));
    expect(stored.map(key).sort()).toEqual(recording.map(key).sort());
    const { body } = await getJson<RunState>(`http://127.0.0.1:${port}/api/runs/${run}`);
    expect(body.messages).toBe(recording.length);
    expect(body.shutdowns.at(-1)?.end?.outcome).toBe('clean');
  });

  it('with a tiny queue, the notice counts exactly what the dashboard is missing', async () => {
    const data = tempDir('ls-e2e-drop-');
    let dash = await dashboard({ data });
    const port = dash.port;
    const record = join(tempDir('ls-e2e-rec-'), 'rec.ndjson');
    const stopFile = join(tempDir('ls-e2e-stop-'), 'stop');
    const env = agentEnv(port, record, { LOOPSCOPE_QUEUE_MAX: '10', LOOPSCOPE_INTERVAL_MS: '50' });
    const app = runNode(APP, { args: ['30000', '0', stopFile], env, timeoutMs: 40_000 });
    await waitFor(() => connectedRun(port), 10_000, 'run');
    await sleep(300);
    await dash.stop('SIGTERM');
    await sleep(1500);
    dash = await dashboard({ data, port });
    await waitFor(() => connectedRun(port), 15_000, 'agent back on the restarted dashboard');
    await sleep(300);
    writeFileSync(stopFile, '');
    expect((await app).code).toBe(0);
    const recording = readRecording(record);
    const stored = readRecording(join(data, `${runOf(recording)}.ndjson`));
    const storedKeys = new Set(stored.map(key));
    const missing = recording.filter((m) => !storedKeys.has(key(m)));
    // ~3 messages per 50 ms for 1.5 s against a queue of 10: plenty were dropped.
    expect(missing.length).toBeGreaterThan(20);
    const notices = stored.filter((m): m is Extract<Message, { type: 'notice' }> => m.type === 'notice');
    const counted = notices.reduce((sum, n) => sum + (n.count ?? 0), 0);
    expect(notices.some((n) => n.code === 'dropped')).toBe(true);
    expect(counted).toBe(missing.length);
  });

  it('keeps an exited run with its last shutdown across a dashboard restart, and opens recordings', async () => {
    const data = tempDir('ls-e2e-persist-');
    let dash = await dashboard({ data });
    const port = dash.port;
    const record = join(tempDir('ls-e2e-rec-'), 'rec.ndjson');
    expect((await runNode(APP, { args: ['600', '3'], env: agentEnv(port, record) })).code).toBe(3);
    const run = runOf(readRecording(record));
    await dash.stop('SIGKILL');
    dash = await dashboard({ data, port });
    // Old data is read after the server listens.
    await waitFor(() => dash.logs.some((l) => /1 run\(s\) loaded/.test(l)), 10_000, 'data loaded');
    const { body } = await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${port}/api/runs`);
    const summary = body.runs.find((r) => r.run === run);
    expect(summary).toMatchObject({ app: 'e2e-app', connected: false, phase: 'exited', exitCode: 3, source: 'live' });
    const state = await getJson<RunState>(`http://127.0.0.1:${port}/api/runs/${run}`);
    expect(state.body.shutdowns.at(-1)?.end?.exit.code).toBe(3);

    // The same recording uploaded: a second run, from a recording, next to the live one.
    const upload = await fetch(`http://127.0.0.1:${port}/api/recordings`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: readFileSync(record, 'utf8') + 'not json\n' });
    const uploaded = (await upload.json()) as { runs: string[]; skipped: number };
    expect(uploaded).toMatchObject({ runs: [`${run}~rec`], skipped: 1 });
    const rec = (await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${port}/api/runs`)).body.runs.find((r) => r.run === `${run}~rec`);
    expect(rec).toMatchObject({ source: 'recording', app: 'e2e-app', phase: 'exited', exitCode: 3 });

    // --open at start on a dashboard without that data.
    const opened = await dashboard({ open: [record] });
    await waitFor(() => opened.logs.some((l) => /opened .*: 1 run/.test(l)), 10_000, '--open read');
    const runs = (await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${opened.port}/api/runs`)).body.runs;
    expect(runs).toEqual([expect.objectContaining({ run, source: 'recording', exitCode: 3 })]);
    expect((await fetch(`http://127.0.0.1:${opened.port}/api/runs/nope`)).status).toBe(404);
  });

  it('never holds an app up: an unreachable dashboard costs one warning and no exit delay', async () => {
    const script = join(FIXTURES, 'dashboard-app.cjs');
    // Port 1: nothing listens there, and no other test can take it over meanwhile.
    const env = { LOOPSCOPE_DASHBOARD: 'ws://127.0.0.1:1', LOOPSCOPE_APP: 'e2e-unreachable' };
    const recordOnly = { LOOPSCOPE_APP: 'e2e-unreachable', LOOPSCOPE_RECORD: join(tempDir('ls-e2e-rec-'), 'r.ndjson') };
    // Best of two each, interleaved: the machine's noise must not pass for a delay.
    const runs = [];
    for (let i = 0; i < 2; i++) {
      runs.push({ dash: await runNode(script, { args: ['1000', '0'], env }), rec: await runNode(script, { args: ['1000', '0'], env: recordOnly }) });
    }
    const withDashboard = runs[0]!.dash;
    const best = (k: 'dash' | 'rec') => Math.min(...runs.map((r) => r[k].durationMs));
    expect(withDashboard.code).toBe(0);
    expect(withDashboard.stdout).toBe('');
    expect(withDashboard.stderr.match(/loopscope: .*unreachable/g)).toHaveLength(1);
    expect(best('dash') - best('rec')).toBeLessThan(500);
  });
});
