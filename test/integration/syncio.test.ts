// Sync I/O against real processes: a readFileSync in a request handler is recorded with the
// handler's line; the one at start-up is not. CommonJS with -r, ESM named imports with --import
// and with -r (the main module then loads asynchronously while the loop already turns).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runNode, readRecording, tempDir, FIXTURES } from '../helpers/run-node.js';
import type { MessageOf } from '../../shared/protocol.js';

function lineOf(fixture: string, marker: string): number {
  const lines = readFileSync(join(FIXTURES, fixture), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(`// ${marker}`));
  if (i < 0) throw new Error(`${marker} not in ${fixture}`);
  return i + 1;
}

const cases = [
  { name: 'CommonJS with -r', fixture: 'syncio-handler.cjs', agent: 'require' as const },
  { name: 'ESM named import with --import', fixture: 'syncio-handler.mjs', agent: 'import' as const },
  { name: 'ESM named import with -r', fixture: 'syncio-handler.mjs', agent: 'require' as const },
  { name: 'ESM during a top-level await', fixture: 'syncio-tla.mjs', agent: 'import' as const },
];

describe.each(cases)('sync I/O, $name', ({ fixture, agent }) => {
  it('records the handler\'s readFileSync at its line and not the start-up one', async () => {
    const record = join(tempDir(), 'rec.ndjson');
    const res = await runNode(join(FIXTURES, fixture), { agent, env: { LOOPSCOPE_RECORD: record } });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    const calls = readRecording(record)
      .filter((m): m is MessageOf<'syncio'> => m.type === 'syncio')
      .flatMap((m) => m.calls)
      .filter((c) => c.api === 'fs.readFileSync');
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call!.count).toBe(1);
    expect(call!.createdAt?.file).toMatch(new RegExp(`${fixture.replace('.', '\\.')}$`));
    expect(call!.createdAt?.line).toBe(lineOf(fixture, '@handler'));
    expect(call!.maxMs).toBeGreaterThan(0);
    expect(call!.totalMs).toBeCloseTo(call!.maxMs, 6);
  });
});
