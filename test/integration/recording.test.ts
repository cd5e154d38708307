// The recording file: NDJSON of the protocol, written by the agent worker; a path it cannot write
// costs the app nothing but one warning, and a full disk loses messages, counted, until it resumes.
import { describe, it, expect } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runNode, readRecording, tempDir, FIXTURES, PRELOAD } from '../helpers/run-node.js';
import { parseMessageText, type Message, type Notice } from '../../shared/protocol.js';
import { Recorder, resolveRecordPath } from '../../agent/worker/recorder.js';

const EXIT_FIXTURE = join(FIXTURES, 'block-exit.cjs');

function warningLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('loopscope: '));
}

function withoutWarnings(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.startsWith('loopscope: '))
    .join('\n');
}

describe('the recording file', () => {
  it('holds valid protocol messages, with the hello, at a path with %p replaced by the pid', async () => {
    const dir = tempDir();
    const res = await runNode(join(FIXTURES, 'block-timeout.mjs'), { env: { LOOPSCOPE_RECORD: join(dir, 'rec-%p.ndjson') } });
    expect(res.code, res.stderr).toBe(0);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    const name = files[0]!;
    expect(name).toMatch(/^rec-\d+\.ndjson$/);
    const messages = readRecording(join(dir, name));
    // The worker writes a block as soon as it sees it; the hello comes with the main thread's first
    // batch, so a block in the first interval can precede it.
    const hello = messages.find((m) => m.type === 'hello');
    expect(hello).toBeDefined();
    if (hello?.type !== 'hello') return;
    expect(name).toBe(`rec-${hello.pid}.ndjson`);
    // every line is one complete message of this run
    const text = readFileSync(join(dir, name), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trimEnd().split('\n')) expect(parseMessageText(line).ok).toBe(true);
    expect(new Set(messages.map((m) => m.run))).toEqual(new Set([hello.run]));
    expect(messages.some((m) => m.type === 'block' && m.ended)).toBe(true);
  });

  it('resolves a relative path against the working directory and appends', () => {
    expect(resolveRecordPath('out/%p.ndjson', 42, '/srv/app')).toBe('/srv/app/out/42.ndjson');
    expect(resolveRecordPath('/abs/rec-%p-%p.ndjson', 7, '/srv/app')).toBe('/abs/rec-7-7.ndjson');
  });

  // The unwritable path fails at open, when the worker starts; /dev/full only at the first write,
  // so its app must get back to its loop for the warning to reach the main thread and stderr.
  for (const [label, path, script, code] of [
    ['an unwritable path', '/proc/x/y.ndjson', EXIT_FIXTURE, 3],
    ['a full disk (/dev/full)', '/dev/full', join(FIXTURES, 'block-steady.mjs'), 0],
  ] as const) {
    it(`with ${label}: same exit code and output as without the agent, plus one warning line`, async () => {
      const env = { EXIT_CODE: '3', RUN_MS: '1500' };
      const [without, withAgent] = await Promise.all([
        runNode(script, { agent: false, env }),
        runNode(script, { agent: 'require', env: { ...env, LOOPSCOPE_RECORD: path } }),
      ]);
      expect(without.code).toBe(code);
      expect(withAgent.code, withAgent.stderr).toBe(without.code);
      expect(withAgent.signal).toBe(without.signal);
      expect(withAgent.stdout).toBe(without.stdout);
      expect(withoutWarnings(withAgent.stderr)).toBe(without.stderr);
      const warnings = warningLines(withAgent.stderr);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(path);
    });
  }
});

describe('the recorder after a write failure', () => {
  it('counts what it lost and says so in the file when it can write again', async () => {
    const dir = tempDir();
    const path = join(dir, 'not-yet', 'rec.ndjson');
    const warnings: string[] = [];
    const recorder = new Recorder(path, 'run1', (m) => warnings.push(m), { retryMs: 0 });
    const notice = (i: number): Notice => ({ type: 'notice', run: 'run1', ts: Date.now(), level: 'info', code: `m${i}`, message: 'x' });
    recorder.write([notice(1), notice(2)]);
    recorder.write([notice(3)]);
    expect(existsSync(path)).toBe(false);
    expect(warnings).toHaveLength(1);
    mkdirSync(join(dir, 'not-yet'));
    recorder.write([notice(4)]);
    await recorder.flush();
    recorder.close();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Message);
    expect(lines.map((m) => (m.type === 'notice' ? m.code : m.type))).toEqual(['recording-gap', 'm4']);
    const gap = lines[0] as Notice;
    expect(gap.count).toBe(3);
    expect(gap.run).toBe('run1');
    expect(warnings).toHaveLength(1);
  });

  it('resumes a recording cut off by the file size limit once the limit is lifted, with a count of the gap', async () => {
    const dir = tempDir();
    const record = join(dir, 'rec.ndjson');
    // soft limit of 4 KiB on file size: writes past it fail with EFBIG (Node ignores SIGXFSZ)
    const child = spawn('bash', ['-c', `ulimit -S -f 4; exec "${process.execPath}" -r "${PRELOAD}" "${join(FIXTURES, 'block-steady.mjs')}"`], {
      env: { ...process.env, LOOPSCOPE_RECORD: record, LOOPSCOPE_INTERVAL_MS: '50', RUN_MS: '3000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // Lift the limit once a write has hit it (its warning is out), however slow the machine is.
    const deadline = performance.now() + 15_000;
    while (!/EFBIG/.test(stderr) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const sizeWhileLimited = readFileSync(record).length;
    execFileSync('prlimit', ['--pid', String(child.pid), '--fsize=unlimited:unlimited']);
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code).toBe(0);
    expect(stdout).toBe('steady done\n');
    expect(sizeWhileLimited).toBeLessThanOrEqual(4096);
    const warnings = warningLines(stderr);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/EFBIG/);
    // every line is whole: a write cut by the limit was taken back
    const messages = readRecording(record);
    const text = readFileSync(record, 'utf8');
    for (const line of text.trimEnd().split('\n')) expect(parseMessageText(line).ok).toBe(true);
    const gaps = messages.filter((m): m is Notice => m.type === 'notice' && m.code === 'recording-gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.count).toBeGreaterThan(0);
    // and recording went on after the gap, up to the end of the run
    const gapAt = messages.indexOf(gaps[0]!);
    expect(messages.slice(gapAt + 1).some((m) => m.type === 'loop')).toBe(true);
    expect(text.length).toBeGreaterThan(4096);
  });
});
