// The agent must not change what the app and its libraries see of process's signal and exit
// listeners (issue #8): signal-exit re-raises a signal only when its own listeners are all there
// is, and an agent listener next to them made such apps ignore SIGTERM. Each fixture runs
// without the agent and with it; exit code, signal, stdout and stderr must be identical, and the
// recording must still hold the shutdown.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readRecording, runNode, tempDir } from '../helpers/run-node.js';
import type { Message } from '../../shared/protocol.js';
import { fixture, runFixture, type FixtureOptions, type FixtureRun } from './shutdown-support.js';

const stderrOf = (text: string) => text.replace(/\(node:\d+\)/g, '(node:PID)');
const ending = (r: FixtureRun) => ({ code: r.result.code, signal: r.result.signal, stdout: r.result.stdout, stderr: stderrOf(r.result.stderr) });

async function compare(name: string, options: FixtureOptions, agent: 'require' | 'import' = 'require') {
  const without = await runFixture(name, { ...options, agent: false });
  const withAgent = await runFixture(name, { ...options, agent });
  expect(ending(withAgent)).toEqual(ending(without));
  return { without, withAgent };
}

describe('signal-exit onExit() with an open server', () => {
  const cases = (['v3', 'v4'] as const).flatMap((version) =>
    (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((signal) => ({ version, signal, agent: 'require' as const })),
  );
  cases.push({ version: 'v4', signal: 'SIGTERM', agent: 'import' as const }, { version: 'v3', signal: 'SIGINT', agent: 'import' as const });

  it.each(cases)('signal-exit $version, $signal, agent by $agent: cleanup runs, dies by the signal', async ({ version, signal, agent }) => {
    const { without, withAgent } = await compare('listeners-signal-exit.cjs', { args: [version], signals: [{ signal, afterMs: 20 }] }, agent);
    expect(without.result).toMatchObject({ code: null, signal, stdout: `ready\ncleanup code=null signal=${signal}\n` });
    expect(withAgent.starts).toBe(1);
    expect(withAgent.start?.trigger).toBe(signal);
    expect(withAgent.end).toMatchObject({ outcome: 'clean', exit: { code: null, signal } });
    // signal-exit's re-raise is the same signal, not a second one.
    expect(withAgent.signals).toEqual([]);
  });
});

describe('what the app sees of process listeners', () => {
  it.each([
    [10, false],
    [11, true],
  ] as const)('counts, names and events identical; %i SIGTERM listeners warn: %s', async (many, warns) => {
    const { without, withAgent } = await compare('listeners-observe.cjs', { args: [String(many)] });
    expect(without.result.code).toBe(0);
    expect(without.result.stdout).toContain('start SIGTERM:0/0/0/0 SIGINT:0/0/0/0 SIGHUP:0/0/0/0');
    expect(without.result.stdout).toContain('events seen: +removeListener +SIGTERM +SIGHUP +exit -SIGTERM -SIGHUP -exit');
    expect(without.result.stderr.includes('MaxListenersExceededWarning')).toBe(warns);
    expect(withAgent.starts).toBe(1);
    expect(withAgent.end).toMatchObject({ exit: { code: 0, signal: null } });
  });

  it('listeners run in the same order', async () => {
    const { without, withAgent } = await compare('listeners-order.cjs', { signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(without.result).toMatchObject({ code: 0, signal: null });
    expect(without.result.stdout).toBe('ready\nfirst (prepended)\nsecond (on)\nthird (once)\nfourth (on)\n');
    expect(withAgent.start?.trigger).toBe('SIGTERM');
    expect(withAgent.end).toMatchObject({ outcome: 'clean', exit: { code: 0, signal: null } });
  });

  it('a listener that throws crashes the process with the same output (no frame of the agent in the stack)', async () => {
    const { without, withAgent } = await compare('listeners-order.cjs', { args: ['throw'], signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(without.result.code).toBe(1);
    expect(without.result.stderr).toContain('a SIGTERM listener failed');
    expect(withAgent.result.stderr).not.toContain('loopscope');
    expect(withAgent.end).toMatchObject({ outcome: 'crash', exit: { code: 1, signal: null } });
    expect(withAgent.end?.error).toContain('a SIGTERM listener failed');
  });
});

describe('no frame and no listener of the agent where the app looks', () => {
  it("the stacks seen by the app's process listeners are the same", async () => {
    const { without, withAgent } = await compare('listeners-frames.cjs', { args: ['frames'], signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(without.result.code).toBe(0);
    for (const label of ['SIGTERM', 'warning', 'custom', 'beforeExit', 'exit']) expect(without.result.stdout).toContain(`${label}\n`);
    expect(withAgent.result.stdout).not.toContain('loopscope');
    expect(withAgent.start?.trigger).toBe('SIGTERM');
    expect(withAgent.end).toMatchObject({ exit: { code: 0, signal: null } });
  });

  it('removeAllListeners() takes and reports only the app\'s listeners; a SIGTERM is still followed after it', async () => {
    const { without, withAgent } = await compare('listeners-frames.cjs', { args: ['remove-all'], signals: [{ signal: 'SIGTERM', afterMs: 20 }] });
    expect(without.result.stdout).toContain('removed exit\n');
    expect(without.result.stdout).toContain('SIGTERM\n');
    expect(withAgent.start?.trigger).toBe('SIGTERM');
    expect(withAgent.end).toMatchObject({ exit: { code: 0, signal: null } });
  });

  it("the app's own process.emit('SIGTERM') does nothing when it has no listener", async () => {
    const { without, withAgent } = await compare('listeners-frames.cjs', { args: ['fake-emit'] });
    expect(without.result).toMatchObject({ code: 0, signal: null, stdout: 'emit returned false\nstill here\n' });
    // The app's emit is not a signal: the shutdown starts when the loop drains.
    expect(withAgent.start?.trigger).toBe('beforeExit');
    expect(withAgent.end).toMatchObject({ exit: { code: 0, signal: null } });
  });

  it("an exit code set by an 'exit' listener added late is the one recorded", async () => {
    const { without, withAgent } = await compare('listeners-frames.cjs', { args: ['late-exit-code'] });
    expect(without.result).toMatchObject({ code: 5, stdout: 'first exit listener\nlate exit listener\n' });
    expect(withAgent.end).toMatchObject({ exit: { code: 5, signal: null } });
  });
});

describe("an app that patches process.on and the timers", () => {
  async function hangRun(agent: boolean) {
    const record = join(tempDir('loopscope-patched-'), 'rec.ndjson');
    let signalled = false;
    const run = runNode(fixture('listeners-patched.cjs'), {
      agent: agent ? 'require' : false,
      env: agent ? { LOOPSCOPE_RECORD: record, LOOPSCOPE_HANG_MS: '300', LOOPSCOPE_FLUSH_TIMEOUT_MS: '5000' } : {},
      timeoutMs: 20_000,
      onStdout: (chunk, child) => {
        if (signalled || !chunk.includes('ready')) return;
        signalled = true;
        child.kill('SIGTERM');
      },
    });
    // The app hangs on purpose: wait for the hang report (or, without the agent, a while).
    const deadline = performance.now() + 10_000;
    let messages: Message[] = [];
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      if (!signalled) continue;
      if (!agent) {
        await new Promise((r) => setTimeout(r, 500));
        break;
      }
      messages = existsSync(record) ? readRecording(record) : [];
      if (messages.some((m) => m.type === 'shutdown.hang')) break;
    }
    run.child.kill('SIGKILL');
    return { result: await run, messages };
  }

  it('logs the same lines; the hang report still comes through fake timers', async () => {
    const without = await hangRun(false);
    const withAgent = await hangRun(true);
    expect(without.result.stdout).toBe('process.on(SIGTERM)\nready\nclosing\n');
    expect(withAgent.result.stdout).toBe(without.result.stdout);
    expect(stderrOf(withAgent.result.stderr)).toBe(stderrOf(without.result.stderr));
    expect(withAgent.messages.find((m) => m.type === 'shutdown.start')).toMatchObject({ trigger: 'SIGTERM' });
    const hang = withAgent.messages.find((m) => m.type === 'shutdown.hang');
    expect(hang, 'a shutdown.hang message').toBeDefined();
  });
});

describe('the agent stopped from code', () => {
  it('leaves process as it found it (a pass-through under a later wrapper); signal-exit still dies by the signal', async () => {
    const record = join(tempDir('loopscope-stop-'), 'rec.ndjson');
    const plan = { agent: false as const, signals: [{ signal: 'SIGTERM' as const, afterMs: 20 }] };
    const without = await runFixture('listeners-stop.mjs', { ...plan, env: { START: '0' } });
    const withAgent = await runFixture('listeners-stop.mjs', { ...plan, env: { START: '1', LOOPSCOPE_RECORD: record } });
    expect(without.result).toMatchObject({ code: null, signal: 'SIGTERM' });
    expect(without.result.stdout).toContain('after: emit=true kill=true listeners=false');
    expect(without.result.stdout).toContain('cleanup code=null signal=SIGTERM');
    expect(ending(withAgent)).toEqual(ending(without));
    // Recorded while it ran, nothing after stop().
    const messages = readRecording(record);
    expect(messages.some((m) => m.type === 'hello')).toBe(true);
    expect(messages.some((m) => m.type === 'shutdown.start')).toBe(false);
  });
});

describe('the agent started from code after signal-exit', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s: cleanup runs, dies by the signal, the end is recorded', async (signal) => {
    const record = join(tempDir('loopscope-late-'), 'rec.ndjson');
    const plan = { agent: false as const, signals: [{ signal, afterMs: 20 }] };
    const without = await runFixture('listeners-late-start.mjs', { ...plan, env: { START: '0' } });
    const withAgent = await runFixture('listeners-late-start.mjs', { ...plan, env: { START: '1', LOOPSCOPE_RECORD: record, LOOPSCOPE_FLUSH_TIMEOUT_MS: '5000' } });
    expect(without.result).toMatchObject({ code: null, signal, stdout: `ready\ncleanup code=null signal=${signal}\n` });
    expect(ending(withAgent)).toEqual(ending(without));
    const messages = readRecording(record);
    expect(messages.find((m) => m.type === 'shutdown.start')).toMatchObject({ trigger: signal });
    expect(messages.find((m) => m.type === 'shutdown.end')).toMatchObject({ exit: { code: null, signal } });
  });
});

describe('two signals read in one loop turn', () => {
  it('with a once() listener Node drops the second: the process lives on, with the agent too', async () => {
    const { without, withAgent } = await compare('listeners-coalesced.cjs', {});
    expect(without.result).toMatchObject({ code: 0, signal: null, stdout: 'got SIGTERM once\nstill alive\n' });
    expect(withAgent.start?.trigger).toBe('SIGTERM');
    expect(withAgent.end).toMatchObject({ exit: { code: 0, signal: null } });
  });
});
