// Blocking detection end to end: real node processes with the agent preloaded, blocking in JS, in
// native code, forever, or not at all; the recording says what happened.
import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { runNode, readRecording, tempDir, FIXTURES } from '../helpers/run-node.js';
import type { BlockEvent, Frame, Message } from '../../shared/protocol.js';
import { firstUserFrame } from '../../shared/stack.js';

const THRESHOLD_MS = 100;

function blocks(messages: Message[]): BlockEvent[] {
  return messages.filter((m): m is BlockEvent => m.type === 'block');
}

/** The app's innermost frame: the live stack may have a Node internal on top (a getter, a builtin). */
function top(stack: Frame[]): Frame | null {
  return firstUserFrame(stack);
}

function recordPath(): string {
  return join(tempDir(), 'rec.ndjson');
}

/** Figures observed, printed once so a run shows how the agent did on this machine. */
const observed: string[] = [];
afterAll(() => {
  if (observed.length) console.log(`[blocks] ${observed.join('\n[blocks] ')}`);
});

describe('a 300 ms busy loop in a setTimeout callback', () => {
  for (const agent of ['require', 'import'] as const) {
    it(`is one block with the live stack of the looping function (${agent})`, async () => {
      const record = recordPath();
      const res = await runNode(join(FIXTURES, 'block-timeout.mjs'), { agent, env: { LOOPSCOPE_RECORD: record } });
      expect(res.code).toBe(0);
      expect(res.stdout).toBe('blocked\ndone\n');
      expect(res.stderr).toBe('');
      const all = blocks(readRecording(record));
      const ids = new Set(all.map((b) => b.id));
      expect(ids.size).toBe(1);
      const final = all.filter((b) => b.ended);
      expect(final).toHaveLength(1);
      const end = final[0]!;
      expect(end.durationMs).toBeGreaterThan(300 - 20);
      expect(end.durationMs).toBeLessThan(300 + 20);
      expect(end.native).toBe(false);
      expect(end.stackKind).toBe('live');
      expect(top(end.stack)?.functionName).toBe('spinInTimeout');
      expect(top(end.stack)?.file).toMatch(/block-timeout\.mjs$/);
      // nothing of the agent's own capture is left on top of the app's frames
      const appAt = end.stack.findIndex((f) => f.file.includes('block-timeout.mjs'));
      for (const f of end.stack.slice(0, appAt)) expect(f.file).toMatch(/^node:/);
      expect(end.stack.some((f) => f.functionName.includes('onTimer'))).toBe(true);
      expect(end.resource?.type).toBe('Timeout');
      expect(end.captureMs).not.toBeNull();
      expect(end.captureMs!).toBeLessThan(20);

      const first = all.find((b) => !b.ended);
      expect(first, 'an ended:false message while it lasted').toBeDefined();
      const latency = first!.ts - end.startedAt;
      expect(latency).toBeLessThanOrEqual(THRESHOLD_MS + 50);
      expect(top(first!.stack)?.functionName).toBe('spinInTimeout');
      observed.push(`${agent}: detected ${latency.toFixed(1)} ms after start, duration ${end.durationMs.toFixed(1)} ms (true ~300), capture ${end.captureMs!.toFixed(2)} ms`);
    });
  }
});

describe('a loop that never ends', () => {
  it('leaves an ended:false block with the looping function when SIGKILLed after 2 s', async () => {
    const record = recordPath();
    const res = await runNode(join(FIXTURES, 'block-forever.cjs'), {
      env: { LOOPSCOPE_RECORD: record },
      killAfterMs: 2000,
      killSignal: 'SIGKILL',
    });
    expect(res.signal).toBe('SIGKILL');
    expect(res.stdout).toBe('spinning\n');
    const all = blocks(readRecording(record));
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((b) => !b.ended)).toBe(true);
    expect(new Set(all.map((b) => b.id)).size).toBe(1);
    const last = all[all.length - 1]!;
    expect(last.stackKind).toBe('live');
    expect(top(last.stack)?.functionName).toBe('spinForever');
    expect(top(last.stack)?.file).toMatch(/block-forever\.cjs$/);
    // progress is re-sent while it lasts: the last one saw most of the 2 s
    expect(last.durationMs).toBeGreaterThan(900);
  });
});

describe('a block inside native code', () => {
  it('is flagged native, with no stack pretending to be live', async () => {
    const record = recordPath();
    const res = await runNode(join(FIXTURES, 'block-native.mjs'), { agent: 'import', env: { LOOPSCOPE_RECORD: record } });
    expect(res.code).toBe(0);
    const took = Number(/hashed in (\d+) ms/.exec(res.stdout)?.[1]);
    // the fixture sizes the call from a short probe; it must be clearly over the threshold
    expect(took).toBeGreaterThan(THRESHOLD_MS + 60);
    const all = blocks(readRecording(record));
    expect(new Set(all.map((b) => b.id)).size).toBe(1);
    for (const b of all) {
      expect(b.native).toBe(true);
      expect(b.stackKind).toBe('none');
      expect(b.stack).toEqual([]);
      expect(b.captureMs).toBeNull();
    }
    const end = all.find((b) => b.ended);
    expect(end).toBeDefined();
    expect(Math.abs(end!.durationMs - took)).toBeLessThan(25);
    const first = all.find((b) => !b.ended);
    expect(first).toBeDefined();
    if (end!.syncCall) expect(end!.syncCall.api).toMatch(/pbkdf2Sync/);
    observed.push(`native: detected ${(first!.ts - end!.startedAt).toFixed(1)} ms after start, measured ${end!.durationMs.toFixed(1)} ms vs ${took} ms in the app`);
  });
});

describe('an app that does not block', () => {
  it('has no block in its recording', async () => {
    const record = recordPath();
    const res = await runNode(join(FIXTURES, 'block-none.mjs'), { env: { LOOPSCOPE_RECORD: record } });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^ran \d+ callbacks\n$/);
    const messages = readRecording(record);
    expect(messages[0]?.type).toBe('hello');
    expect(blocks(messages)).toEqual([]);
  });

  it('prints exactly what it prints without the agent, even when it blocks and exits with process.exit', async () => {
    const script = join(FIXTURES, 'block-exit.cjs');
    const record = recordPath();
    const [without, withAgent, withImport] = await Promise.all([
      runNode(script, { agent: false }),
      runNode(script, { agent: 'require', env: { LOOPSCOPE_RECORD: record } }),
      runNode(script, { agent: 'import', env: { LOOPSCOPE_RECORD: join(tempDir(), 'rec.ndjson') } }),
    ]);
    expect(without.stdout).toBe('out: start\nout: finished\n');
    expect(without.stderr).toBe('err: finished\n');
    for (const res of [withAgent, withImport]) {
      expect(res.code).toBe(without.code);
      expect(res.stdout).toBe(without.stdout);
      expect(res.stderr).toBe(without.stderr);
      expect(res.stderr).not.toMatch(/debugger/i);
    }
    // and the block was seen, with its live stack, before the exit
    const all = blocks(readRecording(record));
    expect(all.some((b) => !b.ended && b.stackKind === 'live')).toBe(true);
    expect(top(all.find((b) => !b.ended)!.stack)?.functionName).toMatch(/spinThenExit/);
    const end = all.find((b) => b.ended);
    expect(end, 'the final block is written before the exit').toBeDefined();
    expect(Math.abs(end!.durationMs - 300)).toBeLessThan(20);
  });
});
