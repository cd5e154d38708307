import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPTION_SPECS, resolveConfig } from '../../agent/config.js';
import { ROOT } from '../helpers/run-node.js';

describe('configuration', () => {
  it('README documents every option with its variable and default', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const spec of OPTION_SPECS) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${spec.env}\``));
      expect(row, spec.env).toBeDefined();
      expect(row).toContain(`\`${spec.key}\``);
      if (spec.default !== null) expect(row).toContain(`\`${String(spec.default)}\``);
    }
  });

  it('bad values warn once each and fall back to defaults; start() options win over env', () => {
    const { config, warnings } = resolveConfig(
      { blockThresholdMs: 50 },
      { LOOPSCOPE_BLOCK_MS: '500', LOOPSCOPE_MODE: 'turbo', LOOPSCOPE_INTERVAL_MS: '-3', LOOPSCOPE_SYNCIO: 'maybe', LOOPSCOPE_TYPO: '1' },
    );
    expect(config.blockThresholdMs).toBe(50);
    expect(config.mode).toBe('default');
    expect(config.intervalMs).toBe(1000);
    expect(config.syncio).toBe(true);
    expect(warnings).toHaveLength(4);
    expect(warnings.join('\n')).toMatch(/LOOPSCOPE_MODE="turbo" ignored \(expected lite, default or deep\)/);
    expect(warnings.join('\n')).toMatch(/LOOPSCOPE_TYPO is not a loopscope setting/);
  });
});
