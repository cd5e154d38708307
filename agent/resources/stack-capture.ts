// A creation stack captured cheaply: the frames are recorded now, the text only when read.

export interface StackHolder {
  stack?: string;
}

/**
 * Captures the stack above `above` without formatting it: V8 builds the text on the first read
 * of .stack, which for most resources (closed before anyone looks) never happens.
 */
export function captureStack(above: Function, frames: number): StackHolder {
  const holder: StackHolder = {};
  const prev = Error.stackTraceLimit;
  Error.stackTraceLimit = frames;
  try {
    Error.captureStackTrace(holder, above);
  } finally {
    Error.stackTraceLimit = prev;
  }
  return holder;
}
