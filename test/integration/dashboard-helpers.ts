// Shared by the dashboard tests: the built dashboard as a real child process, real ws clients.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { FIXTURES } from '../helpers/run-node.js';
import { PROTOCOL_VERSION, AGENT_VERSION } from '../../shared/version.js';
import type { Message } from '../../shared/protocol.js';
import type { LiveEvent } from '../../shared/dashboard-api.js';

export interface DashboardProcess {
  child: ChildProcess;
  port: number;
  url: string;
  token: string | null;
  logs: string[];
  /** Graceful (SIGTERM) unless told otherwise; resolves when the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** RSS and heap (after a gc with nodeArgs ['--expose-gc']) and the longest loop block since the last call. */
  memory(): Promise<{ rss: number; heapUsed: number; loopMaxMs: number }>;
}

export async function startDashboardProcess(opts: {
  port?: number;
  data?: string;
  token?: string;
  open?: string[];
  host?: string;
  pingMs?: number;
  maxDataBytes?: number;
  maxMemoryBytes?: number;
  nodeArgs?: string[];
}): Promise<DashboardProcess> {
  const args = [...(opts.nodeArgs ?? []), join(FIXTURES, 'dashboard-server.mjs'), '--port', String(opts.port ?? 0)];
  if (opts.maxDataBytes) args.push('--max-data', String(opts.maxDataBytes));
  if (opts.maxMemoryBytes) args.push('--max-memory', String(opts.maxMemoryBytes));
  if (opts.data) args.push('--data', opts.data);
  if (opts.token) args.push('--token', opts.token);
  if (opts.host) args.push('--host', opts.host);
  if (opts.pingMs) args.push('--ping-ms', String(opts.pingMs));
  for (const f of opts.open ?? []) args.push('--open', f);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const memWaiters: ((m: { rss: number; heapUsed: number; loopMaxMs: number }) => void)[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const ready = await new Promise<{ port: number; url: string; token: string | null }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`dashboard did not start: ${stderr}`)), 15_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('LOG ')) logs.push(line.slice(4));
        if (line.startsWith('MEM ')) memWaiters.shift()?.(JSON.parse(line.slice(4)));
        if (line.startsWith('READY ')) {
          clearTimeout(timer);
          resolve(JSON.parse(line.slice(6)));
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dashboard exited (${code}): ${stderr}`));
    });
  });
  return {
    child,
    ...ready,
    logs,
    memory: () =>
      new Promise((resolve) => {
        memWaiters.push(resolve);
        child.kill('SIGUSR2');
      }),
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export async function waitFor<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Client {
  ws: WebSocket;
  received: unknown[];
  closed: Promise<{ code: number; reason: string }>;
}

export async function connect(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<Client> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
  const received: unknown[] = [];
  ws.on('message', (d) => received.push(JSON.parse(String(d))));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, received, closed };
}

export function hello(run: string, app = 'test-app', extra: Partial<Message> = {}): Message {
  const now = Date.now();
  return {
    type: 'hello',
    run,
    ts: now,
    protocol: PROTOCOL_VERSION,
    agentVersion: AGENT_VERSION,
    app,
    pid: 1000,
    ppid: 1,
    parentRun: null,
    hostname: 'test-host',
    argv: ['node', 'app.js'],
    execArgv: [],
    nodeVersion: process.version,
    platform: process.platform,
    arch: process.arch,
    startedAt: now,
    mode: 'default',
    config: {},
    ...extra,
  } as Message;
}

export function loop(run: string, ts = Date.now(), p99 = 1): Message {
  return {
    type: 'loop',
    run,
    ts,
    intervalMs: 1000,
    delay: { minMs: 0, meanMs: 0.5, p50Ms: 0.4, p90Ms: 0.8, p99Ms: p99, maxMs: p99 + 1 },
    utilization: 0.1,
  };
}

export function shutdownPair(run: string, ts = Date.now()): Message[] {
  return [
    { type: 'shutdown.start', run, ts, trigger: 'SIGTERM', reason: null, startedAt: ts, resources: [], snapshotTruncated: 0 },
    {
      type: 'shutdown.end',
      run,
      ts: ts + 5,
      durationMs: 5,
      outcome: 'clean',
      exit: { code: 0, signal: null },
      exitCaller: null,
      error: null,
      stillOpen: [],
    },
  ];
}

/** A /live event of kind 'message' matching the predicate. */
export function liveMessages(events: unknown[]): Message[] {
  return (events as LiveEvent[]).filter((e) => e.kind === 'message').map((e) => (e as { message: Message }).message);
}

export async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as T };
}
