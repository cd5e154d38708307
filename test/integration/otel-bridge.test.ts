// An app that registered its own global tracer/meter providers: loopscope's blocks and metrics go
// through them (main-thread bridge), and the worker sink stops exporting what the app took over
// while still getting the shutdown tree out at the exit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FIXTURES, runNode } from '../helpers/run-node.js';
import { startReceiver, type OtlpReceiver } from './otel-receiver.js';

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

describe('otel: the app registered its own providers', () => {
  it('the hook publishes them at once and the bridge (loaded then) sends block span and metrics with the app resource', async () => {
    const r = runNode(join(FIXTURES, 'otel-bridge.mjs'), { agent: false, env: { APP_OTLP_URL: receiver.url } });
    const res = await r;
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout.trim())).toEqual({ before: 0, afterRefresh: 3, readyBeforeLoad: false, ready: true, published: [3] });

    const blocks = receiver.spans.filter((s) => s.name === 'event_loop.block');
    expect(blocks).toHaveLength(1);
    const b = blocks[0]!;
    expect(b.scope).toBe('loopscope');
    expect(b.resource['service.name']).toBe('bridge-app');
    expect(b.endMs - b.startMs).toBeCloseTo(250, 0);
    expect(b.attributes['code.function.name']).toBe('renderReport');
    expect(b.attributes['loopscope.block.stack_kind']).toBe('live');
    expect(b.parentSpanId).toBe('');
    expect(b.links.map((l) => l.spanId)).toEqual(['b7ad6b7169203331']);

    const names = new Set(receiver.metrics.filter((m) => m.scope === 'loopscope').map((m) => m.name));
    for (const n of ['nodejs.eventloop.delay.p99', 'nodejs.eventloop.utilization', 'loopscope.resources.live', 'loopscope.eventloop.blocked.time', 'loopscope.eventloop.blocks', 'loopscope.syncio.time']) {
      expect(names.has(n), n).toBe(true);
    }
    const blocked = receiver.metrics.find((m) => m.name === 'loopscope.eventloop.blocked.time')!;
    expect(blocked.resource['service.name']).toBe('bridge-app');
    expect(JSON.stringify(blocked.data)).toMatch(/"asDouble":0\.25\b/);
  });

  it('the worker sink forwards blocks it no longer owns and still exports the shutdown tree', async () => {
    const before = receiver.spans.length;
    const r = runNode(join(FIXTURES, 'otel-driver.mjs'), {
      agent: false,
      args: ['exit'],
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_METRICS_EXPORTER: 'none', DRIVER_APP_OWNS: '3' },
    });
    const res = await r;
    expect(res.code).toBe(3);
    // Only the ended block, with the live stack its first message carried.
    expect(res.stdout).toMatch(/forwarded \[1:true:busyLoop\]/);
    const mine = receiver.spans.slice(before).filter((s) => s.resource['process.pid'] === r.child.pid);
    expect(mine.some((s) => s.name === 'event_loop.block')).toBe(false);
    expect(mine.filter((s) => s.name === 'process.shutdown')).toHaveLength(1);
  });
});
