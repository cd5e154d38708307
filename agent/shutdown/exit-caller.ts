// Who called process.exit(), read from the stack while the 'exit' event is emitted rather than by wrapping
// process.exit: a wrapper would add a frame to every error process.exit throws (an invalid code),
// and the app's stderr for that error must stay byte-identical.
import type { Frame } from '../../shared/protocol.js';
import { firstUserFrame, parseStack, type UserFrameOptions } from '../../shared/stack.js';

export interface ExitOrigin {
  /** True when the 'exit' event came from process.exit() (not a drained loop or a crash). */
  viaExit: boolean;
  caller: Frame | null;
}

const EXIT_FRAME_FILE = 'node:internal/process/per_thread';

function currentStack(): string {
  let prevLimit: number | undefined;
  try {
    prevLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 40;
  } catch {
    prevLimit = undefined;
  }
  try {
    const stack = new Error().stack;
    return typeof stack === 'string' ? stack : '';
  } catch {
    return '';
  } finally {
    if (prevLimit !== undefined) {
      try {
        Error.stackTraceLimit = prevLimit;
      } catch {
        // frozen by the app: nothing to restore
      }
    }
  }
}

/** Call while 'exit' is emitted: the stack then runs through process.exit when the app called it. */
export function exitOrigin(options: UserFrameOptions): ExitOrigin {
  const frames = parseStack(currentStack());
  const idx = frames.findIndex((f) => f.file.startsWith(EXIT_FRAME_FILE) && /(^|\.)exit$/.test(f.functionName));
  if (idx < 0) return { viaExit: false, caller: null };
  return { viaExit: true, caller: firstUserFrame(frames.slice(idx + 1), options) };
}
