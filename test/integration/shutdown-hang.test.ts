// An app that closes its server on SIGTERM but forgets an interval and a keep-alive socket never
// exits. The hang report must arrive while it still hangs and name both, at the fixture's lines.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readRecording, runNode, tempDir } from '../helpers/run-node.js';
import type { Message, MessageOf } from '../../shared/protocol.js';
import { fixture, lineOf } from './shutdown-support.js';

const NAME = 'shutdown-hang.cjs';

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

function messagesSoFar(path: string): Message[] {
  return existsSync(path) ? readRecording(path) : [];
}

async function hangingRun(env: Record<string, string>) {
  const record = join(tempDir('loopscope-hang-'), 'rec.ndjson');
  let signalledAt = 0;
  const run = runNode(fixture(NAME), {
    env: { LOOPSCOPE_RECORD: record, LOOPSCOPE_HANG_MS: '500', ...env },
    timeoutMs: 15_000,
    onStdout: (chunk, child) => {
      if (chunk.includes('ready') && !signalledAt) {
        signalledAt = performance.now();
        child.kill('SIGTERM');
      }
    },
  });
  const hang = await waitFor(() => messagesSoFar(record).find((m): m is MessageOf<'shutdown.hang'> => m.type === 'shutdown.hang'), 8_000);
  const seenAt = performance.now();
  // Still hanging when the report was read: no exit yet.
  const stillRunning = run.child.exitCode === null && run.child.signalCode === null;
  run.child.kill('SIGKILL');
  const result = await run;
  return { hang, stillRunning, result, record, sinceSignal: seenAt - signalledAt };
}

describe('hang watch', () => {
  it('names the forgotten interval and socket with their lines while the process still hangs', async () => {
    const { hang, stillRunning, result, record, sinceSignal } = await hangingRun({});
    expect(hang, 'a shutdown.hang message while the process runs').toBeDefined();
    expect(stillRunning).toBe(true);
    expect(hang!.afterMs).toBeGreaterThanOrEqual(500);
    expect(sinceSignal).toBeLessThan(3_000);
    const timer = hang!.keptAlive.find((r) => r.type === 'Timeout');
    expect(timer?.createdAt?.file).toMatch(/shutdown-hang\.cjs$/);
    expect(timer?.createdAt?.line).toBe(lineOf(NAME, 'forgotten interval'));
    const socket = hang!.keptAlive.find((r) => r.type === 'TCPSocketWrap' && r.createdAt !== null);
    expect(socket?.createdAt?.file).toMatch(/shutdown-hang\.cjs$/);
    expect(socket?.createdAt?.line).toBe(lineOf(NAME, 'forgotten socket'));
    // The server the app did close is not among them.
    expect(hang!.keptAlive.some((r) => r.type === 'TCPServerWrap')).toBe(false);
    expect(result.signal).toBe('SIGKILL');
    // Killed: no end record, readers infer "killed" from the start without an end.
    const all = readRecording(record);
    expect(all.filter((m) => m.type === 'shutdown.start')).toHaveLength(1);
    expect(all.filter((m) => m.type === 'shutdown.end')).toHaveLength(0);
    // Off by default: nothing on the app's stderr.
    expect(result.stderr).toBe('');
  });

  it('prints a readable report on stderr with LOOPSCOPE_HANG_STDERR=1', async () => {
    const { hang, result } = await hangingRun({ LOOPSCOPE_HANG_STDERR: '1' });
    expect(hang).toBeDefined();
    expect(result.stderr).toMatch(/^loopscope: shutdown \(SIGTERM\) still running after 0\.\d s; \d+ resources keep the process alive:\n/);
    expect(result.stderr).toContain(`shutdown-hang.cjs:${lineOf(NAME, 'forgotten interval')}:`);
    expect(result.stderr).toContain(`shutdown-hang.cjs:${lineOf(NAME, 'forgotten socket')}:`);
  });
});
