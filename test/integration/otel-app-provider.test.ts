// The app registered its own global tracer provider (sdk-trace-node's provider.register()):
// loopscope's block span goes out through it, with the app's resource and exporter, while the
// shutdown tree still leaves through the agent worker at the exit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FIXTURES, runNode } from '../helpers/run-node.js';
import { childrenOf, startReceiver, type OtlpReceiver } from './otel-receiver.js';

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

describe('otel export when the app has its own global tracer provider', () => {
  it('the block span is made with the app tracer; the shutdown tree comes from the worker', async () => {
    const r = runNode(join(FIXTURES, 'otel-app.cjs'), {
      agent: 'require',
      args: ['exit'],
      env: {
        LOOPSCOPE_OTEL: '1',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_SERVICE_NAME: 'otel-app',
        APP_OTLP_URL: receiver.url,
        APP_GLOBAL: '1',
        APP_BLOCK_MS: '500',
      },
    });
    const res = await r;
    expect(res.code).toBe(3);
    const isOurs = (s: { name: string; attributes: Record<string, unknown> }): boolean =>
      s.name === 'event_loop.block' && s.attributes['code.function.name'] === 'busyLoop';
    await receiver.waitFor((all) => all.some(isOurs), 3000);
    const blocks = receiver.spans.filter(isOurs);
    expect(blocks).toHaveLength(1);
    const block = blocks[0]!;
    // Through the app's provider: its resource, not the one loopscope's own SDK sets.
    expect(block.scope).toBe('loopscope');
    expect(block.resource['service.name']).toBe('otel-app-own');
    expect(block.resource['loopscope.run']).toBeUndefined();
    expect(String(block.attributes['code.stacktrace'])).toMatch(/at busyLoop \(.*otel-app\.cjs/);
    const link = block.links[0]!;
    const request = receiver.spans.find((s) => s.spanId === link.spanId);
    expect(request?.name).toMatch(/^GET/);
    expect(request?.traceId).toBe(link.traceId);

    const roots = receiver.spans.filter((s) => s.name === 'process.shutdown' && s.resource['process.pid'] === r.child.pid);
    expect(roots).toHaveLength(1);
    expect(roots[0]!.resource['service.name']).toBe('otel-app');
    expect(childrenOf(receiver.spans, roots[0]!).some((c) => c.name === 'resource TCPServerWrap')).toBe(true);
    // Not exported twice: the worker left the block to the app's provider.
    expect(receiver.spans.filter((s) => s.name === 'event_loop.block' && s.resource['process.pid'] === r.child.pid)).toHaveLength(0);
  });

  it('a bad OTEL_* value with the agent preloaded: one warning even when the app exits at once, exit code unchanged', async () => {
    const res = await runNode(join(FIXTURES, 'otel-quick.cjs'), {
      agent: 'require',
      env: { LOOPSCOPE_OTEL: '1', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('loopscope: OpenTelemetry export is off: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported by loopscope; use http/protobuf or http/json\n');
  });
});
