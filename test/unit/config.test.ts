// Settings that are valid alone but not together: the heartbeat must beat well within the block
// threshold, or the watchdog would take every moment for a block.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../agent/config.js';

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
