// The callback type read from a stack's Node dispatch frames, checked on stacks captured inside
// real callbacks of this very process (timers, ticks, promises, fs, dns, net, http, a child).
import { describe, it, expect, beforeAll } from 'vitest';
import { readFile, stat } from 'node:fs';
import { lookup } from 'node:dns';
import { createServer, get } from 'node:http';
import { createServer as createNetServer, connect, type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { inferResource, calibrateEntryFrames } from '../../agent/worker/entry-frames.js';
import { parseStack } from '../../shared/stack.js';
import type { Frame } from '../../shared/protocol.js';

function here(): Frame[] {
  const prev = Error.stackTraceLimit;
  Error.stackTraceLimit = 100;
  const stack = new Error().stack;
  Error.stackTraceLimit = prev;
  return parseStack(stack);
}

function typeOf(frames: Frame[]): string | null {
  return inferResource(frames)?.type ?? null;
}

/** Runs `arm` and resolves with the stack captured where it calls `capture`. */
function stackFrom(arm: (capture: () => void) => void): Promise<Frame[]> {
  return new Promise((resolve) => arm(() => resolve(here())));
}

/**
 * Like stackFrom, for set-ups that need two timers due in the same pass: each setTimeout reads a
 * fresh loop time, so on a loaded machine the second may start 1 ms later and not be due yet. The
 * set-up is retried until the stack passes through `via`; the classification is what is tested.
 */
async function stackVia(via: (name: string) => boolean, arm: (capture: () => void) => void): Promise<Frame[]> {
  let frames: Frame[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    frames = await stackFrom(arm);
    if (frames.some((f) => via(f.functionName))) return frames;
  }
  return frames;
}

beforeAll(async () => {
  await calibrateEntryFrames();
});

describe('inferResource on real callback stacks', () => {
  it('names timers, immediates and ticks', async () => {
    expect(typeOf(await stackFrom((c) => setTimeout(c, 1)))).toBe('Timeout');
    expect(typeOf(await stackFrom((c) => setInterval(function tick(this: NodeJS.Timeout) {
      clearInterval(this);
      c();
    }, 1)))).toBe('Timeout');
    expect(typeOf(await stackFrom((c) => setImmediate(c)))).toBe('Immediate');
    expect(typeOf(await stackFrom((c) => process.nextTick(c)))).toBe('TickObject');
  });

  it('tells promise jobs from ticks, wherever the microtask queue is drained', async () => {
    // drained directly by runNextTicks between two timers due at the same time
    const betweenTimers = await stackVia((n) => n === 'runNextTicks', (c) => {
      setTimeout(() => void Promise.resolve().then(c), 1);
      setTimeout(() => undefined, 1);
    });
    expect(betweenTimers.some((f) => f.functionName === 'runNextTicks')).toBe(true);
    expect(typeOf(betweenTimers)).toBe('PROMISE');
    // the same between two immediates, which always run in the same pass
    const betweenImmediates = await stackFrom((c) => {
      setImmediate(() => void Promise.resolve().then(c));
      setImmediate(() => undefined);
    });
    expect(betweenImmediates.some((f) => f.functionName === 'runNextTicks')).toBe(true);
    expect(typeOf(betweenImmediates)).toBe('PROMISE');
    // drained by processTicksAndRejections after a tick, between two timers
    const afterTick = await stackVia((n) => n.endsWith('processTicksAndRejections'), (c) => {
      setTimeout(() => {
        process.nextTick(() => undefined);
        void Promise.resolve().then(c);
      }, 1);
      setTimeout(() => undefined, 1);
    });
    expect(afterTick.some((f) => f.functionName.endsWith('processTicksAndRejections'))).toBe(true);
    expect(typeOf(afterTick)).toBe('PROMISE');
    // a tick callback drained by the same function is still a tick
    const tickInTimer = await stackVia((n) => n === 'runNextTicks', (c) => {
      setTimeout(() => process.nextTick(c), 1);
      setTimeout(() => undefined, 1);
    });
    expect(tickInTimer.some((f) => f.functionName === 'runNextTicks')).toBe(true);
    expect(typeOf(tickInTimer)).toBe('TickObject');
    // an await resumed after a native callback: no Node frame under it at all
    const afterAwait = await stackFrom((c) => {
      void (async () => {
        await new Promise<void>((r) => stat('.', () => r()));
        c();
      })();
    });
    expect(afterAwait.every((f) => !f.file.startsWith('node:'))).toBe(true);
    expect(typeOf(afterAwait)).toBe('PROMISE');
  });

  it('names fs, dns and child process callbacks', async () => {
    expect(typeOf(await stackFrom((c) => stat('.', c)))).toBe('FSREQCALLBACK');
    expect(typeOf(await stackFrom((c) => readFile(import.meta.filename, c)))).toBe('FSREQCALLBACK');
    expect(typeOf(await stackFrom((c) => lookup('localhost', c)))).toBe('GETADDRINFOREQWRAP');
    const exitStack = await stackFrom((c) => spawn(process.execPath, ['-e', '0']).on('exit', c));
    expect(typeOf(exitStack)).toBe('PROCESSWRAP');
  });

  it('names TCP connections, socket reads and HTTP requests', async () => {
    const stacks: Record<string, Frame[]> = {};
    await new Promise<void>((done) => {
      const server = createNetServer((sock) => {
        stacks.connection = here();
        sock.on('data', () => {
          stacks.data = here();
          sock.end();
          server.close(() => done());
        });
      }).listen(0, '127.0.0.1', () => {
        const client = connect((server.address() as AddressInfo).port, '127.0.0.1', () => {
          stacks.connect = here();
          client.end('hi');
        });
      });
    });
    expect(typeOf(stacks.connection!)).toBe('TCPSERVERWRAP');
    expect(typeOf(stacks.data!)).toBe('TCPWRAP');
    expect(typeOf(stacks.connect!)).toBe('TCPCONNECTWRAP');

    await new Promise<void>((done) => {
      const server = createServer((req, res) => {
        stacks.request = here();
        res.end('ok');
      }).listen(0, '127.0.0.1', () => {
        get({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', agent: false }, (res) => {
          stacks.response = here();
          res.resume();
          res.on('end', () => server.close(() => done()));
        });
      });
    });
    expect(typeOf(stacks.request!)).toBe('HTTPINCOMINGMESSAGE');
    expect(typeOf(stacks.response!)).toBe('HTTPCLIENTREQUEST');
  });

  it('leaves the type unknown when the stack was cut at the trace limit', async () => {
    const appOnly = (await stackFrom((c) => setTimeout(c, 1))).filter((f) => !f.file.startsWith('node:'));
    expect(appOnly.length).toBeGreaterThan(0);
    expect(inferResource(appOnly, false)).toBeNull();
    expect(inferResource(appOnly, true)).toEqual({ type: 'PROMISE', createdAt: null });
    expect(inferResource([])).toBeNull();
  });

  it('reads the handle class from the receiver of onStreamRead', () => {
    const pipe = parseStack('Error\n    at Socket.emit (node:events:524:28)\n    at Pipe.onStreamRead (node:internal/stream_base_commons:191:23)');
    expect(typeOf(pipe)).toBe('PIPEWRAP');
    // an app function that happens to share a name with a Node internal is not a dispatch frame
    const lookalike = parseStack('Error\n    at listOnTimeout (/app/timers.js:1:1)\n    at process.processImmediate (node:internal/timers:483:21)');
    expect(typeOf(lookalike)).toBe('Immediate');
  });
});
