// The agent preloaded into an app that traces its own HTTP server with the OTel SDK: loopscope's
// spans reach a real OTLP receiver for every ending but SIGKILL, and the block links to the
// app's request span.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FIXTURES, runNode } from '../helpers/run-node.js';
import { childrenOf, startReceiver, type OtlpReceiver, type ReceivedSpan } from './otel-receiver.js';

// Durations here are checked to a few ms (the 20 ms): one retry absorbs a scheduling
// hiccup of a shared 2-core CI machine; a real regression fails both attempts.
const TIMING = { retry: 1 };

const APP = join(FIXTURES, 'otel-app.cjs');

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

function env(protocol: 'http/json' | 'http/protobuf'): Record<string, string> {
  return {
    LOOPSCOPE_OTEL: '1',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_SERVICE_NAME: 'otel-app',
    APP_OTLP_URL: receiver.url,
    // Long enough for the watchdog's live capture to land inside it on a busy 2-core machine.
    APP_BLOCK_MS: '500',
  };
}

interface Ran {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

async function runApp(mode: string, protocol: 'http/json' | 'http/protobuf'): Promise<Ran> {
  const r = runNode(APP, {
    agent: 'require',
    args: [mode],
    env: env(protocol),
    onStdout: (chunk, child) => {
      if (mode === 'signal' && chunk.includes('ready')) child.kill('SIGTERM');
    },
  });
  const res = await r;
  return { pid: r.child.pid!, code: res.code, signal: res.signal, stderr: res.stderr };
}

function loopscopeSpans(pid: number): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.scope === 'loopscope' && s.resource['process.pid'] === pid);
}

/** The block inside the request handler, linked to the server span the app's own SDK exported. */
async function assertBlockLinked(pid: number, protocol: 'json' | 'protobuf'): Promise<void> {
  const spans = loopscopeSpans(pid);
  // Start-up (module loading) may block too; the one under test is in the request handler.
  const blocks = spans.filter((s) => s.name === 'event_loop.block' && s.attributes['code.function.name'] === 'busyLoop');
  expect(blocks.length, JSON.stringify(spans.filter((s) => s.name === 'event_loop.block').map((s) => s.attributes))).toBe(1);
  const block = blocks[0]!;
  expect(block.encoding).toBe(protocol);
  expect(block.resource['service.name']).toBe('otel-app');
  expect(block.endMs - block.startMs).toBeGreaterThan(480);
  // The whole callback blocks, not only busyLoop (the app's own span export runs in it too).
  expect(block.endMs - block.startMs).toBeLessThan(1000);
  expect(block.attributes['code.function.name']).toBe('busyLoop');
  expect(String(block.attributes['code.file.path'])).toMatch(/otel-app\.cjs$/);
  expect(String(block.attributes['code.stacktrace'])).toMatch(/at busyLoop \(.*otel-app\.cjs:\d+:\d+\)/);
  expect(block.links).toHaveLength(1);
  const link = block.links[0]!;
  // The app's own exporter sent its request span to the same receiver: the link points at it.
  await receiver.waitFor((all) => all.some((s) => s.spanId === link.spanId), 3000);
  const appSpan = receiver.spans.find((s) => s.spanId === link.spanId)!;
  expect(appSpan.resource['service.name']).toBe('otel-app-own');
  expect(appSpan.traceId).toBe(link.traceId);
  expect(appSpan.name).toMatch(/^GET/);
  // The block happened during the request: the two overlap (the block's edges are dated by the
  // heartbeat, which a loaded machine delays, so no tighter bound).
  expect(block.startMs).toBeLessThan(appSpan.endMs);
  expect(block.endMs).toBeGreaterThan(appSpan.startMs);
}

function shutdownTree(pid: number): { root: ReceivedSpan; children: ReceivedSpan[] } {
  const spans = loopscopeSpans(pid);
  const roots = spans.filter((s) => s.name === 'process.shutdown');
  expect(roots).toHaveLength(1);
  return { root: roots[0]!, children: childrenOf(spans, roots[0]!) };
}

describe('otel export with the agent preloaded (real app, real SDK exporters)', TIMING, () => {
  it('clean shutdown through the cleanup API: steps and resources as children, http/protobuf', async () => {
    const r = await runApp('clean', 'http/protobuf');
    expect(r.code).toBe(0);
    await assertBlockLinked(r.pid, 'protobuf');
    const { root, children } = shutdownTree(r.pid);
    expect(root.attributes['loopscope.shutdown.trigger']).toBe('api');
    expect(root.attributes['loopscope.shutdown.outcome']).toBe('clean');
    expect(root.attributes['process.exit.code']).toBe(0);
    const steps = children.filter((c) => c.name.startsWith('step '));
    expect(steps.map((s) => s.name).sort()).toEqual(['step flush queue', 'step http server', 'step ticker']);
    const flush = steps.find((s) => s.name === 'step flush queue')!;
    expect(flush.endMs - flush.startMs).toBeGreaterThanOrEqual(35);
    expect(flush.endMs - flush.startMs).toBeLessThan(40 + 20);
    const server = children.find((c) => c.name === 'resource TCPServerWrap');
    expect(server, 'the listening server is a resource child').toBeDefined();
    expect(server!.attributes['loopscope.resource.still_open']).toBe(false);
    // Closed by its step: after the step began.
    const httpStep = steps.find((s) => s.name === 'step http server')!;
    expect(server!.endMs).toBeGreaterThanOrEqual(httpStep.startMs);
  });

  it('process.exit(3) with the server open: still-open resources marked, http/json', async () => {
    const r = await runApp('exit', 'http/json');
    expect(r.code).toBe(3);
    await assertBlockLinked(r.pid, 'json');
    const { root, children } = shutdownTree(r.pid);
    expect(root.attributes['loopscope.shutdown.trigger']).toBe('exit');
    expect(root.attributes['loopscope.shutdown.outcome']).toBe('error');
    expect(root.attributes['process.exit.code']).toBe(3);
    expect(root.status.code).toBe(2);
    const server = children.find((c) => c.name === 'resource TCPServerWrap');
    expect(server?.attributes['loopscope.resource.still_open']).toBe(true);
    expect(server?.endMs).toBe(root.endMs);
  });

  it('a crash: outcome crash with the exception, http/protobuf', async () => {
    const r = await runApp('crash', 'http/protobuf');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/boom in otel-app/);
    await assertBlockLinked(r.pid, 'protobuf');
    const { root, children } = shutdownTree(r.pid);
    expect(root.attributes['loopscope.shutdown.trigger']).toBe('uncaughtException');
    expect(root.attributes['loopscope.shutdown.outcome']).toBe('crash');
    expect(root.events.find((e) => e.name === 'exception')?.attributes['exception.message']).toMatch(/boom in otel-app/);
    expect(children.some((c) => c.name === 'resource TCPServerWrap')).toBe(true);
  });

  it('SIGTERM handled by shutdown.onSignals: steps run, tree exported before the exit, http/json', async () => {
    const r = await runApp('signal', 'http/json');
    expect(r.code).toBe(0);
    await assertBlockLinked(r.pid, 'json');
    const { root, children } = shutdownTree(r.pid);
    expect(root.attributes['loopscope.shutdown.trigger']).toBe('SIGTERM');
    expect(root.attributes['loopscope.shutdown.outcome']).toBe('clean');
    expect(children.filter((c) => c.name.startsWith('step ')).length).toBe(3);
    expect(children.some((c) => c.name === 'resource TCPServerWrap')).toBe(true);
  });
});

describe('otel export of a loop that never returns', () => {
  it('exports the block while it still runs, with its stack, before the process is SIGKILLed', async () => {
    let pid = 0;
    let seen: ReceivedSpan | undefined;
    const res = await runNode(join(FIXTURES, 'block-forever.cjs'), {
      agent: 'require',
      env: { ...env('http/protobuf'), START_MS: '200' },
      onStdout: (chunk, child) => {
        if (!chunk.includes('spinning')) return;
        pid = child.pid!;
        // The main thread never runs again: only the worker can have sent this span.
        void receiver
          .waitFor((all) => all.some((s) => s.resource['process.pid'] === pid && s.name === 'event_loop.block'), 15_000)
          .then(() => {
            seen = loopscopeSpans(pid).find((s) => s.name === 'event_loop.block');
          })
          .catch(() => undefined)
          .finally(() => child.kill('SIGKILL'));
      },
    });
    expect(res.signal).toBe('SIGKILL');
    expect(seen, 'a block span arrived while the loop was still spinning').toBeDefined();
    const span = seen!;
    expect(span.attributes['loopscope.block.ended']).toBe(false);
    expect(span.attributes['code.function.name']).toBe('spinForever');
    expect(String(span.attributes['code.stacktrace'])).toMatch(/at spinForever \(.*block-forever\.cjs:\d+:\d+\)\n\s+at Timeout\.startSpinning/);
    expect(span.attributes['loopscope.callback.type']).toBe('Timeout');
    expect(span.status.code).toBe(2);
    expect(span.status.message).toMatch(/still blocked after \d+ ms/);
    // exported once it had run for 5 s (LONG_BLOCK_EXPORT_MS), ended at the export
    expect(span.endMs - span.startMs).toBeGreaterThanOrEqual(5000);
    expect(span.attributes['loopscope.block.duration_ms']).toBeGreaterThanOrEqual(5000);
  });
});
