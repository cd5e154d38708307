// A block that outlasts LONG_BLOCK_EXPORT_MS is exported while it still runs (the process may be
// killed before it ends); if it ends after all, the final span links to that early one. Real SDK
// tracer with an in-memory exporter: what matters here is which spans the translator makes.
import { describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SpanTranslator } from '../../agent/worker/otel/spans.js';
import type { BlockEvent } from '../../shared/protocol.js';

function setup() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const translator = new SpanTranslator(
    provider.getTracer('loopscope'),
    { root: ROOT_CONTEXT, setSpan: (c, s) => trace.setSpan(c, s) },
    { stackFrames: 20 },
  );
  return { exporter, translator };
}

const T0 = 1_800_000_000_000;

function block(id: number, durationMs: number, ended: boolean): BlockEvent {
  return {
    type: 'block',
    run: 'r1',
    ts: T0 + durationMs,
    id,
    startedAt: T0,
    durationMs,
    ended,
    native: false,
    stackKind: 'live',
    stack: [{ functionName: 'spin', file: '/app/x.js', line: 3, column: 9 }],
    resource: { type: 'Timeout', createdAt: null },
    syncCall: null,
    captureMs: 1.5,
    appSpan: null,
  };
}

describe('blocks still running when exported', () => {
  it('nothing before the limit; one span after it, marked unended; none again on the next check', () => {
    const { exporter, translator } = setup();
    translator.handle(block(1, 150, false));
    translator.exportLongBlocks(T0 + 4999, 5000);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    translator.exportLongBlocks(T0 + 5200, 5000);
    translator.exportLongBlocks(T0 + 6200, 5000);
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    const s = spans[0]!;
    expect(s.name).toBe('event_loop.block');
    expect(s.attributes['loopscope.block.ended']).toBe(false);
    expect(s.attributes['loopscope.block.duration_ms']).toBe(5200);
    expect(s.attributes['code.function.name']).toBe('spin');
    expect(s.status.message).toBe('event loop still blocked after 5200 ms');
  });

  it('a block that ends after its early span: the final span has the full duration and links to it', () => {
    const { exporter, translator } = setup();
    translator.handle(block(2, 150, false));
    translator.exportLongBlocks(T0 + 5100, 5000);
    translator.handle(block(2, 7300, true));
    const [early, final] = exporter.getFinishedSpans();
    expect(final!.attributes['loopscope.block.ended']).toBe(true);
    expect(final!.attributes['loopscope.block.duration_ms']).toBe(7300);
    expect(final!.links).toHaveLength(1);
    expect(final!.links[0]!.context.spanId).toBe(early!.spanContext().spanId);
    expect(final!.links[0]!.attributes).toEqual({ 'loopscope.link.kind': 'still_blocked_report' });
    // ended blocks are never reported as still running
    translator.exportLongBlocks(T0 + 20_000, 5000);
    expect(exporter.getFinishedSpans()).toHaveLength(2);
  });

  it('a short block ends with one span and no link', () => {
    const { exporter, translator } = setup();
    translator.handle(block(3, 120, false));
    translator.handle(block(3, 300, true));
    translator.exportLongBlocks(T0 + 10_000, 5000);
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    expect(spans[0]!.links).toHaveLength(0);
    expect(spans[0]!.attributes['loopscope.block.ended']).toBe(true);
  });
});
