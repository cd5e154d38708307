// Settings that are valid alone but not together: the heartbeat must beat well within the block
// threshold, or the watchdog would take every moment for a block.
import { describe, expect, it } from 'vitest';
import { OPTION_SPECS, resolveConfig } from '../../agent/config.js';

describe('heartbeat against the block threshold', () => {
  it('a heartbeat set longer than half the threshold is fitted to it, with one warning', () => {
    const { config, warnings } = resolveConfig({}, { LOOPSCOPE_HEARTBEAT_MS: '1000' });
    expect(config.heartbeatMs).toBe(50);
    expect(warnings).toEqual(['heartbeat 1000 ms is more than half the block threshold (100 ms); using 50 ms']);
  });

  it('the default heartbeat follows a low threshold without a warning', () => {
    const { config, warnings } = resolveConfig({ blockThresholdMs: 10 }, {});
    expect(config.heartbeatMs).toBe(5);
    expect(warnings).toEqual([]);
  });

  it('a heartbeat within half the threshold is kept', () => {
    const { config, warnings } = resolveConfig({ heartbeatMs: 25, blockThresholdMs: 60 }, {});
    expect(config.heartbeatMs).toBe(25);
    expect(warnings).toEqual([]);
  });
});

describe('numbers out of range', () => {
  const TIMER_LIMIT = 2 ** 31 - 1;
  const timerEnv = ['LOOPSCOPE_INTERVAL_MS', 'LOOPSCOPE_BLOCK_MS', 'LOOPSCOPE_HEARTBEAT_MS', 'LOOPSCOPE_HANG_MS', 'LOOPSCOPE_FLUSH_TIMEOUT_MS'];

  it('a duration past the timer limit in the environment gets one warning and the default', () => {
    for (const name of timerEnv) {
      for (const raw of ['2147483648', '4294967296', '99999999999999999999']) {
        const { config, warnings } = resolveConfig({}, { [name]: raw });
        const spec = OPTION_SPECS.find((s) => s.env === name)!;
        expect(config[spec.key], `${name}=${raw}`).toBe(spec.default);
        expect(warnings, `${name}=${raw}`).toEqual([`${name}=${JSON.stringify(raw)} ignored (expected at most ${TIMER_LIMIT}); using ${String(spec.default)}`]);
      }
    }
  });

  it('the timer limit itself is taken', () => {
    const { config, warnings } = resolveConfig({}, { LOOPSCOPE_BLOCK_MS: String(TIMER_LIMIT), LOOPSCOPE_HANG_MS: String(TIMER_LIMIT), LOOPSCOPE_INTERVAL_MS: String(TIMER_LIMIT) });
    expect(warnings).toEqual([]);
    expect(config.blockThresholdMs).toBe(TIMER_LIMIT);
    expect(config.hangAfterMs).toBe(TIMER_LIMIT);
    expect(config.intervalMs).toBe(TIMER_LIMIT);
  });

  it('every int option has a maximum, and every duration one is within the timer limit', () => {
    for (const spec of OPTION_SPECS.filter((s) => s.kind === 'int')) {
      expect(spec.max, spec.key).toBeDefined();
      if (spec.key.endsWith('Ms')) expect(spec.max, spec.key).toBeLessThanOrEqual(TIMER_LIMIT);
    }
  });

  it('start() options that are not whole numbers in range get one warning each and the default, never a throw', () => {
    const bad: Array<[unknown, string, string]> = [
      [Number.NaN, 'NaN', 'expected a whole number'],
      [Number.POSITIVE_INFINITY, 'Infinity', 'expected a whole number'],
      [Number.NEGATIVE_INFINITY, '-Infinity', 'expected a whole number'],
      [1.5, '1.5', 'expected a whole number'],
      [-100, '-100', 'expected at least 10'],
      [4294967296, '4294967296', `expected at most ${TIMER_LIMIT}`],
      ['abc', '"abc"', 'expected a whole number'],
      ['1e3', '"1e3"', 'expected a whole number'],
      ['-50', '"-50"', 'expected a whole number'],
      ['', '""', 'expected a whole number'],
      [10n, '10n', 'expected a whole number'],
      [{ ms: 100 }, '{"ms":100}', 'expected a whole number'],
      [true, 'true', 'expected a whole number'],
    ];
    for (const [value, text, why] of bad) {
      const { config, warnings } = resolveConfig({ blockThresholdMs: value as number }, {});
      expect(config.blockThresholdMs, text).toBe(100);
      expect(warnings, text).toEqual([`option blockThresholdMs=${text} ignored (${why}); using 100`]);
    }
  });

  it('a whole-number string from start() is taken like the same environment value', () => {
    const { config, warnings } = resolveConfig({ intervalMs: ' 250 ' as unknown as number }, {});
    expect(warnings).toEqual([]);
    expect(config.intervalMs).toBe(250);
  });

  it('a refused heartbeat is warned about once, not again for not fitting the threshold', () => {
    const { config, warnings } = resolveConfig({ heartbeatMs: Number.NaN, blockThresholdMs: 10 }, {});
    expect(config.heartbeatMs).toBe(5);
    expect(warnings).toEqual(['option heartbeatMs=NaN ignored (expected a whole number); using 20']);
  });

  it('options that are not an object are refused with one warning', () => {
    for (const options of [null, 'fast', 42]) {
      const { config, warnings } = resolveConfig(options as never, {});
      expect(config.intervalMs).toBe(1000);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^start\(\) options must be an object, got (null|string|number); ignored$/);
    }
  });

  it('never shows the token or raw control characters in a warning', () => {
    const { warnings } = resolveConfig({ token: 12345 as unknown as string }, { LOOPSCOPE_MODE: 'x\u001b]0;pwned\u0007' });
    expect(warnings.join('\n')).not.toContain('12345');
    for (const w of warnings) expect(w).not.toMatch(/[\u0000-\u0008\u000a-\u001f]/);
    expect(warnings).toContain('option token=*** ignored (expected a string); using null');
  });
});
