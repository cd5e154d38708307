// `loopscope report` and `loopscope run` on real recordings made by real node processes.
import { beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, readFileSync } from 'node:fs';
import { spawnSync as exec } from 'node:child_process';
import { join } from 'node:path';
import { CLI, FIXTURES, readRecording, runNode, tempDir } from '../helpers/run-node.js';
import type { Report } from '../../shared/report-json.js';
import { API, type RunSummary } from '../../shared/dashboard-api.js';

const dir = tempDir('loopscope-cli-');

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  return runNode(CLI, { agent: false, args, env: { LOOPSCOPE_RECORD: undefined, NODE_OPTIONS: undefined, ...env } });
}

async function reportJson(file: string): Promise<Report> {
  const r = await cli(['report', file, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

describe('loopscope report on a real recording', () => {
  const recording = join(dir, 'app.ndjson');

  beforeAll(async () => {
    const run = await runNode(join(FIXTURES, 'report-app.js'), {
      agent: 'require',
      env: { LOOPSCOPE_RECORD: recording, LOOPSCOPE_INTERVAL_MS: '200' },
      onStdout: (chunk, child) => {
        if (chunk.includes('ready')) setTimeout(() => child.kill('SIGTERM'), 300);
      },
    });
    expect(run.signal).toBe('SIGTERM');
    expect(readRecording(recording).some((m) => m.type === 'hello')).toBe(true);
  });

  it('--json prints one object with the contract of issues 2 and 3', async () => {
    const r = await reportJson(recording);
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['process', 'loop', 'blocks', 'syncCalls', 'resources', 'shutdown']));
    expect(r.process!.argv.some((a) => a.endsWith('report-app.js'))).toBe(true);
    expect(r.process!.nodeVersion).toBe(process.version);
    // The loop figures are those of the recorded intervals (the sampler's accuracy is the agent's tests' business).
    const loops = readRecording(recording).flatMap((m) => (m.type === 'loop' ? [m] : []));
    expect(r.loop.intervals).toBe(loops.length);
    expect(loops.length).toBeGreaterThan(0);
    expect(r.loop.delayMaxMs).toBeCloseTo(Math.max(...loops.map((l) => l.delay.maxMs)), 2);
    expect(r.loop.delayP99Ms).toBeCloseTo(Math.max(...loops.map((l) => l.delay.p99Ms)), 2);
    // The 300 ms spin is a block with its function on the stack.
    const block = r.blocks.find((b) => b.stack.some((f) => f.functionName.includes('busyTimer')));
    expect(block, JSON.stringify(r.blocks)).toBeDefined();
    expect(block!.durationMs).toBeGreaterThan(250);
    expect(block!.ended).toBe(true);
    const read = r.syncCalls.find((s) => s.api === 'fs.readFileSync');
    expect(read?.createdAt?.line).toBe(11);
    expect(read?.createdAt?.file).toMatch(/report-app\.js$/);
    const ticker = r.resources.oldest.find((o) => o.type === 'Timeout' && o.createdAt?.line === 7);
    expect(ticker?.keepsAlive).toBe(true);
    expect(r.shutdown).toMatchObject({ trigger: 'SIGTERM', outcome: 'clean', exit: { code: null, signal: 'SIGTERM' } });
    expect(r.shutdown!.resources.some((x) => x.type === 'Timeout' && x.createdAt?.line === 7 && x.closedAfterMs === null)).toBe(true);
    expect(r.endedAbruptly).toBe(false);
    expect(r.invalidLines).toBe(0);
    expect(r.children).toEqual([]);
  });

  it('prints a readable report within 80 columns', async () => {
    const r = await cli(['report', recording]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    for (const line of out.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(out).toMatch(/busyTimer.*report-app\.js:17/);
    expect(out).toMatch(/fs\.readFileSync\s+1 .*report-app\.js:11/);
    expect(out).toContain('shutdown   SIGTERM -> clean, killed by SIGTERM');
    expect(out).toMatch(/Timeout report-app\.js:7 +-+> never closed \*/);
    expect(out).not.toContain('ended abruptly');
  });

  it('reads the recording from standard input with -', async () => {
    const r = await exec(process.execPath, [CLI, 'report', '-', '--json'], { input: readFileSync(recording) });
    expect(r.status).toBe(0);
    const fromStdin = JSON.parse(r.stdout.toString()) as Report;
    expect(fromStdin).toEqual(await reportJson(recording));
  });

  it('reads every complete line of a cut-off recording and says the run ended abruptly', async () => {
    const cut = join(dir, 'cut.ndjson');
    copyFileSync(recording, cut);
    const lines = readFileSync(recording, 'utf8').trimEnd().split('\n');
    appendFileSync(cut, lines[1]!.slice(0, 25));
    const r = await reportJson(cut);
    expect(r.endedAbruptly).toBe(true);
    expect(r.truncatedLastLine).toBe(true);
    expect(r.invalidLines).toBe(0);
    expect(r.blocks.length).toBeGreaterThan(0);
    const text = await cli(['report', cut]);
    expect(text.stdout).toContain('the run ended abruptly');
  });

  it('fails clearly on bad usage', async () => {
    const missing = await cli(['report', join(dir, 'nope.ndjson')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('loopscope: no recording at');
    const none = await cli(['report']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("missing required argument 'file'");
    const junk = join(dir, 'junk.ndjson');
    appendFileSync(junk, 'hello\nworld\n');
    const bad = await cli(['report', junk]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('holds no loopscope records (2 invalid lines');
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const help = await cli(['report', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: loopscope report [options] <file>');
  });
});

describe('loopscope run', () => {
  it('preloads the agent in the whole process tree, records it and keeps the exit code', async () => {
    const rec = join(dir, 'tree.ndjson');
    const r = await cli(['run', '--record', rec, '--', process.execPath, join(FIXTURES, 'report-parent.js')]);
    expect(r.stdout).toContain('child done');
    expect(r.code).toBe(3);
    const report = await reportJson(rec);
    expect(report.process!.argv.some((a) => a.endsWith('report-parent.js'))).toBe(true);
    expect(report.shutdown?.exit.code).toBe(3);
    expect(report.children).toHaveLength(1);
    const child = report.children[0]!;
    expect(child.process!.argv.some((a) => a.endsWith('report-child.cjs'))).toBe(true);
    expect(child.process!.ppid).toBe(report.process!.pid);
  });

  it('forwards SIGTERM to the command and dies by it', async () => {
    const p = runNode(CLI, {
      agent: false,
      args: ['run', '--mode', 'lite', '--record', join(dir, 'sig.ndjson'), '--', process.execPath, '-e', 'setInterval(() => {}, 1000); console.log("up")'],
      env: { LOOPSCOPE_RECORD: undefined, NODE_OPTIONS: undefined },
      onStdout: (chunk, child) => {
        if (chunk.includes('up')) child.kill('SIGTERM');
      },
    });
    const r = await p;
    expect(r.signal).toBe('SIGTERM');
  });

  it('reports a missing command and bad options', async () => {
    const nowhere = await cli(['run', '--', process.execPath, '-e', '0']);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('give --record FILE or --dashboard URL');
    const missing = await cli(['run', '--record', join(dir, 'never.ndjson'), '--', 'loopscope-no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('command not found');
    const mode = await cli(['run', '--mode', 'turbo', '--record', join(dir, 'never.ndjson'), '--', 'true']);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toContain('Allowed choices are lite, default, deep');
    const nothing = await cli(['run']);
    expect(nothing.code).toBe(2);
  });
});

describe('loopscope dashboard', () => {
  it('starts the dashboard, which then follows a command started by loopscope run --dashboard', async () => {
    let ingest = '';
    let seen!: () => void;
    const ready = new Promise<void>((resolve) => (seen = resolve));
    const dash = runNode(CLI, {
      agent: false,
      args: ['dashboard', '--port', '0', '--data', join(dir, 'dash-data')],
      env: { LOOPSCOPE_RECORD: undefined, NODE_OPTIONS: undefined },
      onStdout: (chunk) => {
        const m = /LOOPSCOPE_DASHBOARD=(ws:\/\/\S+)/.exec(chunk);
        if (m) {
          ingest = m[1]!;
          seen();
        }
      },
    });
    await ready;
    const app = await cli(['run', '--dashboard', ingest, '--', process.execPath, join(FIXTURES, 'report-child.cjs')]);
    expect(app.code).toBe(0);
    const base = ingest.replace(/^ws/, 'http');
    let runs: RunSummary[] = [];
    for (let i = 0; i < 40 && runs.length === 0; i++) {
      runs = ((await (await fetch(`${base}${API.runs}`)).json()) as { runs: RunSummary[] }).runs;
      if (runs.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(runs.length).toBe(1);
    dash.child.kill('SIGINT');
    const closed = await dash;
    expect(closed.code).toBe(0);
  });
});
