// What `loopscope report` does with input that is not a tidy recording of one process: lines
// too long to be records, more runs than it keeps, runs of another protocol version, and text
// meant to drive the terminal.
import { describe, expect, it } from 'vitest';
import type { Message } from '../../shared/protocol.js';
import { deriveReport, type Report } from '../../shared/report-json.js';
import { terminalSafeJson } from '../../shared/terminal-text.js';
import { LineSplitter } from '../../cli/report/lines.js';
import { RecordingFolder, type ReadOptions } from '../../cli/report/read.js';
import { renderReport } from '../../cli/report/render.js';
import { T0, asNdjson, block, frame, hello, loop, valid } from '../fixtures/report-messages.js';

function read(text: string | Buffer, options: ReadOptions = {}, chunk = 64 * 1024) {
  const folder = new RecordingFolder(options);
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  for (let i = 0; i < bytes.length; i += chunk) folder.push(bytes.subarray(i, i + chunk));
  return folder.end();
}

function reportOf(text: string, options: ReadOptions = {}): Report {
  const r = read(text, options);
  const report = deriveReport(r.runs, r, r.loops);
  if (!report) throw new Error('no report');
  return report;
}

/** A clean exit: the shutdown's start and end. */
function end(run: string, ts = T0 + 100): Message[] {
  return [
    valid({ type: 'shutdown.start', run, ts: ts - 5, trigger: 'exit', reason: null, startedAt: ts - 5, resources: [], snapshotTruncated: 0 }),
    valid({ type: 'shutdown.end', run, ts, durationMs: 5, outcome: 'clean', exit: { code: 0, signal: null }, exitCaller: null, error: null, stillOpen: [] }),
  ];
}

/** The report's text with its wrapped header lines joined again. */
const unwrapped = (text: string): string => text.replace(/\n {2}(?=\S)/g, ' ');

describe('lines over bytes with a limit', () => {
  function split(input: Buffer[], max: number) {
    const seen: { line?: string; no: number; tooLong?: number; terminated?: boolean }[] = [];
    const s = new LineSplitter(
      {
        line: (line, no, terminated) => seen.push({ line, no, terminated }),
        tooLong: (no, bytes) => seen.push({ no, tooLong: bytes }),
      },
      max,
    );
    for (const b of input) s.push(b);
    s.end();
    return seen;
  }

  it('skips a line over the limit, names its number and full size, and reads the lines around it', () => {
    const long = 'x'.repeat(5000);
    const text = Buffer.from(`first\n${long}\nthird\n${long}`);
    // Fed 7 bytes at a time: the limit is checked as bytes arrive, not at the line's end.
    const chunks: Buffer[] = [];
    for (let i = 0; i < text.length; i += 7) chunks.push(text.subarray(i, i + 7));
    expect(split(chunks, 1000)).toEqual([
      { line: 'first', no: 1, terminated: true },
      { no: 2, tooLong: 5000 },
      { line: 'third', no: 3, terminated: true },
      { no: 4, tooLong: 5000 },
    ]);
  });

  it('counts bytes, not characters: 400 euro signs are 1,200 bytes', () => {
    const euros = '€'.repeat(400);
    expect(split([Buffer.from(`${euros}\n`)], 1000)).toEqual([{ no: 1, tooLong: 1200 }]);
    expect(split([Buffer.from(`${euros}\n`)], 1200)).toEqual([{ line: euros, no: 1, terminated: true }]);
  });

  it('decodes a character split across chunks, and a last line without its newline', () => {
    const bytes = Buffer.from('naïve ☃\nend');
    const seen = split([bytes.subarray(0, 4), bytes.subarray(4, 9), bytes.subarray(9)], 100);
    expect(seen).toEqual([
      { line: 'naïve ☃', no: 1, terminated: true },
      { line: 'end', no: 2, terminated: false },
    ]);
  });

  it('reads a 64 MiB line without a newline in bounded memory: what it holds stays under the limit', () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const seen: number[] = [];
    const s = new LineSplitter({ line: () => seen.push(-1), tooLong: (_no, bytes) => seen.push(bytes) }, 1024 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 64; i++) {
      s.push(chunk);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    s.end();
    expect(seen).toEqual([64 * 1024 * 1024]);
    // Holding the line would be 64 MiB; the splitter holds at most the limit (1 MiB) before it skips.
    expect(peak).toBeLessThan(8 * 1024 * 1024);
  });

  it('in a recording: the long line is counted with its number, the records around it are read', () => {
    const text = asNdjson([hello('r1')]) + `{"type":"notice","run":"r1","message":"${'a'.repeat(3000)}"}\n` + asNdjson(end('r1'));
    const r = read(text, { maxLineBytes: 2048 }, 100);
    expect(r.skipped.linesTooLong).toBe(1);
    const long = text.split('\n')[1]!;
    expect(r.skipped.tooLongSamples).toEqual([{ line: 2, bytes: Buffer.byteLength(long) }]);
    expect(r.invalidLines).toBe(0);
    const report = deriveReport(r.runs, r, r.loops)!;
    expect(report.shutdown!.outcome).toBe('clean');
    const out = renderReport(report, { cwd: '/', source: 'x.ndjson' });
    expect(out).toContain('! 1 line over the 2.0 KiB limit skipped unread (line 2: 3.0 KiB)');
  });
});

describe('many runs in one file', () => {
  /** A root, then `n` short top-level runs appended after it (a CI job appending to one file). */
  function appended(n: number): string {
    const parts = [asNdjson([hello('root', { app: 'the-root' }), loop('root', T0 + 1000, 1000, 1, 2, 3, 0.5)])];
    for (let i = 0; i < n; i++) parts.push(asNdjson([hello(`run${i}`, { pid: 10_000 + i, ts: T0 + i }), ...end(`run${i}`, T0 + i + 10)]));
    return parts.join('');
  }

  it('keeps the first top-level run and the most recent others, and counts the rest', () => {
    const r = read(appended(500), { maxKept: 5 });
    expect([...r.runs.keys()]).toEqual(['root', 'run496', 'run497', 'run498', 'run499']);
    expect(r.skipped).toMatchObject({ runsInFile: 501, runsShown: 5, runsOmitted: 496, omittedMessages: 496 * 3, countsApproximate: false });
    const report = deriveReport(r.runs, r, r.loops)!;
    expect(report.process!.app).toBe('the-root');
    expect(report.loop.intervals).toBe(1);
    expect(report.children.map((c) => c.run)).toEqual(['run496', 'run497', 'run498', 'run499']);
    const out = renderReport(report, { cwd: '/', source: 'x.ndjson' });
    expect(unwrapped(out)).toContain('! 501 runs in the file; showing 5: the first and the most recent; 496 runs (1,488 lines) counted only: use --run ID');
    for (const line of out.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
  });

  it('evicts the run least recently heard from, so a long-lived process outlives short ones', () => {
    const parts = [hello('root'), hello('worker', { parentRun: 'root' })];
    for (let i = 0; i < 50; i++) {
      parts.push(hello(`short${i}`, { parentRun: 'root' }), ...end(`short${i}`));
      parts.push(loop('worker', T0 + i * 1000, 1000, 1, 2, 3, 0.1));
    }
    const r = read(asNdjson(parts), { maxKept: 4 });
    expect([...r.runs.keys()]).toEqual(['root', 'worker', 'short48', 'short49']);
    expect(r.loops.get('worker')!.intervals).toBe(50);
  });

  it('--run picks one run and its descendants, wherever they are in the file', () => {
    const text = asNdjson([
      hello('a'),
      hello('b'),
      hello('b-child', { parentRun: 'b' }),
      hello('b-grandchild', { parentRun: 'b-child' }),
      hello('a-child', { parentRun: 'a' }),
      ...end('b'),
    ]);
    const r = read(text, { run: 'b' });
    expect(r.rootRun).toBe('b');
    const report = deriveReport(r.runs, r, r.loops)!;
    expect(report.run).toBe('b');
    expect(report.shutdown!.outcome).toBe('clean');
    expect(report.children.map((c) => c.run)).toEqual(['b-child']);
    expect(report.children[0]!.children.map((c) => c.run)).toEqual(['b-grandchild']);
    expect(r.skipped).toMatchObject({ runsInFile: 5, runsShown: 3, runsOmitted: 2 });
    expect(unwrapped(renderReport(report, { cwd: '/', source: 'x', selectedRun: 'b' }))).toContain('! showing run b and 2 descendants; 2 other runs in the file');
  });

  it('past the ids it remembers, counts runs by their hellos and says the counts are approximate', () => {
    const r = read(appended(300), { maxKept: 3, maxRememberedIds: 50 });
    expect(r.skipped.runsInFile).toBe(301);
    expect(r.skipped.countsApproximate).toBe(true);
    // The late lines of forgotten runs are not mistaken for new runs.
    expect(r.skipped.omittedMessages).toBe(298 * 3);
    expect([...r.runs.keys()]).toEqual(['root', 'run298', 'run299']);
  });
});

describe('a hello of another protocol version', () => {
  // A future agent's hello: another protocol number and fields today's schema does not know.
  const future = { ...hello('newer'), protocol: 2, app: 'from-the-future', extra: { nested: true } };
  const text = [
    asNdjson([hello('root')]),
    `${JSON.stringify(future)}\n`,
    `${JSON.stringify({ type: 'telemetry', run: 'newer', ts: T0, shape: 'unknown today' })}\n`,
    asNdjson([loop('newer', T0 + 1000, 1000, 1, 2, 3, 0.5), ...end('root')]),
  ].join('');

  it('is refused: its run is left out with every line of it counted, the rest of the file is read', () => {
    const r = read(text);
    expect([...r.runs.keys()]).toEqual(['root']);
    expect(r.invalidLines).toBe(0);
    expect(r.skipped).toMatchObject({ refusedRuns: 1, refusedMessages: 2, refusedSamples: [{ run: 'newer', protocol: 2, line: 2 }], readerProtocol: 1 });
    const out = unwrapped(renderReport(deriveReport(r.runs, r, r.loops)!, { cwd: '/', source: 'x' }));
    expect(out).not.toContain('ended abruptly');
    expect(out).toContain('! run newer (hello at line 2) speaks protocol 2; this loopscope reads protocol 1: its lines are skipped');
    expect(out).toContain('! 1 run of another protocol refused, 2 further lines skipped: use a matching loopscope version');
    expect(out).not.toContain('from-the-future');
  });

  it('drops what was read of that run before its hello', () => {
    const early = asNdjson([loop('newer', T0, 1000, 1, 2, 3, 0.5)]);
    const r = read(early + text);
    expect([...r.runs.keys()]).toEqual(['root']);
    expect(r.skipped.refusedMessages).toBe(3);
  });
});

describe('terminal safety', () => {
  // Each of these, printed raw, acts on the terminal: set the title, clear the screen, write the
  // clipboard (OSC 52), forge a line, and the 8-bit CSI (C1) that some terminals obey in UTF-8.
  const hostile = ['\u001b]0;pwned\u0007', '\u001b[2J\u001b[H', '\u001b]52;c;ZWNobyBwd25lZA==\u0007', 'ok\nloopscope: forged line\r', '\u009b31m', '\u2028', '\u202eevil'].join('|');
  const H = (s: string) => `${s}${hostile}`;
  const messages: Message[] = [
    hello('root', { app: H('app'), argv: [H('/usr/bin/node'), H('/srv/x.js')], execArgv: [H('--flag')], hostname: H('box') }),
    block('root', 1, { ended: true, durationMs: 300, stack: [frame(H('fn'), H('/srv/x.js'), 3, 4)], resource: { type: H('Timeout'), createdAt: frame(H('t'), H('/srv/t.js'), 1) } }),
    valid({ type: 'syncio', run: 'root', ts: T0 + 10, calls: [{ api: H('fs.readFileSync'), count: 1, totalMs: 1, maxMs: 1, createdAt: frame(H('s'), H('/srv/s.js'), 2) }] }),
    valid({
      type: 'resources',
      run: 'root',
      ts: T0 + 20,
      byType: { [H('TCPWrap')]: 1 },
      oldest: [{ id: 1, type: H('TCPWrap'), ageMs: 5, keepsAlive: true, createdAt: frame(H('l'), H('/srv/l.js'), 9), details: { host: H('h') } }],
      tracked: 1,
    }),
    valid({ type: 'notice', run: 'root', ts: T0 + 30, level: 'warn', code: H('code'), message: H('notice') }),
    valid({
      type: 'shutdown.start',
      run: 'root',
      ts: T0 + 40,
      trigger: 'uncaughtException',
      reason: H('reason'),
      startedAt: T0 + 40,
      resources: [{ id: 1, type: H('TCPWrap'), ageMs: 5, keepsAlive: true, createdAt: frame(H('l'), H('/srv/l.js'), 9) }],
      snapshotTruncated: 0,
    }),
    valid({ type: 'shutdown.step', run: 'root', ts: T0 + 41, name: H('step'), startMs: 1, durationMs: 2, outcome: 'failed', error: H('step error') }),
    valid({ type: 'shutdown.end', run: 'root', ts: T0 + 50, durationMs: 10, outcome: 'crash', exit: { code: 1, signal: null }, exitCaller: frame(H('e'), H('/srv/e.js'), 5), error: H('Error: boom'), stillOpen: [] }),
    hello('child', { parentRun: 'root', app: H('child-app') }),
  ];
  const rawBytes = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

  it('the text report has no control or reordering character, only escapes of them; every line within 80 columns', () => {
    const r = read(asNdjson(messages));
    const report = deriveReport(r.runs, r, r.loops)!;
    const out = renderReport(report, { cwd: '/srv', source: H('file'), invalidSamples: [{ line: 1, error: H('bad') }] });
    expect(out).not.toMatch(rawBytes);
    // Newlines only end lines: no field forged one.
    expect(out).not.toMatch(/^loopscope: forged/m);
    expect(out).toContain('app\\e]0;pwned\\u0007|\\e[2J');
    expect(out).toContain('\\u009b31m');
    for (const line of out.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    // The fields that came from the app show up, escaped (cut to their columns).
    for (const field of ['app', 'fn', 'fs.readFileSync', 'TCPWrap', 'warn: notice', 'step', 'Error: boom', 'child-app']) {
      expect(out, field).toContain(`${field}\\e]0;`);
    }
  });

  it('--json stays the same JSON with every such character escaped', () => {
    const r = read(asNdjson(messages));
    const report = deriveReport(r.runs, r, r.loops)!;
    const plain = JSON.stringify(report, null, 2);
    // JSON.stringify escapes C0 controls (ESC as \u001b) but leaves C1, DEL and U+2028 raw.
    expect(plain).toContain('\u009b');
    expect(plain).toContain('\u2028');
    const safe = terminalSafeJson(plain);
    expect(safe).not.toMatch(rawBytes);
    expect(JSON.parse(safe)).toEqual(JSON.parse(plain));
    expect(JSON.parse(safe).process.app).toBe(H('app'));
  });
});
