// A process that dies in its first second (a pod in a crash loop) still leaves a recording: the
// hello, written by the main thread at start, and for a crash or an exit the shutdown records,
// written by the worker or, when it is not up yet, by the main thread, never twice.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, FIXTURES, runNode, tempDir, type RunOptions } from '../helpers/run-node.js';
import { parseMessageText, type Message, type MessageOf } from '../../shared/protocol.js';

interface Death {
  messages: Message[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  record: string;
}

/** Every line of the file must be a valid protocol message: a crash or exit cuts no line. */
function strictRecording(path: string): Message[] {
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n'), 'the file ends with a whole line').toBe(true);
  return text
    .trimEnd()
    .split('\n')
    .map((line, i) => {
      const parsed = parseMessageText(line);
      if (!parsed.ok) throw new Error(`line ${i + 1} of ${path}: ${parsed.error}`);
      return parsed.message;
    });
}

async function die(script: string, args: string[], agent: RunOptions['agent'] = 'require'): Promise<Death> {
  const record = join(tempDir('loopscope-early-'), 'rec.ndjson');
  const result = await runNode(join(FIXTURES, script), { agent, args, env: { LOOPSCOPE_RECORD: record }, timeoutMs: 30_000 });
  return { messages: strictRecording(record), code: result.code, signal: result.signal, stderr: result.stderr, record };
}

function only<T extends Message['type']>(messages: Message[], type: T): MessageOf<T> {
  const found = messages.filter((m): m is MessageOf<T> => m.type === type);
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0]!;
}

/** The recording reads as `loopscope report --json` reads it (what the dashboard's upload checks too). */
function reportJson(record: string): { process: { pid: number } | null } & Record<string, unknown> {
  return JSON.parse(execFileSync(process.execPath, [CLI, 'report', record, '--json'], { encoding: 'utf8' })) as never;
}

function expectOneRun(d: Death): MessageOf<'hello'> {
  const hello = only(d.messages, 'hello');
  expect(d.messages[0]).toBe(hello);
  expect(new Set(d.messages.map((m) => m.run))).toEqual(new Set([hello.run]));
  // No record written twice (the worker and the main thread both could have).
  const lines = readFileSync(d.record, 'utf8').trimEnd().split('\n');
  expect(new Set(lines).size).toBe(lines.length);
  return hello;
}

describe('a process that dies in its first second leaves a recording', () => {
  it('an uncaught exception at start-up (CommonJS, -r): hello, crash, the error and a last sample', async () => {
    const d = await die('early-death.cjs', ['throw']);
    expect(d.code).toBe(1);
    expectOneRun(d);
    expect(only(d.messages, 'shutdown.start').trigger).toBe('uncaughtException');
    const end = only(d.messages, 'shutdown.end');
    expect(end).toMatchObject({ outcome: 'crash', exit: { code: 1, signal: null } });
    expect(end.error).toContain('boom at start-up');
    expect(d.messages.some((m) => m.type === 'loop')).toBe(true);
    expect(d.messages.some((m) => m.type === 'resources')).toBe(true);
    expect(reportJson(d.record)).toBeTruthy();
  });

  it('an uncaught exception while an ES module is evaluated (--import)', async () => {
    const d = await die('early-death.mjs', [], 'import');
    expect(d.code).toBe(1);
    expectOneRun(d);
    const end = only(d.messages, 'shutdown.end');
    expect(end.outcome).toBe('crash');
    expect(end.error).toContain('boom at ESM start-up');
    expect(reportJson(d.record)).toBeTruthy();
  });

  it('process.exit(1) at once: hello and the end with its code', async () => {
    const d = await die('early-death.cjs', ['exit']);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe('');
    expectOneRun(d);
    expect(only(d.messages, 'shutdown.start').trigger).toBe('exit');
    expect(only(d.messages, 'shutdown.end')).toMatchObject({ outcome: 'error', exit: { code: 1, signal: null } });
    expect(reportJson(d.record)).toBeTruthy();
  });

  for (const ms of [0, 50, 200, 500]) {
    it(`SIGKILL after ${ms} ms: the hello is there, and nothing half-written`, async () => {
      const d = await die('early-death.cjs', ['kill', String(ms)]);
      expect(d.signal).toBe('SIGKILL');
      const hello = expectOneRun(d);
      expect(hello.argv).toContain('kill');
      expect(d.messages.filter((m) => m.type === 'shutdown.end')).toHaveLength(0);
      expect(reportJson(d.record).process?.pid).toBe(hello.pid);
    });
  }
});
