// Which kind of callback a stack runs in, read from Node's own dispatch frames at its bottom. Used
// when no async_hooks tracker names the resource (lite mode, or a type the tracker skips): it costs
// nothing on the main thread because the stack was captured for the block anyway.
import type { CallbackResource, Frame } from '../../shared/protocol.js';
import { parseStack } from '../../shared/stack.js';

/**
 * Line of processTicksAndRejections that drains the microtask queue. Tick callbacks and promise
 * jobs both sit right above that function; only the calling line tells them apart, and it moves
 * between Node versions, so it is measured from a real promise job rather than written down.
 */
let microtaskLine: number | null = null;
let calibrating: Promise<void> | null = null;

const PROCESS_TICKS = 'processTicksAndRejections';

/** Measures microtaskLine in this thread (same Node internals as the main thread). */
export function calibrateEntryFrames(): Promise<void> {
  if (calibrating) return calibrating;
  calibrating = new Promise<void>((resolveDone) => {
    try {
      process.nextTick(() => {
        // After this tick callback, processTicksAndRejections runs the microtask queue.
        void Promise.resolve().then(() => {
          try {
            const prev = Error.stackTraceLimit;
            Error.stackTraceLimit = 50;
            const stack = new Error().stack;
            Error.stackTraceLimit = prev;
            const frame = parseStack(stack).find((f) => baseName(f.functionName) === PROCESS_TICKS);
            if (frame) microtaskLine = frame.line;
          } catch {
            // stays uncalibrated: ticks and promise jobs both read as TickObject
          }
          resolveDone();
        });
      });
    } catch {
      resolveDone();
    }
  });
  return calibrating;
}

/** "process.processTimers" -> "processTimers"; "FSReqCallback.x [as oncomplete]" -> "x". */
function baseName(functionName: string): string {
  const name = functionName.replace(/ \[as [^\]]*\]$/, '');
  const dot = name.lastIndexOf('.');
  return dot >= 0 ? name.slice(dot + 1) : name;
}

function receiver(functionName: string): string {
  const name = functionName.replace(/ \[as [^\]]*\]$/, '');
  const dot = name.indexOf('.');
  return dot >= 0 ? name.slice(0, dot) : '';
}

const STREAM_TYPES: Record<string, string> = { TCP: 'TCPWRAP', Pipe: 'PIPEWRAP', TTY: 'TTYWRAP' };

/** The async resource type one internal frame dispatches, or null when it is not a dispatch frame. */
function typeOfEntryFrame(frame: Frame): string | null {
  const fn = frame.functionName;
  const base = baseName(fn);
  const recv = receiver(fn);
  switch (base) {
    case PROCESS_TICKS:
      return microtaskLine !== null && frame.line === microtaskLine ? 'PROMISE' : 'TickObject';
    case 'runNextTicks':
      // Between two timers with no tick queued, it drains the microtask queue directly.
      return 'PROMISE';
    case 'listOnTimeout':
    case 'processTimers':
      return 'Timeout';
    case 'processImmediate':
      return 'Immediate';
    case 'parserOnIncoming':
      return 'HTTPINCOMINGMESSAGE';
    case 'parserOnIncomingClient':
      return 'HTTPCLIENTREQUEST';
    case 'onStreamRead':
      return STREAM_TYPES[recv] ?? 'STREAM';
    case 'onconnection':
      return recv === 'Pipe' ? 'PIPESERVERWRAP' : 'TCPSERVERWRAP';
    case 'afterConnect':
      return recv === 'PipeConnectWrap' ? 'PIPECONNECTWRAP' : 'TCPCONNECTWRAP';
    case 'onWriteComplete':
      return 'WRITEWRAP';
    case 'onexit':
      return frame.file.includes('child_process') ? 'PROCESSWRAP' : null;
    case 'onMessage':
      return recv === 'UDP' ? 'UDPWRAP' : null;
    case 'processCallback':
      return frame.file.includes('zlib') ? 'ZLIB' : null;
    case 'onchange':
      return recv === 'StatWatcher' ? 'STATWATCHER' : recv === 'FSEvent' ? 'FSEVENTWRAP' : null;
  }
  if (recv === 'FSReqCallback') return 'FSREQCALLBACK';
  if (recv === 'GetAddrInfoReqWrap' || recv === 'GetNameInfoReqWrap') return recv.toUpperCase();
  if (recv === 'QueryReqWrap') return 'QUERYWRAP';
  if (recv === 'MessagePort' || fn.includes('kHybridDispatch')) return 'MESSAGEPORT';
  return null;
}

/**
 * The callback's resource type from the first Node dispatch frame below the app's frames; a stack
 * with no Node frame at all ran as a microtask after a native callback: a promise job. `complete`
 * is false when the stack was cut at the trace limit, so its bottom is unknown.
 */
export function inferResource(frames: readonly Frame[], complete = true): CallbackResource | null {
  if (frames.length === 0) return null;
  let sawNodeFrame = false;
  for (const frame of frames) {
    if (!frame.file.startsWith('node:')) continue;
    sawNodeFrame = true;
    const type = typeOfEntryFrame(frame);
    if (type) return { type, createdAt: null };
  }
  return sawNodeFrame || !complete ? null : { type: 'PROMISE', createdAt: null };
}
