// The resources view against real processes: a forgotten interval is named with its file and
// line, an unref'd one does not keep the process alive, a server shows its port, and the agent's
// own worker and timers never show up as the app's.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runNode, readRecording, tempDir, FIXTURES } from '../helpers/run-node.js';
import type { LiveResource, MessageOf } from '../../shared/protocol.js';

function lineOf(fixture: string, marker: string): number {
  const lines = readFileSync(join(FIXTURES, fixture), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(`// ${marker}`));
  if (i < 0) throw new Error(`${marker} not in ${fixture}`);
  return i + 1;
}

function resourcesOf(path: string): MessageOf<'resources'>[] {
  return readRecording(path).filter((m): m is MessageOf<'resources'> => m.type === 'resources');
}

function atLine(list: LiveResource[], fixture: string, line: number): LiveResource | undefined {
  return list.find((r) => r.createdAt?.file.endsWith(fixture) && r.createdAt.line === line);
}

const cases = [
  { name: 'CommonJS with -r', fixture: 'res-forgotten.cjs', agent: 'require' as const },
  { name: 'ESM with --import', fixture: 'res-forgotten.mjs', agent: 'import' as const },
];

describe.each(cases)('resources, $name', ({ fixture, agent }) => {
  it('names the forgotten interval, the unref\'d one and the server, and nothing of its own', async () => {
    const record = join(tempDir(), 'rec.ndjson');
    const env = { LOOPSCOPE_RECORD: record, LOOPSCOPE_INTERVAL_MS: '200' };
    const [withAgent, without] = await Promise.all([
      runNode(join(FIXTURES, fixture), { agent, env }),
      runNode(join(FIXTURES, fixture), { agent: false }),
    ]);
    expect(withAgent.code, withAgent.stderr).toBe(0);
    expect(withAgent.stderr).toBe('');
    const app = JSON.parse(withAgent.stdout) as { port: number; active: string[] };
    const bare = JSON.parse(without.stdout) as { port: number; active: string[] };
    // What keeps the process alive is the same with and without the agent.
    expect([...app.active].sort()).toEqual([...bare.active].sort());

    const samples = resourcesOf(record);
    expect(samples.length).toBeGreaterThanOrEqual(3);
    const last = samples.at(-1)!;

    const forgotten = atLine(last.oldest, fixture, lineOf(fixture, '@forgotten'));
    expect(forgotten).toMatchObject({ type: 'Timeout', keepsAlive: true, details: { delayMs: 60_000, repeat: true } });
    expect(forgotten!.ageMs).toBeGreaterThan(500);
    expect(forgotten!.createdAt!.column).toBe(1);

    const unrefd = atLine(last.oldest, fixture, lineOf(fixture, '@unrefd'));
    expect(unrefd).toMatchObject({ type: 'Timeout', keepsAlive: false, details: { delayMs: 30_000, repeat: true } });

    const named = atLine(last.oldest, fixture, lineOf(fixture, '@named'));
    expect(named).toMatchObject({ type: 'Timeout', keepsAlive: false, details: { delayMs: 45_000, repeat: true } });

    const poller = atLine(last.oldest, fixture, lineOf(fixture, '@poller'));
    expect(poller).toMatchObject({ type: 'Timeout', keepsAlive: true, details: { delayMs: 2_000, repeat: true } });
    const sleeping = atLine(last.oldest, fixture, lineOf(fixture, '@sleep'));
    expect(sleeping).toMatchObject({ type: 'Timeout', keepsAlive: true, details: { delayMs: 50_000, repeat: false } });

    const server = atLine(last.oldest, fixture, lineOf(fixture, '@server'));
    expect(server).toMatchObject({ type: 'TCPServerWrap', keepsAlive: true, details: { port: app.port } });

    for (const s of samples) {
      // every listed resource is the fixture's own: none created by the agent
      for (const r of s.oldest) expect(r.createdAt?.file ?? '').toMatch(new RegExp(`${fixture.replace('.', '\\.')}$`));
      // byType never holds what the agent opened (worker, ports, its own timers)
      for (const type of Object.keys(s.byType)) expect(['TCPServerWrap', 'Timeout', 'Immediate', 'TTYWrap', 'PipeWrap']).toContain(type);
      expect(s.byType.Timeout ?? 0).toBeLessThanOrEqual(bare.active.filter((t) => t === 'Timeout').length);
      expect(s.tracked).toBeLessThanOrEqual(6);
    }
    expect(last.byType.TCPServerWrap).toBe(1);
  });
});

describe('resources, lite mode', () => {
  it('counts what is open without async_hooks and lists no creation sites', async () => {
    const record = join(tempDir(), 'rec.ndjson');
    const res = await runNode(join(FIXTURES, 'res-forgotten.cjs'), {
      env: { LOOPSCOPE_RECORD: record, LOOPSCOPE_INTERVAL_MS: '200', LOOPSCOPE_MODE: 'lite' },
    });
    expect(res.code, res.stderr).toBe(0);
    const last = resourcesOf(record).at(-1)!;
    expect(last.byType.TCPServerWrap).toBe(1);
    expect(last.byType.Timeout).toBeGreaterThanOrEqual(1);
    expect(last.oldest).toEqual([]);
    expect(last.created).toBeUndefined();
  });
});

describe('resources, a million live intervals', () => {
  it('keeps the agent\'s heap bounded and keeps sampling', async () => {
    const record = join(tempDir(), 'rec.ndjson');
    const script = join(FIXTURES, 'res-million.cjs');
    const env = { LOOPSCOPE_RECORD: record, LOOPSCOPE_INTERVAL_MS: '300', FIXTURE_TIMERS: '1000000', FIXTURE_WAIT_MS: '3000' };
    // one after the other: two heaps of a million timers at once make a 2-core machine crawl
    const bare = await runNode(script, { agent: false, env, timeoutMs: 40_000 });
    const withAgent = await runNode(script, { agent: 'require', env, timeoutMs: 40_000 });
    expect(bare.code, bare.stderr).toBe(0);
    expect(withAgent.code, withAgent.stderr).toBe(0);
    const a = JSON.parse(bare.stdout) as { made: number; heapUsed: number };
    const b = JSON.parse(withAgent.stdout) as { made: number; heapUsed: number };
    expect(b.made).toBe(1_000_000);
    // Bound: maxTracked (5000) entries with a WeakRef and at most stackBudget stacks per second,
    // a few MB; 20 MB leaves room for GC timing. The timers themselves weigh ~160 MB.
    const extraMb = (b.heapUsed - a.heapUsed) / 2 ** 20;
    expect(extraMb).toBeLessThan(20);

    const samples = resourcesOf(record);
    // getActiveResourcesInfo() costs 15-100 ms with a million timers, so the agent reuses its
    // counts for a few intervals: at least one sample has them all, and sampling goes on.
    expect(Math.max(...samples.map((s) => s.byType.Timeout ?? 0))).toBeGreaterThanOrEqual(1_000_000);
    const afterwards = samples.slice(samples.findIndex((s) => s.oldest.length === 20));
    expect(afterwards.length).toBeGreaterThanOrEqual(4);
    for (const s of afterwards) {
      expect(s.tracked).toBeLessThanOrEqual(5000);
      expect(s.oldest.length).toBe(20);
      expect(s.oldest[0]!.createdAt?.file).toMatch(/res-million\.cjs$/);
    }
    // more creations than the per-second budget: stacks were skipped and the resources still counted
    expect(samples.reduce((n, s) => n + (s.stacksSkipped ?? 0), 0)).toBeGreaterThan(0);
    expect(samples.reduce((n, s) => n + (s.created?.Timeout ?? 0), 0)).toBeGreaterThanOrEqual(1_000_000);
    const notices = readRecording(record).filter((m) => m.type === 'notice' && m.code === 'resources-untracked');
    expect(notices.length).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
