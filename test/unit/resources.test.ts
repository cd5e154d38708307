// The tracker in this process, with a real async_hooks hook: the stack budget, creation sites,
// liveness without a destroy hook, the agent's own resources, the snapshot and the modes.
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ResourceTracker } from '../../agent/resources/tracker.js';
import type { AgentOptions } from '../../agent/config.js';
import type { AgentContext } from '../../agent/context.js';
import { testContext } from '../helpers/context.js';
import type { Unstamped } from '../../shared/protocol.js';
import { ROOT } from '../helpers/run-node.js';

const THIS_FILE = import.meta.filename;

function context(options: AgentOptions, records: Unstamped[] = []): AgentContext {
  return testContext(options, { records, frameOptions: { ignorePrefixes: [join(ROOT, 'agent'), join(ROOT, 'shared')] } });
}

const trackers: ResourceTracker[] = [];
const timers: NodeJS.Timeout[] = [];
afterEach(() => {
  for (const t of trackers.splice(0)) t.disable();
  for (const t of timers.splice(0)) clearInterval(t);
});

function tracker(options: AgentOptions, records?: Unstamped[]): { t: ResourceTracker; ctx: AgentContext } {
  const ctx = context(options, records);
  const t = new ResourceTracker(ctx);
  t.enable();
  trackers.push(t);
  return { t, ctx };
}

describe('ResourceTracker budget', () => {
  it('counts every long-lived resource but captures stacks only within the budget', () => {
    const { t } = tracker({ stackBudget: 5, oldest: 100 });
    t.sample();
    for (let i = 0; i < 50; i++) timers.push(setInterval(() => {}, 10_000));
    const s = t.sample();
    expect(s.created?.Timeout).toBeGreaterThanOrEqual(50);
    expect(s.tracked).toBeGreaterThanOrEqual(50);
    expect(s.stacksSkipped).toBeGreaterThanOrEqual(45);
    const mine = s.oldest.filter((r) => r.createdAt?.file === THIS_FILE);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    expect(mine.length).toBeLessThanOrEqual(5);
    // those past the budget are still listed, without a creation site
    expect(s.oldest.filter((r) => r.type === 'Timeout' && r.createdAt === null).length).toBeGreaterThanOrEqual(45);
    // the next sample starts a new count
    expect(t.sample().stacksSkipped).toBe(0);
  });

  it('tracks only so many one-shot timers a second (request deadlines), counting them all', () => {
    const { t } = tracker({ stackBudget: 5 });
    t.sample();
    const deadlines = Array.from({ length: 500 }, () => setTimeout(() => {}, 5000));
    const s = t.sample();
    for (const d of deadlines) clearTimeout(d);
    expect(s.created?.Timeout).toBeGreaterThanOrEqual(500);
    expect(s.tracked).toBeGreaterThanOrEqual(50);
    expect(s.tracked).toBeLessThanOrEqual(100);
  });

  it('bounds the registry at maxTracked and says so in a notice', () => {
    const records: Unstamped[] = [];
    const { t } = tracker({ maxTracked: 20, stackBudget: 0 }, records);
    for (let i = 0; i < 30; i++) timers.push(setInterval(() => {}, 10_000));
    const s = t.sample();
    expect(s.tracked).toBe(20);
    expect(records).toEqual([expect.objectContaining({ type: 'notice', code: 'resources-untracked', count: 10 })]);
  });
});

describe('ResourceTracker liveness and sites', () => {
  it('lists a live interval at its line, drops it once cleared, skips short timeouts', () => {
    const { t } = tracker({});
    const line = new Error().stack!.split('\n')[1]!.match(/:(\d+):\d+\)?$/)![1];
    const iv = setInterval(() => {}, 5000); timers.push(iv);
    const short = setTimeout(() => {}, 10);
    const s1 = t.sample();
    const entry = s1.oldest.find((r) => r.createdAt?.file === THIS_FILE && r.createdAt.line === Number(line) + 1);
    expect(entry).toMatchObject({ type: 'Timeout', keepsAlive: true, details: { delayMs: 5000, repeat: true } });
    expect(s1.oldest.some((r) => r.details?.delayMs === 10)).toBe(false);
    expect(t.describe(iv)).toEqual({ type: 'Timeout', createdAt: entry!.createdAt });
    expect(t.stackOf(entry!.id)?.some((f) => f.file === THIS_FILE)).toBe(true);
    iv.unref();
    expect(t.sample().oldest.find((r) => r.id === entry!.id)?.keepsAlive).toBe(false);
    clearInterval(iv);
    clearTimeout(short);
    expect(t.sample().oldest.find((r) => r.id === entry!.id)).toBeUndefined();
  });

  it('sends the full creation stack only with resourceStacks on', () => {
    function openPoller(): NodeJS.Timeout {
      return setInterval(() => {}, 5000);
    }
    const plain = tracker({}).t;
    const iv1 = openPoller(); timers.push(iv1);
    expect(plain.sample().oldest.find((r) => r.createdAt?.functionName === 'openPoller')?.stack).toBeUndefined();
    plain.disable();
    const withStacks = tracker({ resourceStacks: true }).t;
    const iv2 = openPoller(); timers.push(iv2);
    const entry = withStacks.sample().oldest.find((r) => r.createdAt?.functionName === 'openPoller');
    expect(entry?.stack?.[0]).toMatchObject({ functionName: 'openPoller', file: THIS_FILE });
    expect(entry!.stack!.length).toBeGreaterThan(1);
  });

  it('tracks a server with its port until it closes, and not the connections it accepts', async () => {
    const { t } = tracker({});
    const server: Server = createServer((sock) => sock.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const { connect } = await import('node:net');
    await new Promise<void>((r) => connect(port, '127.0.0.1').on('close', () => r()).resume());
    const s = t.sample();
    const srv = s.oldest.find((r) => r.type === 'TCPServerWrap');
    expect(srv).toMatchObject({ keepsAlive: true, details: { port } });
    // listen() with a host opens the handle in a lookup callback: the site comes from listen()
    expect(srv!.createdAt?.file).toBe(THIS_FILE);
    // the client socket was tracked (closed by now); no accepted connection was ever tracked
    expect(s.oldest.filter((r) => r.type === 'TCPSocketWrap')).toEqual([]);
    const snap = t.snapshot(100);
    expect(snap.resources.find((r) => r.id === srv!.id)).toMatchObject({ type: 'TCPServerWrap', details: { port } });
    await new Promise<void>((r) => server.close(() => r()));
    expect(t.sample().oldest.find((r) => r.id === srv!.id)).toBeUndefined();
  });

  it('tracks a child process with its pid and file until it exits', async () => {
    const { t } = tracker({});
    const { spawn } = await import('node:child_process');
    const child = spawn('sleep', ['5'], { stdio: 'ignore' });
    const entry = t.sample().oldest.find((r) => r.type === 'ProcessWrap');
    expect(entry).toMatchObject({ keepsAlive: true, details: { pid: child.pid, file: 'sleep' } });
    expect(entry!.createdAt?.file).toBe(THIS_FILE);
    await new Promise<void>((r) => child.on('exit', () => r()).kill());
    expect(t.sample().oldest.find((r) => r.id === entry!.id)).toBeUndefined();
  });

  it('tracks a worker thread and a file watcher until they end', async () => {
    const { t } = tracker({});
    const { Worker } = await import('node:worker_threads');
    const { watch } = await import('node:fs');
    const worker = new Worker('setTimeout(() => {}, 100)', { eval: true });
    const watcher = watch(import.meta.dirname);
    const s = t.sample();
    const w = s.oldest.find((r) => r.type === 'Worker');
    expect(w).toMatchObject({ keepsAlive: true, details: { threadId: worker.threadId } });
    expect(w!.createdAt?.file).toBe(THIS_FILE);
    const f = s.oldest.find((r) => r.type === 'FSEventWrap');
    expect(f?.createdAt?.file).toBe(THIS_FILE);
    watcher.close();
    await new Promise<void>((r) => worker.on('exit', () => setTimeout(r, 100)));
    const after = t.sample().oldest;
    expect(after.find((r) => r.id === w!.id)).toBeUndefined();
    expect(after.find((r) => r.id === f!.id)).toBeUndefined();
  });

  it('keeps the agent\'s own resources out of oldest and the snapshot', () => {
    const { t, ctx } = tracker({});
    const own = ctx.internal(() => setInterval(() => {}, 5000));
    timers.push(own);
    const s = t.sample();
    expect(s.oldest.some((r) => r.details?.delayMs === 5000)).toBe(false);
    expect(t.snapshot(1000).resources.some((r) => r.details?.delayMs === 5000)).toBe(false);
  });

  it('lists ref\'d handles it never saw in the snapshot, without a site', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { t } = tracker({});
      const port = (server.address() as { port: number }).port;
      const snap = t.snapshot(1000);
      const untracked = snap.resources.find((r) => r.type === 'TCPServerWrap' && r.details?.port === port);
      expect(untracked).toMatchObject({ ageMs: null, createdAt: null, keepsAlive: true });
      expect(untracked!.id).toBeLessThan(0);
      expect(t.snapshot(1000).resources.find((r) => r.details?.port === port)?.id).toBe(untracked!.id);
      const small = t.snapshot(0);
      expect(small.resources).toEqual([]);
      expect(small.truncated).toBeGreaterThanOrEqual(1);
    } finally {
      server.close();
    }
  });
});

describe('ResourceTracker describe()', () => {
  it('names a request handler\'s resource and the site of the server it belongs to', async () => {
    const { t } = tracker({});
    const { createServer: createHttpServer, get } = await import('node:http');
    const { executionAsyncResource } = await import('node:async_hooks');
    let seen: ReturnType<ResourceTracker['describe']> = null;
    const server = createHttpServer((req, res) => {
      seen = t.describe(executionAsyncResource());
      res.end('ok');
    });
    // no host: with one, Node creates the handle in a lookup callback, where no app frame is left
    await new Promise<void>((r) => server.listen(0, r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => get({ port, host: '127.0.0.1', agent: false }, (res) => res.resume().on('end', () => r())));
    const s = t.sample();
    await new Promise<void>((r) => server.close(() => r()));
    expect(seen).toMatchObject({ type: 'HTTPINCOMINGMESSAGE' });
    const srv = s.oldest.find((r) => r.type === 'TCPServerWrap' && r.details?.port === port);
    expect(srv?.createdAt?.file).toBe(THIS_FILE);
    expect(seen!.createdAt).toEqual(srv!.createdAt);
    // Node's own housekeeping interval of an HTTP server is not listed as the app's
    expect(s.oldest.filter((r) => r.type === 'Timeout' && r.createdAt === null)).toEqual([]);
    expect(t.describe({})).toEqual({ type: 'Object', createdAt: null });
  });
});

describe('ResourceTracker modes', () => {
  it('lite installs no hook: counts only', () => {
    const { t } = tracker({ mode: 'lite' });
    timers.push(setInterval(() => {}, 5000));
    const s = t.sample();
    expect(s.created).toBeUndefined();
    expect(s.oldest).toEqual([]);
    expect(s.byType.Timeout).toBeGreaterThanOrEqual(1);
  });

  it('deep adds pending promises and callback timing', async () => {
    const { t } = tracker({ mode: 'deep' });
    t.sample();
    const pending = Array.from({ length: 100 }, () => new Promise(() => {}));
    await new Promise((r) => setTimeout(r, 20));
    const s = t.sample();
    expect(pending).toHaveLength(100);
    // an estimate: promises created before the hook and settled since count against it
    expect(s.pendingPromises).toBeGreaterThanOrEqual(95);
    expect(s.callbacks?.Timeout?.count).toBeGreaterThanOrEqual(1);
    expect(s.callbacks?.Timeout?.maxMs).toBeGreaterThanOrEqual(0);
  });
});
