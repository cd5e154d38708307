// Main-thread side of the export, for an app that registered its own global tracer or meter
// provider: loopscope's block spans and metrics then go through the app's providers, so they
// carry the app's resource, sampling and exporters and land in its traces. It loads no package:
// the app's @opentelemetry/api registration (a global symbol) is all it uses, read lazily
// because a preloaded agent starts before the app registers anything.
//
// Division of labour with the worker sink (agent/worker/otel/sink.ts), through ownership bits:
// - blocks: the app's tracer when it has one. A block span is made once the block has ended,
//   when the main thread runs again, so the app's span processor exports it as usual.
// - metrics: the app's meter when it has one (the worker stops its own meter provider).
// - the shutdown tree stays in the worker in every case: it ends at the exit, when the main
//   thread can no longer run an exporter, and only the worker's bounded flush gets it out.
import type { Context, Meter, MeterProvider, Tracer, TracerProvider } from '@opentelemetry/api';
import type { Message, Unstamped } from '../../shared/protocol.js';
import { MetricsRecorder } from '../worker/otel/metrics.js';
import { SpanTranslator, TRACER_NAME } from '../worker/otel/spans.js';
import { API_GLOBAL, APP_OWNS_BLOCKS, APP_OWNS_METRICS, appProviders } from '../worker/otel/ownership.js';

export { APP_OWNS_BLOCKS, APP_OWNS_METRICS, appProviders };

const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN');

interface ApiGlobal {
  version?: string;
  trace?: TracerProvider;
  metrics?: MeterProvider;
}

/** A context with nothing active: the API's ROOT_CONTEXT, rebuilt without importing the API. */
class PlainContext implements Context {
  constructor(private readonly values: ReadonlyMap<symbol, unknown> = new Map()) {}
  getValue(key: symbol): unknown {
    return this.values.get(key);
  }
  setValue(key: symbol, value: unknown): Context {
    const next = new Map(this.values);
    next.set(key, value);
    return new PlainContext(next);
  }
  deleteValue(key: symbol): Context {
    const next = new Map(this.values);
    next.delete(key);
    return new PlainContext(next);
  }
}

export interface AppOtelBridgeOptions {
  version: string;
  warn: (message: string) => void;
  /** Publishes the ownership bits for the worker (e.g. an Atomics.store into shared memory). */
  publish: (bits: number) => void;
}

export class AppOtelBridge {
  private bits = 0;
  private translator: SpanTranslator | null = null;
  private recorder: MetricsRecorder | null = null;
  private failed = false;

  constructor(private readonly options: AppOtelBridgeOptions) {}

  /** Ownership bits published so far. */
  get owns(): number {
    return this.bits;
  }

  /**
   * Looks for the app's providers now. Call it where a block has just ended on the main thread
   * (before the worker is told), so a block of the app's first request already goes to the app.
   */
  refresh(): void {
    if (this.failed || this.bits === (APP_OWNS_BLOCKS | APP_OWNS_METRICS)) return;
    try {
      this.adopt();
    } catch (err) {
      this.failed = true;
      this.options.warn(`export through the app's OpenTelemetry providers stopped: ${(err as Error).message}`);
    }
  }

  /**
   * Every record the main thread makes, and every block the worker forwards. Cheap when the app
   * has no provider: one global lookup per call. Never throws.
   */
  handle(m: Message | Unstamped): void {
    if (this.failed) return;
    try {
      if (this.bits !== (APP_OWNS_BLOCKS | APP_OWNS_METRICS)) this.adopt();
      if (this.translator && m.type === 'block') this.translator.handle(m);
      if (this.recorder) this.recorder.handle(m);
    } catch (err) {
      this.failed = true;
      this.options.warn(`export through the app's OpenTelemetry providers stopped: ${(err as Error).message}`);
    }
  }

  private adopt(): void {
    const found = appProviders();
    if ((found & ~this.bits) === 0) return;
    const api = (globalThis as Record<symbol, ApiGlobal | undefined>)[API_GLOBAL]!;
    if (found & APP_OWNS_BLOCKS && !this.translator && api.trace) {
      const tracer: Tracer = api.trace.getTracer(TRACER_NAME, this.options.version);
      const root = new PlainContext();
      this.translator = new SpanTranslator(tracer, { root, setSpan: (c, span) => c.setValue(SPAN_KEY, span) }, { stackFrames: 20 });
    }
    if (found & APP_OWNS_METRICS && !this.recorder && api.metrics) {
      const meter: Meter = api.metrics.getMeter(TRACER_NAME, this.options.version);
      this.recorder = new MetricsRecorder(meter);
    }
    this.bits = found;
    this.options.publish(found);
  }
}
