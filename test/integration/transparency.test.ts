// The agent must not change how a process ends. Each fixture runs without the agent and with it;
// the exit code, the death by signal, stdout and stderr must be identical, byte for byte.
import { describe, expect, it } from 'vitest';
import { runFixture, type FixtureOptions } from './shutdown-support.js';

interface Case {
  name: string;
  fixture: string;
  options?: FixtureOptions;
  /** How the agent is preloaded in the "with" run. */
  agent?: 'require' | 'import';
}

const TERM = [{ signal: 'SIGTERM' as const, afterMs: 20 }];

const CASES: Case[] = [
  { name: 'SIGTERM, no handler', fixture: 'shutdown-signal.cjs', options: { args: ['none'], signals: TERM } },
  { name: 'SIGINT, no handler', fixture: 'shutdown-signal.cjs', options: { args: ['none', 'SIGINT'], signals: [{ signal: 'SIGINT', afterMs: 20 }] } },
  { name: 'SIGHUP, no handler', fixture: 'shutdown-signal.cjs', options: { args: ['none', 'SIGHUP'], signals: [{ signal: 'SIGHUP', afterMs: 20 }] } },
  { name: 'SIGTERM, no handler, --import', fixture: 'shutdown-signal.cjs', agent: 'import', options: { args: ['none'], signals: TERM } },
  { name: 'SIGTERM, own handler', fixture: 'shutdown-signal.cjs', options: { args: ['own'], signals: TERM } },
  { name: 'SIGTERM, handler added later', fixture: 'shutdown-signal.cjs', options: { args: ['later'], signals: TERM } },
  {
    name: 'SIGTERM twice, app handles the first with once()',
    fixture: 'shutdown-signal.cjs',
    // The first signal is the app's; the second finds no app listener left and must kill it.
    // 400 ms apart: two signals that reach a process descheduled on a busy machine are read in
    // one loop turn, and Node drops the second with the handle the once() removal closes, with or
    // without the agent (listeners-coalesced.cjs in signal-listeners.test.ts).
    options: { args: ['once-keep'], signals: [{ signal: 'SIGTERM', afterMs: 20 }, { signal: 'SIGTERM', afterMs: 400 }] },
  },
  { name: 'SIGTERM, app handler prepended with prependOnceListener', fixture: 'shutdown-signal.cjs', options: { args: ['prepend-once'], signals: TERM } },
  { name: "SIGTERM after the app called removeAllListeners('SIGTERM')", fixture: 'shutdown-signal.cjs', options: { args: ['remove-all'], signals: TERM } },
  { name: 'SIGTERM, handler added then removed', fixture: 'shutdown-signal.cjs', options: { args: ['removed'], signals: TERM } },
  { name: 'process.exit(4) inside the handler', fixture: 'shutdown-signal.cjs', options: { args: ['exit-in-handler'], signals: TERM } },
  { name: 'process.exit(3)', fixture: 'shutdown-exit.cjs' },
  { name: 'SIGTERM sent to itself as the last line (caught in the last loop turn)', fixture: 'shutdown-selfkill.cjs' },
  { name: 'SIGTERM sent to itself as the last line, --import', fixture: 'shutdown-selfkill.cjs', agent: 'import' },
  { name: "process.exit(3), app 'exit' listener sets exitCode 9", fixture: 'shutdown-exit.cjs', options: { args: ['listener'] } },
  { name: 'process.exitCode = 2, drained', fixture: 'shutdown-exitcode.cjs' },
  { name: 'uncaught exception (CJS)', fixture: 'shutdown-crash.cjs', options: { args: ['throw'] } },
  { name: 'unhandled rejection (CJS)', fixture: 'shutdown-crash.cjs', options: { args: ['reject'] } },
  { name: 'uncaught exception (ESM)', fixture: 'shutdown-crash.mjs', agent: 'import', options: { args: ['throw'] } },
  { name: 'unhandled rejection (ESM)', fixture: 'shutdown-crash.mjs', agent: 'import', options: { args: ['reject'] } },
  {
    name: 'unhandled rejection, --unhandled-rejections=strict',
    fixture: 'shutdown-crash.cjs',
    options: { args: ['reject'], env: { NODE_OPTIONS: '--unhandled-rejections=strict' } },
  },
  {
    name: 'unhandled rejection, --unhandled-rejections=warn-with-error-code',
    fixture: 'shutdown-crash.cjs',
    options: { args: ['reject-only'], env: { NODE_OPTIONS: '--unhandled-rejections=warn-with-error-code' } },
  },
  {
    name: 'unhandled rejection, --unhandled-rejections=warn',
    fixture: 'shutdown-crash.cjs',
    options: { args: ['reject-only'], env: { NODE_OPTIONS: '--unhandled-rejections=warn' } },
  },
  { name: 'cleanup API, clean', fixture: 'shutdown-api.mjs', agent: 'import', options: { args: ['ok'], signals: TERM } },
  { name: 'cleanup API, failing step', fixture: 'shutdown-api.mjs', agent: 'import', options: { args: ['step-fail'], signals: TERM } },
];

describe('transparency: the same ending with and without the agent', () => {
  it.each(CASES)('$name', async ({ fixture, options = {}, agent = 'require' }) => {
    const without = await runFixture(fixture, { ...options, agent: false });
    const withAgent = await runFixture(fixture, { ...options, agent });
    // Only the pid in Node's own warnings, "(node:1234)", differs between any two runs.
    const stderr = (text: string) => text.replace(/\(node:\d+\)/g, '(node:PID)');
    const ending = (r: typeof without) => ({ code: r.result.code, signal: r.result.signal, stdout: r.result.stdout, stderr: stderr(r.result.stderr) });
    expect(ending(withAgent)).toEqual(ending(without));
    // And the agent did record the ending it left untouched.
    expect(withAgent.starts).toBe(1);
    expect(withAgent.end?.exit).toEqual({ code: without.result.code, signal: without.result.signal });
  });
});
