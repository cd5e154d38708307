// The OTel sink in a real process with the real OTLP exporters, sending to a real receiver on
// loopback: the span tree of a block and of a shutdown, for each way a process ends, over
// http/json and http/protobuf; and the faults (bad settings, dead endpoint).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { FIXTURES, runNode } from '../helpers/run-node.js';
import { childrenOf, startReceiver, type OtlpReceiver, type ReceivedSpan } from './otel-receiver.js';

const DRIVER = join(FIXTURES, 'otel-driver.mjs');
const APP_TRACE = '0af7651916cd43dd8448eb211c80319c';
const APP_SPAN = 'b7ad6b7169203331';

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

function envFor(protocol: 'http/json' | 'http/protobuf', extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_SERVICE_NAME: 'driver-svc',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=obs',
    DRIVER_APP_TRACE: APP_TRACE,
    DRIVER_APP_SPAN: APP_SPAN,
    ...extra,
  };
}

function spansOfRun(pid: number | undefined): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.resource['process.pid'] === pid);
}

function assertBlock(spans: ReceivedSpan[]): void {
  const blocks = spans.filter((s) => s.name === 'event_loop.block');
  expect(blocks).toHaveLength(1);
  const b = blocks[0]!;
  expect(b.scope).toBe('loopscope');
  expect(b.endMs - b.startMs).toBeCloseTo(320, 0);
  expect(b.attributes['loopscope.block.duration_ms']).toBe(320);
  expect(b.attributes['loopscope.block.native']).toBe(false);
  expect(b.attributes['code.function.name']).toBe('busyLoop');
  expect(b.attributes['code.line.number']).toBe(40);
  expect(String(b.attributes['code.stacktrace'])).toMatch(/at busyLoop \(.*otel-driver\.mjs:40:5\)\n\s+at handleRequest/);
  expect(b.attributes['loopscope.callback.type']).toBe('HTTPINCOMINGMESSAGE');
  expect(b.attributes['loopscope.callback.created_at']).toMatch(/^listen \(.*:60:5\)$/);
  expect(b.links).toEqual([{ traceId: APP_TRACE, spanId: APP_SPAN, attributes: { 'loopscope.link.kind': 'active_span' } }]);
  expect(b.resource['service.name']).toBe('driver-svc');
  expect(b.resource['team']).toBe('obs');
}

function assertShutdown(spans: ReceivedSpan[], expected: { trigger: string; outcome: string; code: number | null; signal: string | null }): ReceivedSpan {
  const roots = spans.filter((s) => s.name === 'process.shutdown');
  expect(roots).toHaveLength(1);
  const root = roots[0]!;
  expect(root.parentSpanId).toBe('');
  expect(root.attributes['loopscope.shutdown.trigger']).toBe(expected.trigger);
  expect(root.attributes['loopscope.shutdown.outcome']).toBe(expected.outcome);
  expect(root.attributes['process.exit.code'] ?? null).toBe(expected.code);
  expect(root.attributes['loopscope.shutdown.exit_signal'] ?? null).toBe(expected.signal);
  expect(root.status.code).toBe(expected.outcome === 'clean' ? 0 : 2);

  const children = childrenOf(spans, root);
  const byName = new Map(children.map((c) => [c.name, c]));
  expect([...byName.keys()].sort()).toEqual(['resource TCPServerWrap', 'resource Timeout', 'step db pool', 'step http server']);
  const http = byName.get('step http server')!;
  expect(http.endMs - http.startMs).toBeCloseTo(30, 0);
  expect(http.startMs - root.startMs).toBeCloseTo(1, 0);
  expect(http.status.code).toBe(0);
  const db = byName.get('step db pool')!;
  expect(db.status).toEqual({ code: 2, message: 'pool.end: connection reset' });
  const server = byName.get('resource TCPServerWrap')!;
  expect(server.endMs - root.startMs).toBeCloseTo(25, 0);
  expect(server.attributes['loopscope.resource.still_open']).toBe(false);
  expect(server.attributes['loopscope.resource.details.port']).toBe(8080);
  const timer = byName.get('resource Timeout')!;
  expect(timer.attributes['loopscope.resource.still_open']).toBe(true);
  expect(timer.endMs).toBe(root.endMs);
  // The http server closed after its step began, and inside the shutdown.
  expect(server.endMs).toBeGreaterThan(http.startMs);
  expect(root.endMs).toBeGreaterThanOrEqual(db.endMs);
  return root;
}

describe('otel sink: span tree through real OTLP exporters', () => {
  it('clean exit (natural drain), http/json', async () => {
    const r = runNode(DRIVER, { agent: false, args: ['clean'], env: envFor('http/json') });
    const res = await r;
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/flushed true/);
    const spans = spansOfRun(r.child.pid);
    expect(spans.every((s) => s.encoding === 'json')).toBe(true);
    assertBlock(spans);
    assertShutdown(spans, { trigger: 'beforeExit', outcome: 'clean', code: 0, signal: null });
    expect(receiver.errors).toEqual([]);
  });

  it('process.exit(3), http/protobuf', async () => {
    const r = runNode(DRIVER, { agent: false, args: ['exit'], env: envFor('http/protobuf') });
    const res = await r;
    expect(res.code).toBe(3);
    const spans = spansOfRun(r.child.pid);
    expect(spans.every((s) => s.encoding === 'protobuf')).toBe(true);
    assertBlock(spans);
    const root = assertShutdown(spans, { trigger: 'exit', outcome: 'error', code: 3, signal: null });
    expect(root.attributes['loopscope.shutdown.exit_caller']).toMatch(/^quit \(.*:90:5\)$/);
  });

  it('crash (uncaught exception), http/json: the exception is an event of the shutdown span', async () => {
    const r = runNode(DRIVER, { agent: false, args: ['crash'], env: envFor('http/json') });
    const res = await r;
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Error: boom/);
    const spans = spansOfRun(r.child.pid);
    const root = assertShutdown(spans, { trigger: 'uncaughtException', outcome: 'crash', code: 1, signal: null });
    const ex = root.events.find((e) => e.name === 'exception');
    expect(ex?.attributes['exception.message']).toBe('Error: boom');
  });

  it('SIGTERM (re-raised, dies by the signal), http/protobuf', async () => {
    const r = runNode(DRIVER, {
      agent: false,
      args: ['signal'],
      env: envFor('http/protobuf'),
      onStdout: (chunk, child) => {
        if (chunk.includes('ready')) child.kill('SIGTERM');
      },
    });
    const res = await r;
    expect(res.signal).toBe('SIGTERM');
    const spans = spansOfRun(r.child.pid);
    const root = assertShutdown(spans, { trigger: 'SIGTERM', outcome: 'clean', code: null, signal: 'SIGTERM' });
    expect(root.events.map((e) => e.name)).toContain('signal');
  });
});

describe('otel sink: faults', () => {
  it('an invalid OTEL_* value: one clear warning, export off, the process runs as usual', async () => {
    const before = receiver.spans.length;
    const r = runNode(DRIVER, { agent: false, args: ['exit'], env: envFor('http/json', { OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' }) });
    const res = await r;
    expect(res.code).toBe(3);
    const warnings = res.stderr.split('\n').filter((l) => l.startsWith('loopscope:'));
    expect(warnings).toEqual(['loopscope: OpenTelemetry export is off: OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon" is not a protocol (http/protobuf or http/json)']);
    expect(receiver.spans.length).toBe(before);
  });

  it('a bad header list or endpoint is rejected the same way', async () => {
    for (const [name, value, pattern] of [
      ['OTEL_EXPORTER_OTLP_HEADERS', 'novalue', /OTEL_EXPORTER_OTLP_HEADERS: "novalue" is not key=value/],
      ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://x', /must be an http:\/\/ or https:\/\/ URL/],
      ['OTEL_EXPORTER_PROMETHEUS_PORT', '99999', /OTEL_EXPORTER_PROMETHEUS_PORT=99999 is out of range/],
    ] as const) {
      const env = envFor('http/json', { [name]: value, OTEL_METRICS_EXPORTER: name.includes('PROMETHEUS') ? 'prometheus' : 'none' });
      const res = await runNode(DRIVER, { agent: false, args: ['exit'], env });
      expect(res.code).toBe(3);
      expect(res.stderr).toMatch(pattern);
    }
  });

  it('an endpoint that never answers: the exit waits no longer than the bounded flush; failure warned once', async () => {
    // A TCP server that accepts and never responds: the worst case for an exporter.
    const sockets = new Set<import('node:net').Socket>();
    const black = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => black.listen(0, '127.0.0.1', resolve));
    const port = (black.address() as import('node:net').AddressInfo).port;
    try {
      const res = await runNode(DRIVER, {
        agent: false,
        args: ['exit'],
        env: envFor('http/json', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_TIMEOUT: '5000', DRIVER_FLUSH_MS: '800' }),
      });
      expect(res.code).toBe(3);
      // Bounded by the flush timeout (800 ms) plus process start; never the exporter's default 10 s.
      expect(res.durationMs).toBeLessThan(4000);
      const warnings = res.stderr.split('\n').filter((l) => l.includes('OpenTelemetry export'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/did not finish within 750 ms .*what was pending may be lost/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => black.close(() => resolve()));
    }
  });

  it('a refused connection: exported spans fail, one warning, exit code unchanged', async () => {
    const black = createServer();
    await new Promise<void>((resolve) => black.listen(0, '127.0.0.1', resolve));
    const port = (black.address() as import('node:net').AddressInfo).port;
    await new Promise<void>((resolve) => black.close(() => resolve()));
    const res = await runNode(DRIVER, { agent: false, args: ['exit'], env: envFor('http/protobuf', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_TIMEOUT: '300' }) });
    expect(res.code).toBe(3);
    const warnings = res.stderr.split('\n').filter((l) => l.includes('OpenTelemetry export'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/further failures are counted, not printed/);
  });
});
