import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../../shared/protocol.js';
import { foldMessages } from '../../shared/run-state.js';
import { deriveReport, deriveRun, type Report } from '../../shared/report-json.js';
import { RecordingFolder, readRecordingFile } from '../../cli/report/read.js';
import { renderReport } from '../../cli/report/render.js';
import { T0, asNdjson, block, frame, hello, loop, valid } from '../fixtures/report-messages.js';

const RUN = 'root01';
const timerSite = frame('startTimer', '/srv/app/server.js', 12, 3);
const serverSite = frame('listen', '/srv/app/server.js', 30, 10);

/** A whole run: loop samples, a block (live, then ended without stack), sync calls, resources and a clean SIGTERM shutdown. */
function fullRun(run = RUN): Message[] {
  return [
    hello(run),
    loop(run, T0 + 1000, 1000, 1, 5, 8, 0.1),
    loop(run, T0 + 2000, 1000, 2, 50, 300, 0.5),
    loop(run, T0 + 2500, 500, 10, 7, 9, 0.9),
    block(run, 0, { stack: [frame('busy', '/srv/app/server.js', 40, 5), frame('', 'node:internal/timers', 581, 17)], resource: { type: 'Timeout', createdAt: timerSite } }),
    block(run, 0, { ts: T0 + 1300, durationMs: 310, ended: true, stack: [], stackKind: 'none' }),
    block(run, 1, { ts: T0 + 2200, startedAt: T0 + 2000, durationMs: 150, ended: true, native: true, stackKind: 'none', syncCall: { api: 'fs.readFileSync', createdAt: frame('handler', '/srv/app/server.js', 22, 7) } }),
    valid({ type: 'syncio', run, ts: T0 + 1000, calls: [{ api: 'fs.readFileSync', count: 2, totalMs: 12, maxMs: 8, createdAt: frame('handler', '/srv/app/server.js', 22, 7) }] }),
    valid({
      type: 'syncio',
      run,
      ts: T0 + 2000,
      calls: [
        { api: 'fs.readFileSync', count: 1, totalMs: 150, maxMs: 150, createdAt: frame('handler', '/srv/app/server.js', 22, 7) },
        { api: 'zlib.gzipSync', count: 4, totalMs: 2, maxMs: 1, createdAt: null },
      ],
    }),
    valid({
      type: 'resources',
      run,
      ts: T0 + 2500,
      byType: { TCPServerWrap: 1, Timeout: 2 },
      oldest: [
        { id: 7, type: 'TCPServerWrap', ageMs: 2400, keepsAlive: true, createdAt: serverSite, details: { port: 8080 } },
        { id: 9, type: 'Timeout', ageMs: 2300, keepsAlive: true, createdAt: timerSite, details: { interval: 1000 } },
      ],
      tracked: 2,
    }),
    valid({
      type: 'shutdown.start',
      run,
      ts: T0 + 3000,
      trigger: 'SIGTERM',
      reason: null,
      startedAt: T0 + 3000,
      resources: [
        { id: 7, type: 'TCPServerWrap', ageMs: 2900, keepsAlive: true, createdAt: serverSite },
        { id: 9, type: 'Timeout', ageMs: 2800, keepsAlive: true, createdAt: timerSite },
      ],
      snapshotTruncated: 0,
    }),
    valid({ type: 'shutdown.step', run, ts: T0 + 3001, name: 'http server', startMs: 1, durationMs: null, outcome: 'running', error: null }),
    valid({ type: 'shutdown.step', run, ts: T0 + 3041, name: 'http server', startMs: 1, durationMs: 40, outcome: 'ok', error: null }),
    valid({ type: 'shutdown.closed', run, ts: T0 + 3045, id: 7, resourceType: 'TCPServerWrap', closedAfterMs: 45 }),
    valid({ type: 'shutdown.step', run, ts: T0 + 3060, name: 'db pool', startMs: 41, durationMs: 20, outcome: 'failed', error: 'pool gone' }),
    valid({
      type: 'shutdown.end',
      run,
      ts: T0 + 3080,
      durationMs: 80,
      outcome: 'error',
      exit: { code: 1, signal: null },
      exitCaller: frame('onTerm', '/srv/app/server.js', 50, 3),
      error: null,
      stillOpen: [{ id: 9, type: 'Timeout', createdAt: timerSite }],
    }),
  ];
}

function reportOf(messages: Message[], facts = { invalidLines: 0, truncatedLastLine: false }): Report {
  const report = deriveReport(foldMessages(messages), facts);
  if (!report) throw new Error('no report');
  return report;
}

describe('report derivation', () => {
  it('has exactly the keys of the issue-2 and issue-3 contracts (plus extensions)', () => {
    const r = reportOf(fullRun());
    for (const key of ['process', 'loop', 'blocks', 'syncCalls', 'resources', 'shutdown']) expect(r).toHaveProperty(key);
    expect(Object.keys(r.process!)).toEqual(expect.arrayContaining(['pid', 'argv', 'nodeVersion', 'startedAt']));
    expect(Object.keys(r.loop)).toEqual(expect.arrayContaining(['delayP50Ms', 'delayP99Ms', 'delayMaxMs', 'utilization']));
    expect(Object.keys(r.blocks[0]!)).toEqual(expect.arrayContaining(['startedAt', 'durationMs', 'ended', 'stack', 'resource']));
    expect(Object.keys(r.syncCalls[0]!)).toEqual(expect.arrayContaining(['api', 'count', 'totalMs', 'maxMs', 'createdAt']));
    expect(Object.keys(r.resources)).toEqual(expect.arrayContaining(['byType', 'oldest']));
    expect(Object.keys(r.resources.oldest[0]!)).toEqual(expect.arrayContaining(['type', 'ageMs', 'keepsAlive', 'createdAt']));
    const sd = r.shutdown!;
    expect(Object.keys(sd)).toEqual(
      expect.arrayContaining(['trigger', 'startedAt', 'durationMs', 'outcome', 'exit', 'exitCaller', 'steps', 'resources', 'hang']),
    );
    expect(Object.keys(sd.steps[0]!)).toEqual(expect.arrayContaining(['name', 'startMs', 'durationMs', 'outcome', 'error']));
    expect(Object.keys(sd.resources[0]!)).toEqual(expect.arrayContaining(['type', 'createdAt', 'closedAfterMs', 'keptAlive']));
    // Round-trips through JSON unchanged: nothing undefined or non-serialisable.
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('summarises the loop: median p50, worst p99, max, interval-weighted utilisation', () => {
    const r = reportOf(fullRun());
    expect(r.loop.delayP50Ms).toBe(2);
    expect(r.loop.delayP99Ms).toBe(50);
    expect(r.loop.delayMaxMs).toBe(300);
    expect(r.loop.utilization).toBeCloseTo((0.1 * 1000 + 0.5 * 1000 + 0.9 * 500) / 2500, 4);
    expect(r.loop.intervals).toBe(3);
    const empty = reportOf([hello('x')]);
    expect(empty.loop).toMatchObject({ delayP50Ms: null, delayP99Ms: null, delayMaxMs: null, utilization: null, intervals: 0 });
  });

  it('keeps the live stack of a block whose end arrived without one, and flags native blocks', () => {
    const r = reportOf(fullRun());
    expect(r.blocks).toHaveLength(2);
    const [live, native] = r.blocks;
    expect(live).toMatchObject({ durationMs: 310, ended: true, native: false, resource: { type: 'Timeout', createdAt: timerSite } });
    expect(live!.stack[0]).toEqual(frame('busy', '/srv/app/server.js', 40, 5));
    expect(native).toMatchObject({ native: true, stack: [], syncCall: { api: 'fs.readFileSync' } });
    expect(r.blockTotals).toEqual({ count: 2, blockedMs: 460, dropped: 0 });
  });

  it('adds up sync calls per api and caller, largest total first', () => {
    const r = reportOf(fullRun());
    expect(r.syncCalls).toEqual([
      { api: 'fs.readFileSync', count: 3, totalMs: 162, maxMs: 150, createdAt: frame('handler', '/srv/app/server.js', 22, 7) },
      { api: 'zlib.gzipSync', count: 4, totalMs: 2, maxMs: 1, createdAt: null },
    ]);
  });

  it('shows the last resources sample', () => {
    const r = reportOf(fullRun());
    expect(r.resources.byType).toEqual({ TCPServerWrap: 1, Timeout: 2 });
    expect(r.resources.oldest.map((o) => [o.type, o.ageMs, o.keepsAlive])).toEqual([
      ['TCPServerWrap', 2400, true],
      ['Timeout', 2300, true],
    ]);
    expect(r.resources.oldest[0]!.details).toEqual({ port: 8080 });
  });

  it('derives the shutdown: steps, which resource closed when, exit and outcome', () => {
    const r = reportOf(fullRun());
    expect(r.shutdown).toMatchObject({
      trigger: 'SIGTERM',
      startedAt: T0 + 3000,
      durationMs: 80,
      outcome: 'error',
      exit: { code: 1, signal: null },
      exitCaller: frame('onTerm', '/srv/app/server.js', 50, 3),
      hang: null,
      ended: true,
    });
    expect(r.shutdown!.steps).toEqual([
      { name: 'http server', startMs: 1, durationMs: 40, outcome: 'ok', error: null },
      { name: 'db pool', startMs: 41, durationMs: 20, outcome: 'failed', error: 'pool gone' },
    ]);
    expect(r.shutdown!.resources.map((x) => [x.type, x.closedAfterMs, x.keptAlive])).toEqual([
      ['TCPServerWrap', 45, false],
      ['Timeout', null, true],
    ]);
    expect(r.endedAbruptly).toBe(false);
  });

  it('calls a shutdown without an end killed, timed to the last record, and the run abrupt', () => {
    const messages = fullRun().filter((m) => m.type !== 'shutdown.end');
    const r = reportOf(messages);
    expect(r.shutdown).toMatchObject({ outcome: 'killed', durationMs: 60, exit: { code: null, signal: null }, ended: false });
    expect(r.endedAbruptly).toBe(true);
    // A run that never started a shutdown and stopped streaming ended abruptly too...
    expect(reportOf(fullRun().filter((m) => !m.type.startsWith('shutdown'))).endedAbruptly).toBe(true);
    // ...unless the agent was told not to follow shutdowns: then nothing can be said.
    const quiet = [hello(RUN, { config: { shutdown: false } }), loop(RUN, T0 + 1000, 1000, 1, 2, 3, 0.1)];
    expect(reportOf(quiet).endedAbruptly).toBe(false);
  });

  it('reports the hang with what kept the process alive', () => {
    const messages = fullRun().filter((m) => m.type !== 'shutdown.end');
    messages.push(valid({ type: 'shutdown.hang', run: RUN, ts: T0 + 8000, afterMs: 5000, keptAlive: [{ id: 9, type: 'Timeout', createdAt: timerSite }] }));
    const r = reportOf(messages);
    expect(r.shutdown!.hang).toEqual({ afterMs: 5000, keptAlive: [{ type: 'Timeout', createdAt: timerSite }] });
    expect(r.shutdown!.durationMs).toBe(5000);
  });

  it('nests a process tree under its root and keeps orphans', () => {
    const child = 'child1';
    const grandchild = 'grand1';
    const orphan = 'orphan';
    const messages: Message[] = [
      hello(child, { parentRun: RUN, pid: 5000, argv: ['/usr/bin/node', 'worker.js'] }),
      ...fullRun(),
      hello(grandchild, { parentRun: child, pid: 5001 }),
      hello(orphan, { parentRun: 'not-in-file', pid: 5002 }),
      loop(child, T0 + 1000, 1000, 3, 4, 5, 0.2),
    ];
    const r = reportOf(messages);
    expect(r.process!.pid).toBe(4242);
    expect(r.runCount).toBe(4);
    expect(r.children.map((c) => c.process!.pid).sort()).toEqual([5000, 5002]);
    const c = r.children.find((x) => x.process!.pid === 5000)!;
    expect(c.loop.delayP50Ms).toBe(3);
    expect(c.children.map((x) => x.process!.pid)).toEqual([5001]);
  });

  it('uses the loop figures accumulated over every interval when given, not the bounded ring', () => {
    const state = foldMessages(fullRun()).get(RUN)!;
    const r = deriveRun(state, { delayP50Ms: 9, delayP99Ms: 9, delayMaxMs: 9, utilization: 0.9, intervals: 99_999 });
    expect(r.loop.intervals).toBe(99_999);
  });
});

describe('reading a recording', () => {
  const text = asNdjson(fullRun());

  it('reads the same state whatever the chunking, even with a UTF-8 character split across chunks', () => {
    const withUnicode = asNdjson([hello(RUN, { app: 'naïve-ünïcode-☃' }), ...fullRun().slice(1)]);
    const bytes = Buffer.from(withUnicode);
    const whole = new RecordingFolder();
    whole.push(bytes);
    const a = whole.end();
    const chunked = new RecordingFolder();
    for (let i = 0; i < bytes.length; i += 7) chunked.push(bytes.subarray(i, i + 7));
    const b = chunked.end();
    expect(b.runs.get(RUN)!.hello!.app).toBe('naïve-ünïcode-☃');
    expect(deriveReport(b.runs, b, b.loops)).toEqual(deriveReport(a.runs, a, a.loops));
    expect(b.invalidLines).toBe(0);
    expect(b.truncatedLastLine).toBe(false);
  });

  it('treats a cut-off last line as the run ending abruptly and counts invalid lines elsewhere', () => {
    const lines = text.split('\n').filter(Boolean);
    const cut = lines.pop()!;
    const broken = [...lines.slice(0, 3), '{"type":"loop","run":"x"}', 'garbage', ...lines.slice(3), cut.slice(0, cut.length / 2)].join('\n');
    const folder = new RecordingFolder();
    folder.push(broken);
    const read = folder.end();
    expect(read.invalidLines).toBe(2);
    expect(read.invalidSamples.map((s) => s.line)).toEqual([4, 5]);
    expect(read.truncatedLastLine).toBe(true);
    const r = deriveReport(read.runs, read, read.loops)!;
    expect(r.endedAbruptly).toBe(true);
    expect(r.truncatedLastLine).toBe(true);
    expect(r.invalidLines).toBe(2);
    // Every complete line still counts: the shutdown is there, without its end.
    expect(r.shutdown!.outcome).toBe('killed');
    expect(r.blocks).toHaveLength(2);
  });

  it('accepts a valid last line without its newline', () => {
    const folder = new RecordingFolder();
    folder.push(text.trimEnd());
    const read = folder.end();
    expect(read.truncatedLastLine).toBe(false);
    expect(deriveReport(read.runs, read)!.shutdown!.ended).toBe(true);
  });

  it('streams a long recording: loop figures cover every interval, the state stays bounded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopscope-report-'));
    const path = join(dir, 'long.ndjson');
    const n = 20_000;
    const parts = [asNdjson([hello(RUN)])];
    // One 900 ms spike early on: it must survive although its point has left the run state's ring.
    for (let i = 0; i < n; i++) parts.push(`${JSON.stringify(loop(RUN, T0 + i * 1000, 1000, 1 + (i % 3), 5, i === 10 ? 900 : 6, 0.25))}\n`);
    writeFileSync(path, parts.join(''));
    const read = await readRecordingFile(path);
    const state = read.runs.get(RUN)!;
    expect(state.loop.length).toBeLessThan(n);
    const r = deriveReport(read.runs, read, read.loops)!;
    expect(r.loop).toMatchObject({ intervals: n, delayMaxMs: 900, delayP50Ms: 2, delayP99Ms: 5, utilization: 0.25 });
  });

  it('reads a file from disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopscope-report-'));
    const path = join(dir, 'run.ndjson');
    writeFileSync(path, text);
    const read = await readRecordingFile(path);
    expect(read.lines).toBe(fullRun().length);
    expect(deriveReport(read.runs, read, read.loops)!.loop.delayMaxMs).toBe(300);
  });
});

describe('terminal rendering', () => {
  const render = (r: Report): string => renderReport(r, { cwd: '/srv/app', source: 'run.ndjson' });

  it('fits 80 columns and shows every section', () => {
    const out = render(reportOf(fullRun()));
    for (const line of out.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(out).toContain('fixture-app  pid 4242');
    expect(out).toMatch(/delay p50 2\.0 ms, p99 50 ms, max 300 ms; busy 42\.0% \(3 intervals\)/);
    expect(out).toMatch(/310 ms .*in Timeout \(server\.js:12\)/);
    expect(out).toContain('at busy  server.js:40:5');
    expect(out).toMatch(/150 ms native/);
    expect(out).toContain('during fs.readFileSync from handler server.js:22');
    expect(out).toMatch(/fs\.readFileSync\s+3\s+162 ms\s+150 ms\s+handler server\.js:22/);
    expect(out).toMatch(/TCPServerWrap\s+2\.40 s\s+yes\s+listen server\.js:30\s+:8080/);
  });

  it('draws the shutdown on one time axis: trigger at 0, steps, closes, the exit', () => {
    const out = render(reportOf(fullRun()));
    const lines = out.split('\n');
    expect(out).toContain('shutdown   SIGTERM -> error, exit code 1, cleanup 80 ms');
    expect(out).toContain('process.exit called at onTerm server.js:50');
    const at = (prefix: string): string => {
      const line = lines.find((l) => l.startsWith(prefix));
      if (!line) throw new Error(`no line starting ${prefix}\n${out}`);
      return line;
    };
    const header = lines.find((l) => /^\s+0 ms\s+80 ms$/.test(l))!;
    const barStart = header.indexOf('0 ms');
    const barEnd = header.length - 1;
    const trigger = at('SIGTERM ');
    expect(trigger.indexOf('|')).toBe(barStart);
    const step1 = at('step http server');
    const step2 = at('step db pool');
    expect(step1).toContain('40 ms ok');
    expect(step2).toContain('20 ms failed');
    expect(lines[lines.indexOf(step2) + 1]).toBe('    db pool: pool gone');
    // The second step starts where the first ends.
    expect(step2.indexOf('[')).toBeGreaterThanOrEqual(step1.indexOf(']'));
    const server = at('TCPServer server.js:30');
    expect(server).toContain('closed 45 ms');
    // The server closed after the step that closed it began, and before the exit.
    expect(server.indexOf('|')).toBeGreaterThan(step1.indexOf('['));
    const timer = at('Timeout server.js:12');
    expect(timer).toContain('never closed *');
    expect(out).toContain("* kept the process alive (ref'd)");
    const exit = at('exit');
    expect(exit.indexOf('|')).toBe(barEnd);
    expect(exit).toContain('code 1 error');
    expect(out).toContain('total cleanup 80 ms');
  });

  it("draws the process's own stdio as staying open, not as a straggler", () => {
    const stdout = { id: 11, type: 'PipeWrap', createdAt: null, details: { stdio: 'stdout' } };
    const messages = fullRun().map((m) => {
      if (m.type === 'shutdown.start') return valid({ ...m, resources: [...m.resources, { ...stdout, ageMs: 2950, keepsAlive: false }] });
      if (m.type === 'shutdown.end') return valid({ ...m, stillOpen: [...m.stillOpen, stdout] });
      return m;
    });
    const lines = render(reportOf(messages)).split('\n');
    const pipe = lines.find((l) => l.startsWith('Pipe '));
    expect(pipe, lines.join('\n')).toMatch(/-+> stdout, stays open$/);
    // the interval that kept the process alive is still the one flagged
    expect(lines.find((l) => l.startsWith('Timeout server.js:12'))).toContain('never closed *');
  });

  it('says when the run ended abruptly, and renders children', () => {
    const messages = [...fullRun().filter((m) => m.type !== 'shutdown.end'), hello('kid', { parentRun: RUN, pid: 777, app: 'kid-app' })];
    const r = reportOf(messages, { invalidLines: 1, truncatedLastLine: true });
    const out = renderReport(r, { cwd: '/srv/app', source: 'run.ndjson', invalidSamples: [{ line: 3, error: 'not JSON' }] });
    expect(out).toContain('the run ended abruptly: the last line of the recording was cut off');
    expect(out).toContain('1 invalid line skipped');
    expect(out).toContain('line 3: not JSON');
    expect(out).toContain('vanished (killed)');
    expect(out).toContain('child process 1/1 (depth 1): pid 777 kid-app');
    for (const line of out.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
  });
});
