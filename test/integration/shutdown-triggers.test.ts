// Every way a process ends, with the agent preloaded: the recording must hold one shutdown with
// the right trigger, the right end, and the exit the parent saw.
import { describe, expect, it } from 'vitest';
import { expectSleptDuration, lineOf, runFixture, step } from './shutdown-support.js';

// Durations here are checked to a few ms (the 20 ms): one retry absorbs a scheduling
// hiccup of a shared 2-core CI machine; a real regression fails both attempts.
const TIMING = { retry: 1 };

describe('shutdown triggers', TIMING, () => {
  it('SIGTERM without an app handler: dies by the signal, end recorded before it', async () => {
    const run = await runFixture('shutdown-signal.cjs', { args: ['none'], signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(run.result.signal).toBe('SIGTERM');
    expect(run.result.code).toBeNull();
    expect(run.starts).toBe(1);
    expect(run.start?.trigger).toBe('SIGTERM');
    expect(run.start?.resources.map((r) => r.type)).toEqual(expect.arrayContaining(['TCPServerWrap', 'Timeout']));
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: null, signal: 'SIGTERM' }, exitCaller: null });
    // Nothing was closed: the process died with the server and the interval open.
    expect(run.end?.stillOpen.map((r) => r.type)).toEqual(expect.arrayContaining(['TCPServerWrap', 'Timeout']));
    expect(run.result.stderr).toBe('');
  });

  it('SIGTERM with an app handler: only observed; the resources the app closes are timed', async () => {
    const run = await runFixture('shutdown-signal.cjs', { args: ['own'], signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(run.result).toMatchObject({ code: 0, signal: null });
    expect(run.result.stdout).toBe('ready\ngot SIGTERM\nclosed\n');
    expect(run.start?.trigger).toBe('SIGTERM');
    const server = run.start?.resources.find((r) => r.type === 'TCPServerWrap');
    expect(server).toBeDefined();
    const closed = run.closed.find((c) => c.id === server?.id);
    expect(closed?.resourceType).toBe('TCPServerWrap');
    expect(closed!.closedAfterMs).toBeLessThan(run.end!.durationMs + 1);
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: 0, signal: null } });
    expect(run.end?.stillOpen.find((r) => r.id === server?.id)).toBeUndefined();
  });

  it.each(['SIGINT', 'SIGHUP'] as const)('%s without an app handler dies by it', async (signal) => {
    const run = await runFixture('shutdown-signal.cjs', { args: ['none', signal], signals: [{ signal, afterMs: 20 }] });
    expect(run.result.signal).toBe(signal);
    expect(run.start?.trigger).toBe(signal);
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: null, signal } });
  });

  it('SIGTERM with the agent loaded by --import', async () => {
    const run = await runFixture('shutdown-signal.cjs', { agent: 'import', args: ['none'], signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(run.result.signal).toBe('SIGTERM');
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: null, signal: 'SIGTERM' } });
  });

  it('process.exit inside the app handler: exit code kept, caller is the handler line', async () => {
    const run = await runFixture('shutdown-signal.cjs', { args: ['exit-in-handler'], signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(run.result).toMatchObject({ code: 4, signal: null });
    expect(run.start?.trigger).toBe('SIGTERM');
    expect(run.end).toMatchObject({ outcome: 'error', exit: { code: 4, signal: null } });
    expect(run.end?.exitCaller?.file).toMatch(/shutdown-signal\.cjs$/);
    expect(run.end?.exitCaller?.line).toBe(lineOf('shutdown-signal.cjs', 'process.exit(4)'));
  });

  it('a second SIGTERM after the app handled the first with once(): recorded, then death by the signal', async () => {
    const run = await runFixture('shutdown-signal.cjs', {
      args: ['once-keep'],
      signals: [
        { signal: 'SIGTERM', afterMs: 20 },
        { signal: 'SIGTERM', afterMs: 400 }, // apart enough not to be read in one turn (see transparency.test.ts)
      ],
    });
    expect(run.result).toMatchObject({ code: null, signal: 'SIGTERM', stdout: 'ready\ngot SIGTERM once\n' });
    expect(run.starts).toBe(1);
    expect(run.start?.trigger).toBe('SIGTERM');
    expect(run.signals.map((s) => s.signal)).toEqual(['SIGTERM']);
    expect(run.signals[0]!.afterMs).toBeGreaterThan(100);
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: null, signal: 'SIGTERM' } });
    expect(run.end!.durationMs).toBeGreaterThanOrEqual(run.signals[0]!.afterMs);
  });

  it('process.exit(3): trigger exit, caller at the fixture line, open resources listed', async () => {
    const run = await runFixture('shutdown-exit.cjs');
    expect(run.result).toMatchObject({ code: 3, signal: null });
    expect(run.start?.trigger).toBe('exit');
    expect(run.end).toMatchObject({ outcome: 'error', exit: { code: 3, signal: null } });
    expect(run.end?.exitCaller).toMatchObject({ line: lineOf('shutdown-exit.cjs', 'process.exit(3);') });
    expect(run.end?.exitCaller?.file).toMatch(/shutdown-exit\.cjs$/);
    expect(run.end?.stillOpen.map((r) => r.type)).toContain('TCPServerWrap');
  });

  it("process.exit(3) and an app 'exit' listener that sets exitCode 9: the final code is recorded", async () => {
    const run = await runFixture('shutdown-exit.cjs', { args: ['listener'] });
    expect(run.result).toMatchObject({ code: 9, signal: null });
    expect(run.ends).toBe(1);
    expect(run.end).toMatchObject({ outcome: 'error', exit: { code: 9, signal: null } });
    expect(run.end?.exitCaller).toMatchObject({ line: lineOf('shutdown-exit.cjs', 'process.exit(3);') });
  });

  it('process.exitCode = 2 and a drained loop: trigger beforeExit, outcome error', async () => {
    const run = await runFixture('shutdown-exitcode.cjs');
    expect(run.result).toMatchObject({ code: 2, signal: null, stdout: 'drained\n' });
    expect(run.start?.trigger).toBe('beforeExit');
    expect(run.end).toMatchObject({ outcome: 'error', exit: { code: 2, signal: null }, exitCaller: null });
    // The timer fired before the loop drained; only the stdio pipes may still be listed.
    expect(run.end?.stillOpen.filter((r) => r.type !== 'PipeWrap' && r.type !== 'TTYWrap')).toEqual([]);
  });

  it.each([
    ['shutdown-crash.cjs', 'throw', 'uncaughtException', 'boom from the fixture'],
    ['shutdown-crash.cjs', 'reject', 'unhandledRejection', 'rejected in the fixture'],
    ['shutdown-crash.mjs', 'throw', 'uncaughtException', 'boom from the ESM fixture'],
    ['shutdown-crash.mjs', 'reject', 'unhandledRejection', 'rejected in the ESM fixture'],
  ] as const)('%s %s: crash recorded with the error', async (name, mode, trigger, text) => {
    const run = await runFixture(name, { args: [mode], agent: name.endsWith('.mjs') ? 'import' : 'require' });
    expect(run.result).toMatchObject({ code: 1, signal: null });
    expect(run.result.stderr).toContain(text);
    expect(run.start?.trigger).toBe(trigger);
    expect(run.end).toMatchObject({ outcome: 'crash', exit: { code: 1, signal: null } });
    expect(run.end?.error).toContain(text);
    expect(run.end?.stillOpen.map((r) => r.type)).toContain('Timeout');
  });

  it('shutdown.begin(reason) from code: trigger api, steps timed, loop drains by itself', async () => {
    const run = await runFixture('shutdown-begin.mjs', { agent: 'import' });
    expect(run.result).toMatchObject({ code: 0, signal: null });
    expect(JSON.parse(run.result.stdout)).toEqual({ outcome: 'clean', exitCode: 0, steps: ['wait', 'server'], aborted: true });
    expect(run.start).toMatchObject({ trigger: 'api', reason: 'job done' });
    const wait = step(run, 'wait', 'ok');
    expectSleptDuration(run, wait.durationMs, 'wait', 60);
    const server = step(run, 'server', 'ok');
    expect(server.startMs).toBeGreaterThanOrEqual(wait.startMs + wait.durationMs!);
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: 0, signal: null } });
  });

  it('a second signal during the cleanup API is recorded and forces exit 128+n', async () => {
    const run = await runFixture('shutdown-api.mjs', {
      args: ['second-signal'],
      signals: [
        { signal: 'SIGTERM', afterMs: 20 },
        { signal: 'SIGTERM', afterMs: 200 },
      ],
    });
    expect(run.result).toMatchObject({ code: 143, signal: null });
    expect(run.signals).toHaveLength(1);
    expect(run.signals[0]?.signal).toBe('SIGTERM');
    expect(run.signals[0]!.afterMs).toBeGreaterThan(150);
    const slow = step(run, 'slow', 'timeout');
    expect(slow.error).toMatch(/SIGTERM/);
    expect(run.end).toMatchObject({ outcome: 'timeout', exit: { code: 143, signal: null } });
    expect(run.result.stderr).toContain('SIGTERM received again during shutdown');
  });
});

describe('a signal while the main thread is blocked', TIMING, () => {
  it('SIGTERM kills the blocked process at once, as without the agent (its listeners step aside)', async () => {
    const plan = { args: ['block'], signals: [{ signal: 'SIGTERM' as const, afterMs: 1200 }] };
    const without = await runFixture('shutdown-blocked.cjs', { ...plan, agent: false });
    const withAgent = await runFixture('shutdown-blocked.cjs', plan);
    for (const run of [without, withAgent]) {
      expect(run.result).toMatchObject({ code: null, signal: 'SIGTERM', stdout: 'ready\n' });
      // The block runs from 0.6 s to 3.6 s after "ready"; the signal came at 1.2 s.
      expect(run.result.durationMs).toBeLessThan(3_000);
    }
    expect(withAgent.result.stderr).toBe(without.result.stderr);
  });

  it('the listeners come back once the loop turns: a later SIGTERM is recorded again', async () => {
    const run = await runFixture('shutdown-blocked.cjs', { args: ['after'], signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(run.result).toMatchObject({ code: null, signal: 'SIGTERM' });
    expect(run.start?.trigger).toBe('SIGTERM');
    expect(run.end).toMatchObject({ outcome: 'clean', exit: { code: null, signal: 'SIGTERM' } });
  });
});
