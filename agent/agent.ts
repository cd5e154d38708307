// The agent on the app's main thread: starts the worker, the heartbeat and the recorders, and
// hands their records to the worker. It records and never sends: serialising, writing and
// networking happen in the worker, off the app's thread.
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { executionAsyncResource } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolveConfig, publicConfig, type AgentConfig, type AgentOptions } from './config.js';
import { createSharedState, epochNow, I, type SharedState } from './shared-state.js';
import type { AgentContext } from './context.js';
import { Heartbeat } from './heartbeat.js';
import { RecordChannel } from './channel.js';
import { ResourceTracker } from './resources/tracker.js';
import { LoopSampler } from './loop.js';
import { SyncioRecorder, SYNC_API_NAMES } from './syncio.js';
import { installShutdown, type ShutdownHandle } from './shutdown/install.js';
import { CAPTURE_KEY, type CaptureResult, type WorkerInit, type FromWorker } from './worker-messages.js';
import { PROTOCOL_VERSION, AGENT_VERSION } from '../shared/version.js';
import type { Unstamped, Hello, Message } from '../shared/protocol.js';
import { resolveRecordPath } from './recording-file.js';
import { MainRecording } from './main-recording.js';
import { AppOtelHook } from './otel/app-hook.js';
import { captured } from './captured.js';
import { writeStderr } from './stderr.js';

const AGENT_DIR = dirname(fileURLToPath(import.meta.url));
/** dist/ of the package: frames from here are the agent's, never the app's. */
const PACKAGE_DIST = dirname(AGENT_DIR);

export interface RunningAgent {
  readonly run: string;
  readonly config: AgentConfig;
  readonly context: AgentContext;
  readonly tracker: ResourceTracker;
  /** Stops recording and the worker; what was recorded so far is flushed first. */
  stop(): void;
}

function appName(config: AgentConfig): string {
  if (config.app) return config.app;
  try {
    const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { name?: unknown };
    if (typeof pkg.name === 'string' && pkg.name) return pkg.name;
  } catch {
    // no package.json: fall back to the script
  }
  const script = process.argv[1];
  return script ? script.split(/[\\/]/).pop() ?? 'node' : 'node';
}

class Agent implements RunningAgent {
  readonly run = randomBytes(6).toString('hex');
  readonly shared: SharedState = createSharedState();
  readonly context: AgentContext;
  readonly tracker: ResourceTracker;
  private readonly channel: RecordChannel;
  private readonly worker: Worker | null;
  private readonly heartbeat: Heartbeat;
  private readonly loop: LoopSampler;
  private readonly syncio: SyncioRecorder | null;
  private readonly shutdownHandle: ShutdownHandle | null;
  private readonly intervalTimer: NodeJS.Timeout;
  private internalDepth = 0;
  private readonly warned = new Set<string>();
  private stopped = false;
  private warnPort: MessagePort | null = null;
  private otelHook: AppOtelHook | null = null;

  constructor(readonly config: AgentConfig, warnings: readonly string[]) {
    const agent = this;
    this.context = {
      config,
      run: this.run,
      shared: this.shared,
      frameOptions: { includeNodeModules: config.nodeModules, ignorePrefixes: [PACKAGE_DIST] },
      record: (message, urgent) => {
        agent.channel.push(message, urgent);
        agent.otelHook?.handle(message);
      },
      flushSync: (timeoutMs) => {
        const done = agent.channel.flushSync(timeoutMs);
        agent.drainWarnings();
        return done;
      },
      flushFinal: (timeoutMs) => {
        const done = agent.channel.flushFinal(timeoutMs);
        agent.drainWarnings();
        return done;
      },
      internal: (fn) => agent.internal(fn),
      get inInternal() {
        return agent.internalDepth > 0;
      },
      warn: (message) => agent.warn(message),
    };
    for (const w of warnings) this.warn(w);
    if (config.otel) {
      this.otelHook = new AppOtelHook({ version: AGENT_VERSION, warn: (m) => this.warn(m), publish: (bits) => Atomics.store(this.shared.i32, I.appOtel, bits) });
    }

    // The tracker goes first so that it sees (and excludes) the agent's own resources.
    this.tracker = new ResourceTracker(this.context);
    this.tracker.enable();

    // The hello goes into the recording now, from this thread: the worker takes a while to start
    // (tens of ms, seconds on a loaded machine), and a process killed before it is up must still
    // leave a file that names it. The worker appends after it and skips the hello.
    const hello = { ...this.hello(), run: this.run, ts: epochNow() } as Message;
    const recordPath = config.record ? resolveRecordPath(config.record) : null;
    const mainRecording = recordPath ? MainRecording.start(recordPath, hello, this.shared) : null;
    this.worker = this.internal(() => this.startWorker(recordPath, mainRecording !== null));
    this.channel = new RecordChannel(this.worker, this.shared, this.run, mainRecording, Boolean(config.dashboard || config.otel));
    // Urgent: a process that blocks forever before the first batch still leaves its hello on the
    // dashboard.
    this.channel.pushStamped(hello, true);

    this.syncio = config.syncio ? new SyncioRecorder(this.context) : null;
    this.syncio?.install();

    this.loop = new LoopSampler(this.context, config.heartbeatMs);
    this.heartbeat = new Heartbeat(
      this.shared,
      config.heartbeatMs,
      config.blockThresholdMs,
      (stretch) => {
        const slow = this.syncio?.slowCallWithin(stretch.startedAt, stretch.startedAt + stretch.durationMs) ?? null;
        // Before the worker ends the block: the app may have registered its tracer since the last sample.
        this.otelHook?.refresh();
        this.worker?.postMessage({ kind: 'blockMeasured', block: { ...stretch, syncCall: slow } });
      },
      (gap) => this.loop.noteGap(gap),
    );
    this.internal(() => {
      this.loop.start();
      this.heartbeat.start();
    });
    this.intervalTimer = this.internal(() => captured.setInterval(() => this.sampleInterval(), config.intervalMs));
    this.intervalTimer.unref();

    Object.defineProperty(globalThis, Symbol.for(CAPTURE_KEY), {
      value: () => this.captureForWorker(),
      configurable: true,
      enumerable: false,
      writable: true,
    });

    this.shutdownHandle = config.shutdown ? installShutdown(this.context, this.tracker, () => this.finalSample()) : null;
  }

  private internal<T>(fn: () => T): T {
    this.internalDepth++;
    try {
      return fn();
    } finally {
      this.internalDepth--;
    }
  }

  warn(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    writeStderr(`loopscope: ${message}\n`);
  }

  /** Prints what the worker warned about while the main thread could not listen (exit flush). */
  drainWarnings(): void {
    if (!this.warnPort) return;
    try {
      for (let m = receiveMessageOnPort(this.warnPort); m; m = receiveMessageOnPort(this.warnPort)) {
        const msg = m.message as FromWorker;
        if (msg && msg.kind === 'warning') this.warn(msg.message);
      }
    } catch {
      // port closed
    }
  }

  private startWorker(recordPath: string | null, helloWritten: boolean): Worker | null {
    const { port1, port2 } = new MessageChannel();
    this.warnPort = port1;
    port1.on('message', (msg: FromWorker) => {
      if (msg && msg.kind === 'warning') this.warn(msg.message);
    });
    port1.unref();
    const init: WorkerInit = {
      loopscopeAgentWorker: true,
      i32: this.shared.i32,
      f64: this.shared.f64,
      config: this.config,
      run: this.run,
      syncApis: SYNC_API_NAMES,
      agentDir: PACKAGE_DIST,
      warnPort: port2,
      recordPath,
      helloWritten,
    };
    try {
      const worker = new Worker(join(AGENT_DIR, 'worker', 'main.js'), {
        workerData: init,
        transferList: [port2],
        // true: the worker's output goes to streams nobody reads. false would make Node open the
        // app's process.stdout/stderr right now, adding pipe handles the app did not create.
        stdout: true,
        stderr: true,
        name: 'loopscope-agent',
      });
      worker.on('message', (msg: FromWorker) => {
        if (msg && msg.kind === 'otelBlock') this.otelHook?.handle(msg.block);
      });
      worker.on('error', (err) => {
        this.warn(`agent worker failed (${err.message}); the app carries on without recording`);
      });
      worker.on('exit', () => this.channel?.workerGone());
      // After the listeners: adding a 'message' listener refs the port again.
      worker.unref();
      return worker;
    } catch (err) {
      this.warn(`could not start the agent worker (${(err as Error).message}); the app carries on without recording`);
      return null;
    }
  }

  private hello(): Unstamped<Hello> {
    return {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      agentVersion: AGENT_VERSION,
      app: appName(this.config),
      pid: process.pid,
      ppid: process.ppid,
      parentRun: process.env.LOOPSCOPE_PARENT_RUN || null,
      hostname: hostname(),
      argv: process.argv.slice(),
      execArgv: process.execArgv.slice(),
      nodeVersion: process.version,
      platform: process.platform,
      arch: process.arch,
      startedAt: captured.timeOrigin,
      mode: this.config.mode,
      config: publicConfig(this.config),
    };
  }

  /** Runs on the main thread inside Runtime.evaluate, wherever it is blocked. */
  private captureForWorker(): string {
    // While the main thread is stuck, a signal listener of the agent's would swallow SIGTERM/SIGINT
    // that would have killed the app: the shutdown recorder steps aside until the loop turns.
    try {
      this.shutdownHandle?.mainBlocked();
    } catch {
      // never fail the capture for it
    }
    const prev = Error.stackTraceLimit;
    Error.stackTraceLimit = 100;
    const stack = new Error().stack ?? '';
    Error.stackTraceLimit = prev;
    let resource: CaptureResult['resource'] = null;
    try {
      resource = this.tracker.describe(executionAsyncResource());
    } catch {
      resource = null;
    }
    const result: CaptureResult = { stack, resource, appSpan: activeAppSpan() };
    return JSON.stringify(result);
  }

  private sampleInterval(): void {
    try {
      this.context.record(this.loop.sample());
      this.context.record(this.tracker.sample());
      const io = this.syncio?.drain();
      if (io) this.context.record(io);
      this.channel.flush();
    } catch (err) {
      this.warn(`sampling failed: ${(err as Error).message}`);
    }
  }

  /** A last loop/resources/syncio sample on the way out, so short runs still have one. */
  private finalSample(): void {
    this.heartbeat.tick();
    this.sampleInterval();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.finalSample();
    this.context.flushFinal(this.config.flushTimeoutMs);
    captured.clearInterval(this.intervalTimer);
    this.heartbeat.stop();
    this.loop.stop();
    this.syncio?.uninstall();
    this.tracker.disable();
    this.shutdownHandle?.uninstall();
    Atomics.store(this.shared.i32, I.exiting, 1);
    void this.worker?.terminate();
    delete (globalThis as Record<symbol, unknown>)[Symbol.for(CAPTURE_KEY)];
  }
}

/**
 * The span the app's own OpenTelemetry instrumentation has active here, read through the API's
 * global registration (no dependency on @opentelemetry/api: the app brings it or not).
 */
function activeAppSpan(): CaptureResult['appSpan'] {
  try {
    type SpanLike = { spanContext?: () => { traceId?: unknown; spanId?: unknown } };
    type ContextLike = { getValue(key: symbol): unknown };
    type ApiGlobal = { context?: { active(): ContextLike } };
    const api = (globalThis as Record<symbol, ApiGlobal | undefined>)[Symbol.for('opentelemetry.js.api.1')];
    const active = api?.context?.active();
    const span = active?.getValue(Symbol.for('OpenTelemetry Context Key SPAN')) as SpanLike | undefined;
    const sc = span?.spanContext?.();
    if (sc && typeof sc.traceId === 'string' && typeof sc.spanId === 'string' && !/^0+$/.test(sc.traceId)) {
      return { traceId: sc.traceId, spanId: sc.spanId };
    }
  } catch {
    // no OTel in the app, or an API version we do not know
  }
  return null;
}

const GLOBAL_KEY = Symbol.for('loopscope.agent');

type GlobalWithAgent = typeof globalThis & { [GLOBAL_KEY]?: RunningAgent };

/** The agent of this process, if started (shared by the ESM and CJS entry points). */
export function currentAgent(): RunningAgent | undefined {
  return (globalThis as GlobalWithAgent)[GLOBAL_KEY];
}

/**
 * Starts the agent on the main thread. A second call returns the running agent (options of the
 * first call stand; a warning says so when they differ). Never throws into the app.
 */
export function start(options: AgentOptions = {}): RunningAgent | undefined {
  const existing = currentAgent();
  if (existing) {
    if (Object.keys(options).length > 0) existing.context.warn('start() called again; the agent already runs with its first options');
    return existing;
  }
  try {
    const { config, warnings } = resolveConfig(options);
    if (!config.record && !config.dashboard && !config.otel) {
      // Recording with nowhere to send would cost the app for nothing.
      for (const w of warnings) writeStderr(`loopscope: ${w}\n`);
      writeStderr('loopscope: no destination (set LOOPSCOPE_RECORD, LOOPSCOPE_DASHBOARD or LOOPSCOPE_OTEL); the agent stays off\n');
      return undefined;
    }
    const agent = new Agent(config, warnings);
    (globalThis as GlobalWithAgent)[GLOBAL_KEY] = agent;
    // Child processes inherit the environment (and, under `loopscope run`, NODE_OPTIONS): their
    // agents name this run as their parent, so the dashboard can show the process tree.
    process.env.LOOPSCOPE_PARENT_RUN = agent.run;
    return agent;
  } catch (err) {
    try {
      writeStderr(`loopscope: agent not started: ${(err as Error).message}\n`);
    } catch {
      // nothing else to do
    }
    return undefined;
  }
}
