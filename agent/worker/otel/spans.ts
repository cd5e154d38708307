// Protocol messages -> spans. Only types come from @opentelemetry/api: the tracer and the context
// helpers are handed in, so the same translation runs in the worker on loopscope's own SDK and
// on the main thread on the app's registered provider (agent/otel/app-bridge.ts).
import type { Attributes, Context, Link, Span, SpanStatus, Tracer } from '@opentelemetry/api';
import type { BlockEvent, Frame, Message, ShutdownEnd, ShutdownStart, ShutdownStep, Unstamped } from '../../../shared/protocol.js';

/** A record as the main thread makes it (no envelope yet) or as the worker gets it. */
type AgentRecord = Message | Unstamped;

export const TRACER_NAME = 'loopscope';

/** SpanStatusCode.ERROR / SpanKind.INTERNAL / TraceFlags.SAMPLED: const enums of the API, by value. */
const STATUS_ERROR = 2 as SpanStatus['code'];
const TRACE_FLAGS_SAMPLED = 1;

export interface ContextApi {
  /** ROOT_CONTEXT of the API: spans start from it so an app's active context never leaks in. */
  root: Context;
  setSpan(context: Context, span: Span): Context;
}

export interface TranslatorOptions {
  /** Frames of a block's stack put in code.stacktrace. */
  stackFrames: number;
}

interface OpenShutdown {
  start: Omit<ShutdownStart, 'run' | 'ts'>;
  span: Span;
  context: Context;
  steps: Map<string, Span>;
  resources: Map<number, Span>;
}

export function formatFrame(f: Frame): string {
  const where = `${f.file}:${f.line}:${f.column}`;
  return f.functionName ? `${f.functionName} (${where})` : where;
}

function frameAttributes(prefix: string, f: Frame | null): Attributes {
  if (!f) return {};
  return { [prefix]: formatFrame(f) };
}

export function blockAttributes(b: Omit<BlockEvent, 'run' | 'ts'>, stackFrames: number): Attributes {
  const attrs: Attributes = {
    'loopscope.block.id': b.id,
    'loopscope.block.duration_ms': b.durationMs,
    'loopscope.block.native': b.native,
    'loopscope.block.stack_kind': b.stackKind,
  };
  if (b.captureMs !== null) attrs['loopscope.block.capture_ms'] = b.captureMs;
  const top = b.stack[0];
  if (top) {
    // OTel code.* conventions describe "the code that was running": the block's top frame.
    attrs['code.function.name'] = top.functionName;
    attrs['code.file.path'] = top.file;
    attrs['code.line.number'] = top.line;
    attrs['code.column.number'] = top.column;
    attrs['code.stacktrace'] = b.stack.slice(0, stackFrames).map((f) => `    at ${formatFrame(f)}`).join('\n');
  }
  if (b.resource) {
    attrs['loopscope.callback.type'] = b.resource.type;
    Object.assign(attrs, frameAttributes('loopscope.callback.created_at', b.resource.createdAt));
  }
  if (b.syncCall) {
    attrs['loopscope.sync_call.api'] = b.syncCall.api;
    Object.assign(attrs, frameAttributes('loopscope.sync_call.caller', b.syncCall.createdAt));
  }
  return attrs;
}

/** The final message of a block carries the measured end; the live stack may only be in the first. */
type Block = Omit<BlockEvent, 'run' | 'ts'>;
type Start = Omit<ShutdownStart, 'run' | 'ts'>;

export function mergeBlock(first: Block, last: Block): Block {
  const useFirstStack = last.stack.length === 0 && first.stack.length > 0;
  return {
    ...last,
    stack: useFirstStack ? first.stack : last.stack,
    stackKind: useFirstStack ? first.stackKind : last.stackKind,
    resource: last.resource ?? first.resource,
    syncCall: last.syncCall ?? first.syncCall,
    captureMs: last.captureMs ?? first.captureMs,
    appSpan: last.appSpan ?? first.appSpan ?? null,
  };
}

/** The link from a block to the app's span that was active in the blocked callback. */
function appSpanLinks(b: Block): Link[] {
  if (!b.appSpan) return [];
  return [{
    context: { traceId: b.appSpan.traceId, spanId: b.appSpan.spanId, traceFlags: TRACE_FLAGS_SAMPLED, isRemote: false },
    attributes: { 'loopscope.link.kind': 'active_span' },
  }];
}

export class SpanTranslator {
  private shutdown: OpenShutdown | null = null;
  /** Block ids already exported: a block may be re-sent ended after a reconnect or replay. */
  private readonly blocksDone = new Set<number>();
  /** Blocks seen detected (ended=false): their live stack, which the final message may not repeat. */
  private readonly openBlocks = new Map<number, Block>();
  /** Blocks exported while still running (see exportLongBlocks), by id: the span to link the final one to. */
  private readonly reportedOpen = new Map<number, Link>();

  constructor(
    private readonly tracer: Tracer,
    private readonly api: ContextApi,
    private readonly options: TranslatorOptions,
  ) {}

  handle(m: AgentRecord): void {
    const ts = 'ts' in m ? m.ts : Date.now();
    switch (m.type) {
      case 'block':
        if (m.ended) {
          const first = this.openBlocks.get(m.id);
          this.openBlocks.delete(m.id);
          this.block(first ? mergeBlock(first, m) : m);
        } else if (this.openBlocks.has(m.id) || this.openBlocks.size < 100) {
          this.openBlocks.set(m.id, m);
        }
        break;
      case 'shutdown.start':
        this.shutdownStart(m);
        break;
      case 'shutdown.step':
        this.step(m);
        break;
      case 'shutdown.closed': {
        const sd = this.shutdown;
        const span = sd?.resources.get(m.id);
        if (sd && span) {
          span.setAttribute('loopscope.resource.closed_after_ms', m.closedAfterMs);
          span.setAttribute('loopscope.resource.still_open', false);
          span.end(sd.start.startedAt + m.closedAfterMs);
          sd.resources.delete(m.id);
        }
        break;
      }
      case 'shutdown.signal':
        this.shutdown?.span.addEvent('signal', { 'loopscope.signal': m.signal, 'loopscope.after_ms': m.afterMs }, ts);
        break;
      case 'shutdown.hang':
        this.shutdown?.span.addEvent(
          'hang',
          {
            'loopscope.after_ms': m.afterMs,
            'loopscope.kept_alive.count': m.keptAlive.length,
            'loopscope.kept_alive': m.keptAlive.map((r) => (r.createdAt ? `${r.type} ${formatFrame(r.createdAt)}` : r.type)),
          },
          ts,
        );
        break;
      case 'shutdown.end':
        this.shutdownEnd(m);
        break;
      default:
        break;
    }
  }

  /**
   * A block still running after `afterMs` is exported now, ended at `now` and marked
   * `loopscope.block.ended=false`: a loop that never returns would otherwise leave no span at all,
   * since the process is usually killed while still blocked. If the block ends after all, its
   * final span links to this one.
   */
  exportLongBlocks(now: number, afterMs: number): void {
    for (const b of this.openBlocks.values()) {
      if (this.reportedOpen.has(b.id) || this.blocksDone.has(b.id) || now - b.startedAt < afterMs) continue;
      if (this.reportedOpen.size >= 100) return;
      const attrs = blockAttributes({ ...b, durationMs: now - b.startedAt }, this.options.stackFrames);
      attrs['loopscope.block.ended'] = false;
      const span = this.tracer.startSpan('event_loop.block', { startTime: b.startedAt, attributes: attrs, links: appSpanLinks(b) }, this.api.root);
      span.setStatus({ code: STATUS_ERROR, message: `event loop still blocked after ${Math.round(now - b.startedAt)} ms` });
      span.end(now);
      this.reportedOpen.set(b.id, { context: span.spanContext(), attributes: { 'loopscope.link.kind': 'still_blocked_report' } });
    }
  }

  /** A block whose span someone else makes (the app's tracer): nothing more to keep for it. */
  forgetOpen(id: number): void {
    this.openBlocks.delete(id);
  }

  /** Whether a block was already exported while running: its end then belongs to this translator too. */
  reportedWhileOpen(id: number): boolean {
    return this.reportedOpen.has(id);
  }

  /** True while a shutdown span is open (its end has not been seen yet). */
  get shutdownOpen(): boolean {
    return this.shutdown !== null;
  }

  private block(b: Block): void {
    if (this.blocksDone.has(b.id)) return;
    if (this.blocksDone.size >= 10_000) this.blocksDone.clear();
    this.blocksDone.add(b.id);
    const links = appSpanLinks(b);
    const early = this.reportedOpen.get(b.id);
    if (early) {
      links.push(early);
      this.reportedOpen.delete(b.id);
    }
    const attrs = blockAttributes(b, this.options.stackFrames);
    attrs['loopscope.block.ended'] = true;
    const span = this.tracer.startSpan('event_loop.block', { startTime: b.startedAt, attributes: attrs, links }, this.api.root);
    if (b.stackKind === 'none' && b.native) span.setAttribute('loopscope.block.stack_note', 'native block: no live stack');
    span.end(b.startedAt + b.durationMs);
  }

  private shutdownStart(m: Start): void {
    // A second start without an end (a nested begin) closes the first at this point.
    if (this.shutdown) this.endAll(m.startedAt, 'superseded');
    const span = this.tracer.startSpan(
      'process.shutdown',
      {
        startTime: m.startedAt,
        attributes: {
          'loopscope.shutdown.trigger': m.trigger,
          ...(m.reason !== null ? { 'loopscope.shutdown.reason': m.reason } : {}),
          'loopscope.shutdown.resources': m.resources.length,
          'loopscope.shutdown.snapshot_truncated': m.snapshotTruncated,
        },
      },
      this.api.root,
    );
    const context = this.api.setSpan(this.api.root, span);
    const sd: OpenShutdown = { start: m, span, context, steps: new Map(), resources: new Map() };
    for (const r of m.resources) {
      const attrs: Attributes = {
        'loopscope.resource.id': r.id,
        'loopscope.resource.type': r.type,
        'loopscope.resource.keeps_alive': r.keepsAlive,
        ...frameAttributes('loopscope.resource.created_at', r.createdAt),
      };
      if (r.ageMs !== null) attrs['loopscope.resource.age_ms'] = r.ageMs;
      for (const [k, v] of Object.entries(r.details ?? {})) attrs[`loopscope.resource.details.${k}`] = v;
      sd.resources.set(r.id, this.tracer.startSpan(`resource ${r.type}`, { startTime: m.startedAt, attributes: attrs }, context));
    }
    this.shutdown = sd;
  }

  private step(m: Omit<ShutdownStep, 'run' | 'ts'>): void {
    const sd = this.shutdown;
    if (!sd) return;
    const key = `${m.name}\u0000${m.startMs}`;
    let span = sd.steps.get(key);
    if (!span) {
      span = this.tracer.startSpan(
        `step ${m.name}`,
        { startTime: sd.start.startedAt + m.startMs, attributes: { 'loopscope.step.name': m.name } },
        sd.context,
      );
      sd.steps.set(key, span);
    }
    if (m.outcome === 'running') return;
    span.setAttribute('loopscope.step.outcome', m.outcome);
    if (m.durationMs !== null) span.setAttribute('loopscope.step.duration_ms', m.durationMs);
    if (m.outcome !== 'ok') {
      const message = m.error ?? (m.outcome === 'timeout' ? 'step timed out' : 'step failed');
      span.setStatus({ code: STATUS_ERROR, message });
      if (m.error) span.setAttribute('exception.message', m.error);
    }
    span.end(sd.start.startedAt + m.startMs + (m.durationMs ?? 0));
    sd.steps.delete(key);
  }

  private shutdownEnd(m: Omit<ShutdownEnd, 'run' | 'ts'>): void {
    const sd = this.shutdown;
    if (!sd) return;
    const endAt = sd.start.startedAt + m.durationMs;
    const root = sd.span;
    root.setAttribute('loopscope.shutdown.outcome', m.outcome);
    root.setAttribute('loopscope.shutdown.duration_ms', m.durationMs);
    if (m.exit.code !== null) root.setAttribute('process.exit.code', m.exit.code);
    if (m.exit.signal !== null) root.setAttribute('loopscope.shutdown.exit_signal', m.exit.signal);
    if (m.exitCaller) root.setAttribute('loopscope.shutdown.exit_caller', formatFrame(m.exitCaller));
    root.setAttribute('loopscope.shutdown.still_open', m.stillOpen.length);
    if (m.error) {
      const nl = m.error.indexOf('\n');
      root.addEvent('exception', {
        'exception.message': nl >= 0 ? m.error.slice(0, nl) : m.error,
        'exception.stacktrace': m.error,
      }, endAt);
    }
    if (m.outcome !== 'clean') root.setStatus({ code: STATUS_ERROR, message: m.outcome });
    this.endAll(endAt, null);
  }

  /**
   * Ends the open shutdown tree at `at`: steps still running, resources still open (marked so),
   * then the root. `reason` set: the end was not seen (superseded, or the sink closed first).
   */
  endAll(at: number, reason: string | null): void {
    const sd = this.shutdown;
    if (!sd) return;
    this.shutdown = null;
    for (const span of sd.steps.values()) {
      span.setAttribute('loopscope.step.outcome', 'unfinished');
      span.setStatus({ code: STATUS_ERROR, message: 'still running at the exit' });
      span.end(at);
    }
    for (const span of sd.resources.values()) {
      span.setAttribute('loopscope.resource.still_open', true);
      span.end(at);
    }
    if (reason) sd.span.setAttribute('loopscope.shutdown.end_missing', reason);
    sd.span.end(at);
  }
}
