// Starts a real node process, optionally with the built agent preloaded, and collects its output.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseMessageText, type Message } from '../../shared/protocol.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const PRELOAD = join(ROOT, 'dist', 'agent', 'preload.js');
export const CLI = join(ROOT, 'dist', 'cli', 'loopscope.js');

export interface RunOptions {
  /** Preload the agent: 'require' uses -r, 'import' uses --import, false runs without it. */
  agent?: 'require' | 'import' | false;
  env?: Record<string, string | undefined>;
  args?: string[];
  /** Kill the process after this many ms (with killSignal). */
  killAfterMs?: number;
  killSignal?: NodeJS.Signals;
  /** Give up (SIGKILL) after this many ms. */
  timeoutMs?: number;
  onStdout?: (chunk: string, child: ChildProcess) => void;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export function tempDir(prefix = 'loopscope-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function runNode(script: string, options: RunOptions = {}): Promise<RunResult> & { child: ChildProcess } {
  const agent = options.agent ?? 'require';
  const preload = agent === 'require' ? ['-r', PRELOAD] : agent === 'import' ? ['--import', PRELOAD] : [];
  const env = { ...process.env, ...options.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const started = performance.now();
  const child = spawn(process.execPath, [...preload, script, ...(options.args ?? [])], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    options.onStdout?.(d, child);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timers: NodeJS.Timeout[] = [];
  if (options.killAfterMs !== undefined) {
    timers.push(setTimeout(() => child.kill(options.killSignal ?? 'SIGKILL'), options.killAfterMs));
  }
  timers.push(setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000));
  const promise = new Promise<RunResult>((resolvePromise) => {
    child.on('close', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      resolvePromise({ code, signal, stdout, stderr, durationMs: performance.now() - started });
    });
  }) as Promise<RunResult> & { child: ChildProcess };
  promise.child = child;
  return promise;
}

/** Every complete, valid message of a recording; throws on an invalid line so tests see it. */
export function readRecording(path: string): Message[] {
  if (!existsSync(path)) throw new Error(`no recording at ${path}`);
  const out: Message[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    const parsed = parseMessageText(line);
    if (!parsed.ok) {
      if (i === lines.length - 1) continue; // a last line cut off by a kill
      throw new Error(`line ${i + 1} of ${path}: ${parsed.error}`);
    }
    out.push(parsed.message);
  }
  return out;
}
