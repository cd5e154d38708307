// The agent's worker thread: it writes what the main thread recorded to the sinks (recording
// file, dashboard) and watches the main thread's heartbeat for blocks. It never prints (its
// stdout/stderr are the app's), never keeps the process alive (the main side unrefs it), and when
// something fails it tells the main thread once and carries on.
import { workerData, parentPort } from 'node:worker_threads';
import type { WorkerInit, ToWorker, FromWorker } from '../worker-messages.js';
import type { BlockEvent, Message } from '../../shared/protocol.js';
import { I } from '../shared-state.js';
import type { Sink } from './sink.js';
import { DeferredSink } from './deferred-sink.js';
import { Recorder } from './recorder.js';
import { Watchdog } from './watchdog.js';
import { captureMainStack } from './capture.js';
import { calibrateEntryFrames } from './entry-frames.js';
import { redactText, secretValues } from '../../shared/redact.js';

// Node prints its own warnings (a TimeoutOverflowWarning, a deprecation in a dependency) on the
// thread's stderr. A worker's stderr is a stream to the main thread, and once it has carried
// anything it holds the app's event loop open for good, even with the worker unref'd (Node 20,
// measured: `LOOPSCOPE_BLOCK_MS=4294967296` made the watchdog's timer warn and the app never
// exited). Nothing here may print: the default printer goes.
process.removeAllListeners('warning');

const init = workerData as WorkerInit;
const warned = new Set<string>();
// A warning may quote the dashboard address or an error that does (ws, a proxy): whatever it says,
// the token and the URL's credentials never reach the app's stderr or the recording.
const secrets = secretValues(init.config);

function warn(raw: string): void {
  const message = redactText(raw, secrets);
  if (warned.has(message)) return;
  warned.add(message);
  try {
    // Its own port: the main thread can read it synchronously after an exit flush, when its loop
    // no longer turns (receiveMessageOnPort).
    const msg: FromWorker = { kind: 'warning', message };
    init.warnPort.postMessage(msg);
  } catch {
    // the main thread is gone: nobody left to tell
  }
}

const sinks: Sink[] = [];

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function writeAll(messages: readonly Message[], batch?: number): void {
  for (const sink of sinks) {
    try {
      sink.write(messages, batch);
    } catch (err) {
      warn(`a sink failed: ${(err as Error).message}`);
    }
  }
}

function ack(flushSeq: number): void {
  try {
    // The main thread may have given up and moved on: never go backwards.
    if (Atomics.load(init.i32, I.flushAck) < flushSeq) Atomics.store(init.i32, I.flushAck, flushSeq);
    Atomics.notify(init.i32, I.flushAck);
  } catch {
    // nothing to wake
  }
}

async function flushSinks(): Promise<void> {
  const all = Promise.all(
    sinks.map(async (sink) => {
      try {
        await sink.flush();
      } catch (err) {
        warn(`a sink failed to flush: ${(err as Error).message}`);
      }
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolveLimit) => {
    timer = setTimeout(resolveLimit, Math.max(0, init.config.flushTimeoutMs));
  });
  await Promise.race([all, limit]);
  clearTimeout(timer);
}

function setup(): Watchdog | null {
  const config = init.config;
  if (init.recordPath) {
    try {
      const recorder = new Recorder(init.recordPath, init.run, warn, { i32: init.i32, skipHello: init.helloWritten });
      recorder.probe();
      sinks.push(recorder);
    } catch (err) {
      warn(`cannot record to ${init.recordPath}: ${(err as Error).message}`);
    }
  }
  // Loaded on demand: they pull in zod, ws and the OTel SDK, and a worker that starts late
  // misses the app's early blocks.
  if (config.dashboard) {
    sinks.push(
      new DeferredSink(
        import('./transport.js').then((m) => m.createDashboardSink(init, warn)),
        config.queueMax,
        (err) => warn(`cannot stream to the dashboard: ${errorMessage(err)}`),
      ),
    );
  }
  if (config.otel) {
    sinks.push(
      new DeferredSink(
        import('./otel/sink.js').then((m) =>
          m.createOtelSink(init, warn, {
            appOwns: () => Atomics.load(init.i32, I.appOtel),
            forwardBlock: (block) => parentPort?.postMessage({ kind: 'otelBlock', block } satisfies FromWorker),
          }),
        ),
        config.queueMax,
        (err) => warn(`OpenTelemetry export is off: ${errorMessage(err)}`),
      ),
    );
  }
  // With nowhere to put them, blocks are not worth a stack capture.
  if (sinks.length === 0) return null;
  void calibrateEntryFrames();
  const watchdog = new Watchdog({
    init,
    // A block goes out on its own, at once: a loop that never ends must still leave its trace.
    emit: (block: BlockEvent) => writeAll([block]),
    capture: () => captureMainStack({ agentDir: init.agentDir }),
    warn,
  });
  watchdog.start();
  return watchdog;
}

let watchdog: Watchdog | null = null;
try {
  watchdog = setup();
} catch (err) {
  warn(`agent worker setup failed: ${(err as Error).message}`);
}

parentPort?.on('message', (msg: ToWorker) => {
  try {
    if (!msg || typeof msg !== 'object') return;
    if (msg.kind === 'blockMeasured') {
      watchdog?.onMeasured(msg.block);
      return;
    }
    if (msg.kind !== 'records') return;
    if (msg.flushSeq !== undefined) watchdog?.onFlush();
    if (Array.isArray(msg.records) && msg.records.length > 0) writeAll(msg.records, msg.batch);
    const flushSeq = msg.flushSeq;
    if (flushSeq === undefined) return;
    if (sinks.length === 0) {
      ack(flushSeq);
      return;
    }
    void flushSinks().then(
      () => ack(flushSeq),
      () => ack(flushSeq),
    );
  } catch (err) {
    warn(`agent worker failed on a message: ${(err as Error).message}`);
    if (msg && msg.kind === 'records' && msg.flushSeq !== undefined) ack(msg.flushSeq);
  }
});

try {
  Atomics.store(init.i32, I.workerReady, 1);
} catch {
  // shared state missing: the main thread will not wait for us anyway
}
