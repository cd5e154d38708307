// The cleanup API in real processes: order, per-step timeouts, failures, the overall deadline and
// exit codes, with the agent (steps on the timeline, resources closing after the step that closes
// them) and without it (same behaviour, nothing recorded).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readRecording, tempDir } from '../helpers/run-node.js';
import { expectSleptDuration, runFixture, splitShutdown, step, type FixtureRun } from './shutdown-support.js';

// Durations here are checked to a few ms (the 20 ms): one retry absorbs a scheduling
// hiccup of a shared 2-core CI machine; a real regression fails both attempts.
const TIMING = { retry: 1 };

const TERM = [{ signal: 'SIGTERM' as const, afterMs: 20 }];

function closedAfterStep(run: FixtureRun, resourceType: string, stepName: string): void {
  // The fixture has one server; its interval is told from http's own timer by its creation site.
  const resource = run.start?.resources.find(
    (r) => r.type === resourceType && (resourceType === 'TCPServerWrap' || r.createdAt?.file.includes('shutdown-api')),
  );
  expect(resource, `${resourceType} of the fixture in the start snapshot`).toBeDefined();
  const closed = run.closed.find((c) => c.id === resource!.id);
  expect(closed, `${resourceType} closed`).toBeDefined();
  const s = step(run, stepName, 'ok');
  expect(closed!.closedAfterMs).toBeGreaterThanOrEqual(s.startMs);
  // Seen within a few ms of the step ending (a poll runs right after each step).
  expect(closed!.closedAfterMs).toBeLessThanOrEqual(s.startMs + s.durationMs! + 15);
}

describe('cleanup API with the agent', TIMING, () => {
  it('runs the steps in reverse order, times them, and records each resource closing after its step', async () => {
    const run = await runFixture('shutdown-api.mjs', { agent: 'import', args: ['ok'], signals: TERM });
    expect(run.result).toMatchObject({ code: 0, signal: null, stdout: 'ready\n', stderr: '' });
    expect(run.start?.trigger).toBe('SIGTERM');
    const done = run.steps.filter((s) => s.outcome !== 'running').map((s) => s.name);
    expect(done).toEqual(['flush queue', 'ticker', 'http server']);
    for (const name of done) expect(run.steps.filter((s) => s.name === name).map((s) => s.outcome)).toEqual(['running', 'ok']);
    const flush = step(run, 'flush queue', 'ok');
    expectSleptDuration(run, flush.durationMs, 'flush queue', 100);
    const ticker = step(run, 'ticker', 'ok');
    expect(ticker.startMs).toBeGreaterThanOrEqual(flush.startMs + flush.durationMs!);
    closedAfterStep(run, 'Timeout', 'ticker');
    closedAfterStep(run, 'TCPServerWrap', 'http server');
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: 0, signal: null } });
    expect(run.end!.durationMs).toBeGreaterThanOrEqual(flush.durationMs!);
  });

  it('registration order when asked', async () => {
    const run = await runFixture('shutdown-api.mjs', { agent: 'import', args: ['registration'], signals: TERM });
    expect(run.result.code).toBe(0);
    expect(run.steps.filter((s) => s.outcome === 'ok').map((s) => s.name)).toEqual(['http server', 'ticker', 'flush queue']);
  });

  it('a step past its own timeout: reported, the rest still run, outcome timeout, exit 1', async () => {
    const run = await runFixture('shutdown-api.mjs', { agent: 'import', args: ['step-timeout'], signals: TERM });
    expect(run.result).toMatchObject({ code: 1, signal: null });
    expect(run.result.stderr).toContain('step "stuck" timed out');
    const stuck = step(run, 'stuck', 'timeout');
    // The API's own 200 ms timer: never early, late only by what a loaded machine adds.
    expect(stuck.durationMs!).toBeGreaterThanOrEqual(199);
    expect(stuck.durationMs!).toBeLessThanOrEqual(260);
    expect(stuck.error).toMatch(/200 ms/);
    expect(run.steps.filter((s) => s.outcome === 'ok').map((s) => s.name)).toEqual(['flush queue', 'ticker', 'http server']);
    closedAfterStep(run, 'TCPServerWrap', 'http server');
    expect(run.end).toMatchObject({ outcome: 'timeout', exit: { code: 1, signal: null } });
  });

  it('a failing step: error message recorded, the rest still run, outcome error, exit 1', async () => {
    const run = await runFixture('shutdown-api.mjs', { agent: 'import', args: ['step-fail'], signals: TERM });
    expect(run.result).toMatchObject({ code: 1, signal: null });
    const broken = step(run, 'broken', 'failed');
    expect(broken.error).toBe('pool refused to close');
    expectSleptDuration(run, broken.durationMs, 'broken', 30);
    expect(run.steps.filter((s) => s.outcome === 'ok').map((s) => s.name)).toEqual(['flush queue', 'ticker', 'http server']);
    expect(run.end).toMatchObject({ outcome: 'error', exit: { code: 1, signal: null } });
  });

  it('the overall deadline forces exit 1 and reports the pending step and what was still open', async () => {
    const run = await runFixture('shutdown-api.mjs', { agent: 'import', args: ['deadline'], signals: TERM });
    expect(run.result).toMatchObject({ code: 1, signal: null });
    const forever = step(run, 'forever', 'timeout');
    expect(forever.error).toMatch(/deadline of 400 ms/);
    // The API's own 400 ms deadline: never early, late only by what a loaded machine adds.
    expect(forever.startMs + forever.durationMs!).toBeGreaterThanOrEqual(399);
    expect(forever.startMs + forever.durationMs!).toBeLessThanOrEqual(460);
    expect(run.end).toMatchObject({ outcome: 'timeout', exit: { code: 1, signal: null } });
    expect(run.end?.stillOpen.map((r) => r.type)).toEqual(expect.arrayContaining(['TCPServerWrap', 'Timeout']));
    expect(run.result.stderr).toMatch(/deadline of 400 ms passed while step "forever" was running; still open: .*TCPServerWrap/);
  });

  it('shutdown.signal aborts pending work so the loop drains without process.exit (exit: false)', async () => {
    const run = await runFixture('shutdown-api.mjs', { agent: 'import', args: ['abort'], signals: TERM });
    expect(run.result).toMatchObject({ code: 0, signal: null, stdout: 'ready\ntask stopped: AbortError\n' });
    expect(run.start?.trigger).toBe('SIGTERM');
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: 0, signal: null }, exitCaller: null });
  });

  it('from CommonJS with -r: the same steps on the timeline', async () => {
    const run = await runFixture('shutdown-api.cjs', { agent: 'require', signals: TERM });
    expect(run.result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(run.steps.filter((s) => s.outcome === 'ok').map((s) => s.name)).toEqual(['flush queue', 'ticker', 'http server']);
    expect(run.end?.outcome).toBe('clean');
  });
});

describe('cleanup API with the agent started from code', TIMING, () => {
  it('start() after onSignals: the steps still reach the timeline', async () => {
    const record = join(tempDir('loopscope-start-'), 'rec.ndjson');
    const run = await runFixture('shutdown-start.mjs', { agent: false, env: { LOOPSCOPE_RECORD: record }, signals: TERM });
    expect(run.result).toMatchObject({ code: 0, signal: null, stderr: '' });
    const rec = { result: run.result, slept: run.slept, ...splitShutdown(readRecording(record)) };
    expect(rec.start?.trigger).toBe('SIGTERM');
    expect(rec.steps.filter((s) => s.outcome === 'ok').map((s) => s.name)).toEqual(['pause', 'server']);
    expectSleptDuration(rec, step(rec, 'pause', 'ok').durationMs, 'pause', 50);
    expect(rec.end).toMatchObject({ outcome: 'clean', exit: { code: 0, signal: null } });
  });
});

describe('an app signal listener that runs before the agent', () => {
  it('once() registered before start(): the app shuts down by itself, exactly as without the agent', async () => {
    const record = join(tempDir('loopscope-once-'), 'rec.ndjson');
    const without = await runFixture('shutdown-once-start.mjs', { agent: false, env: { LOOPSCOPE_RECORD: record, START: '0' }, signals: TERM });
    expect(without.result).toMatchObject({ code: 0, signal: null, stdout: 'ready\ngot SIGTERM\nclosed\n' });
    const withAgent = await runFixture('shutdown-once-start.mjs', { agent: false, env: { LOOPSCOPE_RECORD: record, START: '1' }, signals: TERM });
    expect(withAgent.result).toMatchObject({ code: 0, signal: null, stdout: without.result.stdout, stderr: without.result.stderr });
    const rec = splitShutdown(readRecording(record));
    expect(rec.start?.trigger).toBe('SIGTERM');
    expect(rec.end).toMatchObject({ outcome: 'clean', exit: { code: 0, signal: null } });
  });
});

describe('cleanup API without the agent', TIMING, () => {
  it.each([
    ['ok', 0, ''],
    ['step-fail', 1, 'step "broken" failed: pool refused to close'],
    ['step-timeout', 1, 'step "stuck" timed out'],
    ['deadline', 1, 'deadline of 400 ms passed'],
  ])('%s: exit code %i', async (mode, code, stderr) => {
    const run = await runFixture('shutdown-api.mjs', { agent: false, args: [mode], signals: TERM });
    expect(run.result).toMatchObject({ code, signal: null, stdout: 'ready\n' });
    if (stderr) expect(run.result.stderr).toContain(stderr);
    else expect(run.result.stderr).toBe('');
    expect(run.messages).toEqual([]);
  });

  it('a second signal forces exit 143 at once', async () => {
    const run = await runFixture('shutdown-api.mjs', {
      agent: false,
      args: ['second-signal'],
      signals: [
        { signal: 'SIGTERM', afterMs: 20 },
        { signal: 'SIGTERM', afterMs: 100 },
      ],
    });
    expect(run.result).toMatchObject({ code: 143, signal: null });
    // The slow step sleeps 3 s: the exit came long before.
    expect(run.result.durationMs).toBeLessThan(2500);
  });

  it('begin() from code', async () => {
    const run = await runFixture('shutdown-begin.mjs', { agent: false });
    expect(run.result.code).toBe(0);
    expect(JSON.parse(run.result.stdout)).toMatchObject({ outcome: 'clean', steps: ['wait', 'server'], aborted: true });
  });
});
