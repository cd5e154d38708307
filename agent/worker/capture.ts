// The live stack of the blocked main thread, taken from this worker. Runtime.evaluate runs its
// expression on the main thread at its next interrupt check, which a JS loop reaches within a
// millisecond; native code (sync I/O, crypto) only reaches it when it returns, so a late answer is
// a native block whose stack would describe a moment after it, and is not used. The session is
// connected only for the capture: a connected session makes process.exit() print "Waiting for the
// debugger to disconnect..." on the app's stderr. No Debugger domain (costly), never
// Runtime.terminateExecution (crashes Node 20).
import type { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { CallbackResource, Frame } from '../../shared/protocol.js';
import { parseStack } from '../../shared/stack.js';
import { CAPTURE_KEY, type CaptureResult } from '../worker-messages.js';
import { epochNow } from '../shared-state.js';

/** Past this without an answer, the main thread is not running JS: it is in native code. */
export const NATIVE_AFTER_MS = 20;
/**
 * An answer evaluated later than this after the request is not trusted as live: it may have run
 * just after a native call returned, in whatever code came next.
 */
export const LIVE_EVAL_MS = 10;
/** Error.stackTraceLimit the main thread's capture uses; a stack that long may be cut. */
const TRACE_LIMIT = 100;

// The main thread's clock is read before the capture runs: when the expression was evaluated
// tells a thread that was running JS from one that only got to it after native code returned.
const EXPRESSION = `(() => {
  const capture = globalThis[Symbol.for(${JSON.stringify(CAPTURE_KEY)})];
  if (typeof capture !== 'function') return undefined;
  let at = 0;
  try { at = performance.timeOrigin + performance.now(); } catch { at = Date.now(); }
  return at + '|' + capture();
})()`;

type InspectorModule = typeof import('node:inspector');
let inspectorModule: InspectorModule | null | undefined;

/** Loaded on first use: a Node built without the inspector must still record, without stacks. */
function loadInspector(): InspectorModule | null {
  if (inspectorModule === undefined) {
    try {
      inspectorModule = createRequire(import.meta.url)('node:inspector') as InspectorModule;
    } catch {
      inspectorModule = null;
    }
  }
  return inspectorModule;
}

export type CaptureOutcome =
  | {
      kind: 'live';
      stack: Frame[];
      /** False when the stack reached the trace limit, so its bottom frames are missing. */
      complete: boolean;
      resource: CallbackResource | null;
      appSpan: CaptureResult['appSpan'];
      captureMs: number;
      /** When the main thread ran the capture (epoch ms). */
      evaluatedAt: number;
    }
  /** No answer in time, or one evaluated too late to be live: the main thread is in native code. */
  | { kind: 'native' }
  /** The inspector is unavailable or the agent's capture function is gone. */
  | { kind: 'failed'; reason: string };

export interface CaptureOptions {
  /** The agent's own files: their frames on top of the stack are the capture itself. */
  agentDir: string;
  nativeAfterMs?: number;
}

function isAgentFrame(frame: Frame, prefixes: readonly string[]): boolean {
  // The evaluated expression itself shows as an anonymous script.
  if (frame.file === '<anonymous>' || frame.file === '') return true;
  return prefixes.some((p) => frame.file.startsWith(p));
}

/** Drops the capture's own frames from the top so the first frame is the app's blocking code. */
export function trimCaptureFrames(frames: readonly Frame[], agentDir: string): Frame[] {
  const prefixes = [agentDir, pathToFileURL(agentDir).href];
  let i = 0;
  while (i < frames.length && isAgentFrame(frames[i]!, prefixes)) i++;
  return frames.slice(i);
}

function parseResult(reply: unknown, agentDir: string, postedAt: number, captureMs: number): CaptureOutcome {
  if (typeof reply !== 'string') return { kind: 'failed', reason: 'the agent capture function is not installed on the main thread' };
  const bar = reply.indexOf('|');
  const evaluatedAt = Number(reply.slice(0, bar));
  if (bar < 0 || !Number.isFinite(evaluatedAt)) return { kind: 'failed', reason: 'the main thread answered in an unknown form' };
  if (evaluatedAt - postedAt > LIVE_EVAL_MS) return { kind: 'native' };
  let parsed: Partial<CaptureResult>;
  try {
    parsed = JSON.parse(reply.slice(bar + 1)) as Partial<CaptureResult>;
  } catch {
    return { kind: 'failed', reason: 'the main thread answered with something that is not JSON' };
  }
  const raw = parseStack(typeof parsed.stack === 'string' ? parsed.stack : '');
  return {
    kind: 'live',
    stack: trimCaptureFrames(raw, agentDir),
    complete: raw.length < TRACE_LIMIT,
    resource: parsed.resource ?? null,
    appSpan: parsed.appSpan ?? null,
    captureMs,
    evaluatedAt,
  };
}

/** Never rejects. Resolves within about nativeAfterMs whatever the main thread does. */
export function captureMainStack(options: CaptureOptions): Promise<CaptureOutcome> {
  const nativeAfterMs = options.nativeAfterMs ?? NATIVE_AFTER_MS;
  return new Promise<CaptureOutcome>((resolveOutcome) => {
    const inspector = loadInspector();
    if (!inspector) {
      resolveOutcome({ kind: 'failed', reason: 'this Node has no inspector' });
      return;
    }
    let session: Session;
    try {
      session = new inspector.Session();
      session.connectToMainThread();
    } catch (err) {
      resolveOutcome({ kind: 'failed', reason: `inspector unavailable: ${(err as Error).message}` });
      return;
    }
    let settled = false;
    const finish = (outcome: CaptureOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        // Also when no answer came: the disconnect is queued behind the evaluate on the main
        // thread, so the session is gone before the app's code runs on after the native call.
        session.disconnect();
      } catch {
        // already disconnected
      }
      resolveOutcome(outcome);
    };
    const started = performance.now();
    const postedAt = epochNow();
    const timer = setTimeout(() => finish({ kind: 'native' }), nativeAfterMs);
    try {
      session.post('Runtime.evaluate', { expression: EXPRESSION, returnByValue: true, silent: true }, (err, reply) => {
        if (settled) return;
        const captureMs = performance.now() - started;
        if (err) {
          finish({ kind: 'failed', reason: err.message });
          return;
        }
        if (reply.exceptionDetails) {
          finish({ kind: 'failed', reason: 'the capture function threw on the main thread' });
          return;
        }
        finish(parseResult(reply.result?.value, options.agentDir, postedAt, captureMs));
      });
    } catch (err) {
      finish({ kind: 'failed', reason: (err as Error).message });
    }
  });
}
