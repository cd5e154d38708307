// Numbers past Node's timer limit (2^31-1 ms) used to reach timers: a TimeoutOverflowWarning on the
// app's stderr, periods of 1 ms, and an app that never exited. Now each bad value gets the one
// warning line and its default, like any other bad value, and the app ends as it does alone.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FIXTURES, readRecording, runNode, tempDir } from '../helpers/run-node.js';

const FIXTURE = join(FIXTURES, 'option-limits.mjs');
const LIMIT = 2 ** 31 - 1;

describe('durations past the timer limit', () => {
  it('from the environment: one warning per bad value, the defaults, and the same ending as without the agent', async () => {
    const alone = await runNode(FIXTURE, { agent: false });
    const record = join(tempDir('loopscope-limits-'), 'rec.ndjson');
    const env = {
      LOOPSCOPE_RECORD: record,
      LOOPSCOPE_BLOCK_MS: '4294967296',
      LOOPSCOPE_INTERVAL_MS: '4294967296',
      LOOPSCOPE_HANG_MS: '2147483648',
      LOOPSCOPE_HEARTBEAT_MS: '99999999999',
      LOOPSCOPE_FLUSH_TIMEOUT_MS: '1e99',
    };
    const withAgent = await runNode(FIXTURE, { agent: 'import', env, timeoutMs: 20_000 });
    expect(withAgent.signal).toBeNull();
    expect(withAgent.code).toBe(alone.code);
    expect(withAgent.stdout).toBe(alone.stdout);
    expect(withAgent.stderr.split('\n').filter(Boolean).sort()).toEqual(
      [
        `loopscope: LOOPSCOPE_BLOCK_MS="4294967296" ignored (expected at most ${LIMIT}); using 100`,
        `loopscope: LOOPSCOPE_INTERVAL_MS="4294967296" ignored (expected at most ${LIMIT}); using 1000`,
        `loopscope: LOOPSCOPE_HANG_MS="2147483648" ignored (expected at most ${LIMIT}); using 5000`,
        `loopscope: LOOPSCOPE_HEARTBEAT_MS="99999999999" ignored (expected at most ${LIMIT}); using 20`,
        'loopscope: LOOPSCOPE_FLUSH_TIMEOUT_MS="1e99" ignored (expected a whole number); using 1000',
      ].sort(),
    );
    const hello = readRecording(record).find((m) => m.type === 'hello');
    expect(hello?.config).toMatchObject({ blockThresholdMs: 100, intervalMs: 1000, hangAfterMs: 5000, heartbeatMs: 20, flushTimeoutMs: 1000 });
  });

  it('the limit itself is taken and the app still ends as without the agent', async () => {
    const alone = await runNode(FIXTURE, { agent: false });
    const record = join(tempDir('loopscope-limits-'), 'rec.ndjson');
    const env = { LOOPSCOPE_RECORD: record, LOOPSCOPE_BLOCK_MS: String(LIMIT), LOOPSCOPE_INTERVAL_MS: String(LIMIT), LOOPSCOPE_HANG_MS: String(LIMIT) };
    const withAgent = await runNode(FIXTURE, { agent: 'import', env, timeoutMs: 20_000 });
    expect([withAgent.code, withAgent.signal, withAgent.stdout, withAgent.stderr]).toEqual([alone.code, alone.signal, alone.stdout, '']);
  });

  it('from start(): NaN, Infinity, negative, fractional, huge and text values each get one warning and the default', async () => {
    const alone = await runNode(FIXTURE, { agent: false, args: ['start'] });
    const record = join(tempDir('loopscope-limits-'), 'rec.ndjson');
    const options = { blockThresholdMs: 'Infinity', intervalMs: 4294967296, hangAfterMs: 'NaN', heartbeatMs: -5, flushTimeoutMs: 12.5, oldest: 'many', record };
    const withAgent = await runNode(FIXTURE, { agent: false, args: ['start'], env: { OPTIONS: JSON.stringify(options) }, timeoutMs: 20_000 });
    expect([withAgent.code, withAgent.signal, withAgent.stdout]).toEqual([alone.code, alone.signal, alone.stdout]);
    expect(withAgent.stderr.split('\n').filter(Boolean).sort()).toEqual(
      [
        'loopscope: option blockThresholdMs=Infinity ignored (expected a whole number); using 100',
        `loopscope: option intervalMs=4294967296 ignored (expected at most ${LIMIT}); using 1000`,
        'loopscope: option hangAfterMs=NaN ignored (expected a whole number); using 5000',
        'loopscope: option heartbeatMs=-5 ignored (expected at least 2); using 20',
        'loopscope: option flushTimeoutMs=12.5 ignored (expected a whole number); using 1000',
        'loopscope: option oldest="many" ignored (expected a whole number); using 20',
      ].sort(),
    );
    expect(readRecording(record).some((m) => m.type === 'shutdown.end')).toBe(true);
  });
});
