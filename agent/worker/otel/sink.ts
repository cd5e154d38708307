// The OpenTelemetry sink of the agent worker: its own tracer and meter providers, fed from the
// protocol stream. It runs in the worker because serialising and sending spans is the costly
// part, and the app's thread should pay none of it; the SDK packages are imported only here,
// only when export is on, so an app without LOOPSCOPE_OTEL never loads them.
import { hostname } from 'node:os';
import type { Sink, WarnFn } from '../sink.js';
import type { WorkerInit } from '../../worker-messages.js';
import type { BlockEvent, Hello, Message } from '../../../shared/protocol.js';
import { AGENT_VERSION } from '../../../shared/version.js';
import { otelConfigProblem, readOtelSettings, type OtelSettings, type OtlpTarget } from './config.js';
import { SpanTranslator, TRACER_NAME, mergeBlock } from './spans.js';
import { MetricsRecorder } from './metrics.js';
import { APP_OWNS_BLOCKS, APP_OWNS_METRICS } from './ownership.js';

export interface OtelSinkOptions {
  /** Defaults to process.env (a worker shares the main thread's environment). */
  env?: NodeJS.ProcessEnv;
  /** APP_OWNS_* bits the main thread published: parts the app's own providers export instead. */
  appOwns?: () => number;
  /** Hands a block to the main thread when the app's tracer owns blocks. */
  forwardBlock?: (block: BlockEvent) => void;
}

/**
 * A block still running this long is exported as a span before it ends: the main thread may never
 * return, and the process is then killed while still blocked, leaving nothing in the backend.
 */
export const LONG_BLOCK_EXPORT_MS = 5000;

const NOOP_SINK: Sink = { write: () => undefined, flush: async () => undefined, close: () => undefined };

interface Exporting {
  export(items: never, done: (result: { code: number; error?: Error }) => void): void;
}

/** Counts failed exports and warns on the first only: a dead collector must not flood stderr. */
class FailureCounter {
  failures = 0;
  private reported = 0;
  constructor(private readonly warn: WarnFn) {}

  watch<T extends object>(exporter: T, what: string): T {
    const target = exporter as unknown as Exporting;
    const original = target.export.bind(target);
    target.export = (items, done) => {
      original(items, (result) => {
        if (result.code !== 0) {
          this.failures++;
          if (this.failures === 1) {
            this.reported = 1;
            this.warn(`OpenTelemetry export of ${what} failed (${result.error?.message ?? 'unknown error'}); further failures are counted, not printed`);
          }
        }
        done(result);
      });
    };
    return exporter;
  }

  /** One closing line when more failed after the first warning. */
  summary(): void {
    if (this.failures > this.reported) {
      this.warn(`OpenTelemetry export: ${this.failures} exports failed in total`);
      this.reported = this.failures;
    }
  }
}

type Sdk = Awaited<ReturnType<typeof loadSdk>>;

async function loadSdk(settings: OtelSettings) {
  // All at once: at the exit of a short-lived process, the flush waits for this load.
  const none = Promise.resolve(null);
  const [api, resources, traceBase, metrics, traceJson, traceProto, metricJson, metricProto, prometheus] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-metrics'),
    settings.traces?.protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : none,
    settings.traces?.protocol === 'http/protobuf' ? import('@opentelemetry/exporter-trace-otlp-proto') : none,
    settings.metrics.otlp?.protocol === 'http/json' ? import('@opentelemetry/exporter-metrics-otlp-http') : none,
    settings.metrics.otlp?.protocol === 'http/protobuf' ? import('@opentelemetry/exporter-metrics-otlp-proto') : none,
    settings.metrics.prometheus ? import('@opentelemetry/exporter-prometheus') : none,
  ]);
  return {
    api,
    resources,
    traceBase,
    metrics,
    traceExporter: traceJson?.OTLPTraceExporter ?? traceProto?.OTLPTraceExporter ?? null,
    metricExporter: metricJson?.OTLPMetricExporter ?? metricProto?.OTLPMetricExporter ?? null,
    prometheus: prometheus?.PrometheusExporter ?? null,
  };
}

function exporterConfig(target: OtlpTarget): { url: string; headers: Record<string, string>; timeoutMillis: number } {
  return { url: target.url, headers: target.headers, timeoutMillis: target.timeoutMs };
}

class OtelSink implements Sink {
  private translator: SpanTranslator | null = null;
  private recorder: MetricsRecorder | null = null;
  private tracerProvider: InstanceType<Sdk['traceBase']['BasicTracerProvider']> | null = null;
  private meterProvider: InstanceType<Sdk['metrics']['MeterProvider']> | null = null;
  private built = false;
  private shutdownSeen = false;
  private failed = false;
  private flushTimeoutWarned = false;
  /** Blocks detected and not yet ended, by id (bounded): their live stack, for forwarding. */
  private readonly detected = new Map<number, BlockEvent>();
  private readonly failures: FailureCounter;
  private longBlockTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly init: WorkerInit,
    private readonly settings: OtelSettings,
    private readonly sdk: Sdk,
    private readonly warn: WarnFn,
    private readonly options: OtelSinkOptions,
  ) {
    this.failures = new FailureCounter(warn);
  }

  /** Built on the first message: the hello names the app, which becomes service.name. */
  private build(hello: Hello | null): void {
    this.built = true;
    const { api, resources, traceBase, metrics } = this.sdk;
    const s = this.settings;
    const attributes: Record<string, string | number> = {
      'service.name': this.init.config.app ?? hello?.app ?? 'node',
      'service.instance.id': this.init.run,
      'process.pid': hello?.pid ?? process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      'host.name': hello?.hostname ?? hostname(),
      'loopscope.run': this.init.run,
      'loopscope.version': AGENT_VERSION,
      // OTEL_RESOURCE_ATTRIBUTES wins over what loopscope infers, OTEL_SERVICE_NAME over both.
      ...s.resourceAttributes,
    };
    if (s.serviceName) attributes['service.name'] = s.serviceName;
    const resource = resources.defaultResource().merge(resources.resourceFromAttributes(attributes));

    if (s.traces && this.sdk.traceExporter) {
      const exporter = this.failures.watch(new this.sdk.traceExporter(exporterConfig(s.traces)), `spans to ${s.traces.url}`);
      const processor = new traceBase.BatchSpanProcessor(exporter, {
        maxQueueSize: 2048,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 1000,
        exportTimeoutMillis: s.traces.timeoutMs,
      });
      this.tracerProvider = new traceBase.BasicTracerProvider({ resource, spanProcessors: [processor] });
      const tracer = this.tracerProvider.getTracer(TRACER_NAME, AGENT_VERSION);
      this.translator = new SpanTranslator(tracer, { root: api.ROOT_CONTEXT, setSpan: (c, span) => api.trace.setSpan(c, span) }, { stackFrames: 20 });
      const translator = this.translator;
      this.longBlockTimer = setInterval(() => {
        try {
          translator.exportLongBlocks(Date.now(), LONG_BLOCK_EXPORT_MS);
        } catch {
          // a span is a nicety next to the recording
        }
      }, 1000);
      this.longBlockTimer.unref();
    }

    const readers: InstanceType<Sdk['metrics']['MetricReader']>[] = [];
    if (s.metrics.otlp && this.sdk.metricExporter) {
      const exporter = this.failures.watch(new this.sdk.metricExporter(exporterConfig(s.metrics.otlp)), `metrics to ${s.metrics.otlp.url}`);
      readers.push(
        new metrics.PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: s.metrics.intervalMs,
          exportTimeoutMillis: Math.min(s.metrics.otlp.timeoutMs, s.metrics.intervalMs),
        }),
      );
    }
    if (s.metrics.prometheus && this.sdk.prometheus) {
      const { host, port } = s.metrics.prometheus;
      readers.push(
        new this.sdk.prometheus({ host, port }, (err?: unknown) => {
          if (err) this.warn(`Prometheus exporter could not listen on ${host}:${port} (${(err as Error).message ?? String(err)}); metrics are not served`);
        }),
      );
    }
    if (readers.length > 0) {
      this.meterProvider = new metrics.MeterProvider({ resource, readers });
      this.recorder = new MetricsRecorder(this.meterProvider.getMeter(TRACER_NAME, AGENT_VERSION));
    }
  }

  write(messages: readonly Message[]): void {
    if (this.failed) return;
    try {
      const owns = this.options.appOwns?.() ?? 0;
      if (owns & APP_OWNS_METRICS && this.meterProvider) this.handOverMetrics();
      for (const m of messages) {
        if (!this.built) this.build(m.type === 'hello' ? m : null);
        if (m.type === 'shutdown.start') this.shutdownSeen = true;
        // A block the worker already exported while it ran (the main thread was stuck, so the
        // app's tracer could not) is finished here too, so its final span can link to that one.
        if (m.type === 'block' && owns & APP_OWNS_BLOCKS && !this.translator?.reportedWhileOpen(m.id)) {
          this.forward(m);
          if (!m.ended) this.translator?.handle(m);
          else this.translator?.forgetOpen(m.id);
        } else this.translator?.handle(m);
        if (m.type === 'block' && !m.ended && (this.detected.has(m.id) || this.detected.size < 100)) this.detected.set(m.id, m);
        this.recorder?.handle(m);
      }
    } catch (err) {
      // A bug here must cost the export, never the recording or the app.
      this.failed = true;
      this.warn(`OpenTelemetry export stopped: ${(err as Error).message}`);
    }
  }

  async flush(): Promise<void> {
    if (!this.built) return;
    // The caller bounds the wait too; this bound keeps a stuck exporter from holding a promise forever.
    const limit = Math.max(50, this.init.config.flushTimeoutMs - 50);
    let timer: NodeJS.Timeout | undefined;
    const work: Promise<unknown>[] = [];
    if (this.tracerProvider) work.push(this.tracerProvider.forceFlush());
    // Metrics are pushed on their own period; at the end of the process, push the last values.
    if (this.meterProvider && this.shutdownSeen) work.push(this.meterProvider.forceFlush());
    let finished = false;
    try {
      await Promise.race([
        Promise.allSettled(work).then(() => {
          finished = true;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, limit);
          timer.unref();
        }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (!finished && !this.flushTimeoutWarned) {
      // At exit this is the last word: the exporter's own failure (after its retries) would come too late.
      this.flushTimeoutWarned = true;
      this.warn(`OpenTelemetry export did not finish within ${limit} ms (${this.targets()}); what was pending may be lost`);
    }
    if (this.shutdownSeen) this.failures.summary();
  }

  /**
   * The app's tracer makes block spans: hand it each ended block, with the live stack of its first
   * message (ownership may have been published between the two messages of one block).
   */
  private forward(m: BlockEvent): void {
    if (!m.ended) return;
    const first = this.detected.get(m.id);
    this.detected.delete(m.id);
    this.options.forwardBlock?.(first ? { ...m, ...mergeBlock(first, m) } : m);
  }

  /** The app's meter provider reports loopscope's metrics now: stop ours so nothing is doubled. */
  private handOverMetrics(): void {
    const provider = this.meterProvider;
    this.meterProvider = null;
    this.recorder = null;
    void provider?.shutdown().catch(() => undefined);
  }

  private targets(): string {
    const s = this.settings;
    return [s.traces?.url, s.metrics.otlp?.url].filter((u): u is string => typeof u === 'string').join(', ') || 'no push exporter';
  }

  close(): void {
    if (this.longBlockTimer) clearInterval(this.longBlockTimer);
    try {
      // The main thread is going away without a shutdown.end (e.g. worker torn down): end the tree
      // so the spans at least exist; the export itself can only be attempted, not awaited.
      this.translator?.endAll(Date.now(), 'sink closed before the end of the shutdown');
      void this.tracerProvider?.forceFlush().catch(() => undefined);
    } catch {
      // best effort
    }
  }
}

/**
 * The worker's OTel sink; call it when init.config.otel is true. Never rejects: with export
 * disabled or misconfigured it warns once and returns a sink that does nothing.
 */
export async function createOtelSink(init: WorkerInit, warn: WarnFn, options: OtelSinkOptions = {}): Promise<Sink> {
  const env = options.env ?? process.env;
  try {
    const problem = otelConfigProblem(env);
    if (problem) {
      warn(problem);
      return NOOP_SINK;
    }
    const parsed = readOtelSettings(env);
    if (!parsed.ok) return NOOP_SINK;
    const sdk = await loadSdk(parsed.settings);
    return new OtelSink(init, parsed.settings, sdk, warn, options);
  } catch (err) {
    warn(`OpenTelemetry export is off: could not load the SDK (${(err as Error).message})`);
    return NOOP_SINK;
  }
}
