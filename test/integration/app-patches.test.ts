// The agent keeps working, and stays out of sight, when the app replaces the functions it would
// otherwise call: fake timers that never fire and frozen clocks (its samples and its hang report
// still come, on time), a process.on that logs (the app prints exactly what it prints alone).
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, readRecording, runNode, tempDir } from '../helpers/run-node.js';
import type { Message, MessageOf } from '../../shared/protocol.js';

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

function soFar(path: string): Message[] {
  return existsSync(path) ? readRecording(path) : [];
}

describe('an app with fake timers', () => {
  it('still gets its interval samples, on real time, and its hang report', async () => {
    const record = join(tempDir('loopscope-fake-'), 'rec.ndjson');
    let ready = false;
    const run = runNode(join(FIXTURES, 'fake-timers.cjs'), {
      env: { LOOPSCOPE_RECORD: record, LOOPSCOPE_INTERVAL_MS: '100', LOOPSCOPE_HANG_MS: '300' },
      timeoutMs: 30_000,
      onStdout: (chunk) => {
        if (chunk.includes('ready')) ready = true;
      },
    });
    // Samples every 100 ms while the app runs under its fakes.
    const loops = await waitFor(() => {
      const l = soFar(record).filter((m): m is MessageOf<'loop'> => m.type === 'loop');
      return ready && l.length >= 4 ? l : undefined;
    }, 15_000);
    expect(loops, 'four loop samples').toBeDefined();
    // Timestamps follow the real clock, not the app's frozen one.
    const ts = loops!.map((m) => m.ts);
    for (let i = 1; i < ts.length; i++) expect(ts[i]!).toBeGreaterThan(ts[i - 1]!);
    expect(ts[ts.length - 1]! - ts[0]!).toBeGreaterThanOrEqual(200);
    expect(soFar(record).some((m) => m.type === 'resources')).toBe(true);

    run.child.kill('SIGTERM');
    const hang = await waitFor(() => soFar(record).find((m): m is MessageOf<'shutdown.hang'> => m.type === 'shutdown.hang'), 15_000);
    const stillRunning = run.child.exitCode === null && run.child.signalCode === null;
    run.child.kill('SIGKILL');
    const result = await run;
    expect(hang, 'a hang report').toBeDefined();
    expect(stillRunning).toBe(true);
    expect(hang!.afterMs).toBeGreaterThanOrEqual(300);
    expect(hang!.keptAlive.some((r) => r.type === 'TCPSocketWrap')).toBe(true);
    expect(result.stdout).toBe('ready\nclosing\n');
    // Nothing of the agent's failed into the app (a fake performance object has no eventLoopUtilization).
    expect(result.stderr).toBe('');
  });
});

describe('an app that logs every process.on and timer call', () => {
  for (const how of ['drain', 'exit'] as const) {
    it(`prints exactly what it prints without the agent (${how})`, async () => {
      const record = join(tempDir('loopscope-patched-'), 'rec.ndjson');
      const script = join(FIXTURES, 'patched-listeners.cjs');
      const alone = await runNode(script, { agent: false, args: [how] });
      const withAgent = await runNode(script, { args: [how], env: { LOOPSCOPE_RECORD: record, LOOPSCOPE_INTERVAL_MS: '50' } });
      expect(withAgent.stdout).toBe(alone.stdout);
      expect(withAgent.stderr).toBe(alone.stderr);
      expect(withAgent.code).toBe(alone.code);
      expect(readRecording(record).some((m) => m.type === 'shutdown.end')).toBe(true);
    });
  }

  it('prints exactly what it prints without the agent when it handles SIGTERM', async () => {
    const record = join(tempDir('loopscope-patched-'), 'rec.ndjson');
    const script = join(FIXTURES, 'patched-listeners.cjs');
    const once = (agent: boolean) =>
      runNode(script, {
        agent: agent ? 'require' : false,
        args: ['signal'],
        env: agent ? { LOOPSCOPE_RECORD: record } : {},
        onStdout: (chunk, child) => {
          if (chunk.includes('ready')) child.kill('SIGTERM');
        },
      });
    const alone = await once(false);
    const withAgent = await once(true);
    expect(withAgent.stdout).toBe(alone.stdout);
    expect(withAgent.stderr).toBe(alone.stderr);
    expect([withAgent.code, withAgent.signal]).toEqual([alone.code, alone.signal]);
  });
});
