// `loopscope report` as a user runs it, on input that is not a tidy recording: a real app whose
// name, argv and error try to drive the terminal, a line of 128 MiB, 100,000 runs in one stream,
// runs of another protocol version, input that cannot be read.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, PRELOAD, readRecording, runNode, tempDir } from '../helpers/run-node.js';
import type { Report } from '../../shared/report-json.js';

const dir = tempDir('loopscope-report-cli-');

interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * The built CLI with `input` written to its standard input as it reads it (a generator, so a
 * huge input never exists in this process at once). `heapMb` caps the CLI's V8 heap: a reader
 * that held a line or every run would die of it.
 */
function report(args: string[], input?: () => Generator<string | Buffer>, heapMb?: number): Promise<CliResult> {
  const env = { ...process.env, NODE_OPTIONS: heapMb ? `--max-old-space-size=${heapMb}` : '' };
  delete env.LOOPSCOPE_RECORD;
  const child = spawn(process.execPath, [CLI, 'report', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => {}); // the CLI may exit before it read everything; its exit says why
  if (input) {
    const gen = input();
    const pump = (): void => {
      for (let next = gen.next(); !next.done; next = gen.next()) {
        if (!child.stdin.write(next.value)) {
          child.stdin.once('drain', pump);
          return;
        }
      }
      child.stdin.end();
    };
    pump();
  } else child.stdin.end();
  return new Promise((done) => child.on('close', (code) => done({ code, stdout: Buffer.concat(out), stderr })));
}

const HELLO = {
  type: 'hello',
  ts: 1_800_000_000_000,
  protocol: 1,
  agentVersion: '0.1.0',
  app: 'many',
  ppid: 1,
  parentRun: null,
  hostname: 'h',
  argv: ['node', 'x.js'],
  execArgv: [],
  nodeVersion: 'v20.20.2',
  platform: 'linux',
  arch: 'x64',
  startedAt: 1_800_000_000_000,
  mode: 'lite',
  config: {},
};

const helloLine = (run: string, over: Record<string, unknown> = {}): string => `${JSON.stringify({ ...HELLO, run, pid: 1, ...over })}\n`;

// Raw bytes a terminal acts on: C0 controls but tab and newline, DEL, C1 (as UTF-8 they are C2 80-C2 9F),
// and the line separators.
function rawControls(bytes: Buffer): string[] {
  const text = bytes.toString('utf8');
  return [...text.matchAll(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/g)].map((m) => `U+${m[0].charCodeAt(0).toString(16)}`);
}

describe('loopscope report: untrusted text', () => {
  // Set the window title, clear the screen, write the clipboard (OSC 52), forge a line, 8-bit CSI.
  const HOSTILE = '\u001b]0;pwned\u0007\u001b[2J\u001b]52;c;cHduZWQ=\u0007\nloopscope: forged\u009b31m';

  it('prints the app name, argv and error of a real crashing app with every control character escaped', async () => {
    const appDir = join(dir, 'hostile');
    mkdirSync(appDir, { recursive: true });
    // The app's name is its script's base name (no package.json here): it carries the sequences too.
    const script = join(appDir, `app${HOSTILE.replace(/\n/g, '')}.cjs`);
    writeFileSync(script, `setInterval(() => {}, 1000);\nsetTimeout(() => { throw new Error(process.argv[2]); }, 50);\n`);
    const record = join(dir, 'hostile.ndjson');
    const run = await runNode(script, { agent: 'require', args: [HOSTILE], env: { LOOPSCOPE_RECORD: record } });
    expect(run.code).toBe(1);
    const hello = readRecording(record).find((m) => m.type === 'hello')!;
    expect(hello.type === 'hello' && hello.argv.includes(HOSTILE)).toBe(true);

    const text = await report([record]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(rawControls(text.stdout)).toEqual([]);
    const out = text.stdout.toString('utf8');
    expect(out).not.toMatch(/^loopscope: forged/m);
    expect(out).toContain('\\e]0;pwned\\u0007\\e[2J');
    expect(out).toMatch(/error: .*pwned/);

    const json = await report([record, '--json']);
    expect(json.code).toBe(0);
    expect(rawControls(json.stdout)).toEqual([]);
    // Still the same data for a program: the escapes decode to the original text.
    const parsed = JSON.parse(json.stdout.toString('utf8')) as Report;
    expect(parsed.process!.argv).toContain(HOSTILE);
    expect(parsed.shutdown!.error).toContain(HOSTILE);
  });

  it('makes an error message quoting the input terminal-safe on stderr', async () => {
    // JSON.parse quotes the text it could not read, and the file name is the user's.
    const junk = await report(['-'], function* () {
      yield `${HOSTILE.replace(/\n/g, ' ')}\n`;
    });
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/^loopscope: - holds no loopscope records \(1 invalid lines, e\.g\. line 1: not JSON: .*\\e/);
    expect(junk.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(rawControls(Buffer.from(junk.stderr))).toEqual([]);
    const missing = await report([join(dir, HOSTILE)]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('no recording at');
    expect(rawControls(Buffer.from(missing.stderr))).toEqual([]);
  });
});

describe('loopscope report: bounded whatever the input', () => {
  it('skips a 128 MiB line without a newline, with a 64 MiB heap, and reads the records around it', async () => {
    const started = performance.now();
    const r = await report(
      ['-'],
      function* () {
        yield helloLine('before');
        yield '{"type":"notice","run":"before","message":"';
        const chunk = Buffer.alloc(1024 * 1024, 0x61);
        for (let i = 0; i < 128; i++) yield chunk;
        yield '"}\n';
        yield helloLine('after', { parentRun: 'before' });
      },
      64,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout.toString('utf8');
    expect(out).toMatch(/! 1 line over the 16\.0 MiB limit skipped unread \(line 2: 128\.0 MiB\)/);
    expect(out).toContain('child process 1/1 (depth 1)');
    // Generous: linear reading takes a second or two; the quadratic reader took minutes.
    expect(performance.now() - started).toBeLessThan(60_000);
  });

  it('reads 100,000 runs with a 96 MiB heap: shows the first and the latest, counts the rest, --run finds any', async () => {
    const N = 100_000;
    function* many(): Generator<string> {
      let batch = '';
      for (let i = 0; i < N; i++) {
        batch += helloLine(`run${i}`, { pid: i });
        if (i % 1000 === 999) {
          yield batch;
          batch = '';
        }
      }
      yield batch;
    }
    const r = await report(['-', '--json'], many, 96);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout.toString('utf8')) as Report;
    expect(json.run).toBe('run0');
    expect(json.children).toHaveLength(19);
    expect(json.children.at(-1)!.run).toBe(`run${N - 1}`);
    expect(json.skipped).toMatchObject({ runsInFile: N, runsShown: 20, runsOmitted: N - 20, countsApproximate: false });

    const one = await report(['-', '--run', 'run5000', '--json'], many, 96);
    expect(one.code).toBe(0);
    const picked = JSON.parse(one.stdout.toString('utf8')) as Report;
    expect(picked.process!.pid).toBe(5000);
    expect(picked.skipped.runsShown).toBe(1);

    const none = await report(['-', '--run', 'nope'], many, 96);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('loopscope: no run nope in - (100,000 other runs; the id is the "run" field of each line)\n');
  }, 120_000);
});

describe('loopscope report: input it cannot read', () => {
  const future = (run: string): string => helloLine(run, { protocol: 2, newField: [1, 2] });

  it('refuses the runs of another protocol version and reports the rest', async () => {
    const r = await report(['-'], function* () {
      yield helloLine('ours');
      yield future('theirs');
      yield `${JSON.stringify({ type: 'whatever-2-has', run: 'theirs', ts: 1 })}\n`;
    });
    expect(r.code).toBe(0);
    const out = r.stdout.toString('utf8').replace(/\n {2}(?=\S)/g, ' ');
    expect(out).toContain('! run theirs (hello at line 2) speaks protocol 2; this loopscope reads protocol 1: its lines are skipped');
    expect(out).toContain('! 1 run of another protocol refused, 1 further line skipped');
    expect(out).not.toContain('invalid line');
  });

  it('exits 2 for a file only of another protocol, a missing file and a directory; 1 for a file of no records', async () => {
    const only = await report(['-'], function* () {
      yield future('theirs');
    });
    expect(only.code).toBe(2);
    expect(only.stderr).toBe('loopscope: - holds only runs of protocol 2 (1 run); this loopscope reads protocol 1: use a matching loopscope version\n');
    const asked = await report(['-', '--run', 'theirs'], function* () {
      yield helloLine('ours');
      for (let i = 0; i < 8; i++) yield future(`other${i}`);
      yield future('theirs');
    });
    expect(asked.code).toBe(2);
    expect(asked.stderr).toBe('loopscope: run theirs in - uses protocol 2; this loopscope reads protocol 1: use a matching loopscope version\n');
    const missing = await report([join(dir, 'nope.ndjson')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no recording at');
    const folder = await report([dir]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain('is not a file');
    const junk = await report(['-'], function* () {
      yield 'hello\nworld\n';
    });
    expect(junk.code).toBe(1);
    expect(junk.stderr).toContain('holds no loopscope records (2 invalid lines');
  });
});
