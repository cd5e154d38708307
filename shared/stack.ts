// Stack text -> frames. Parsed from V8's text rather than structured call sites so that whatever
// the app installed to map stacks (--enable-source-maps, source-map-support) applies to ours too.
import type { Frame } from './protocol.js';

// "    at fn (file:1:2)", "    at file:1:2", "    at async fn (file:1:2)", "    at new Foo (file:1:2)"
const FRAME_WITH_NAME = /^\s*at (?:async )?(.*?) \((.*):(\d+):(\d+)\)$/;
const FRAME_BARE = /^\s*at (?:async )?(.*):(\d+):(\d+)$/;

export function parseStack(stack: string | undefined): Frame[] {
  if (!stack) return [];
  const frames: Frame[] = [];
  for (const line of stack.split('\n')) {
    let m = FRAME_WITH_NAME.exec(line);
    if (m) {
      frames.push({ functionName: m[1] ?? '', file: m[2] ?? '', line: Number(m[3]), column: Number(m[4]) });
      continue;
    }
    m = FRAME_BARE.exec(line);
    if (m) frames.push({ functionName: '', file: m[1] ?? '', line: Number(m[2]), column: Number(m[3]) });
  }
  return frames;
}

export interface UserFrameOptions {
  /** Count frames under node_modules as user code (off by default: the user's own code is wanted). */
  includeNodeModules?: boolean;
  /** Paths to skip in addition to node internals, e.g. the agent's own folder. */
  ignorePrefixes?: readonly string[];
}

export function isInternalFile(file: string): boolean {
  return file.startsWith('node:') || file.startsWith('internal/') || file === 'native' || file === '<anonymous>' || !file;
}

export function isUserFrame(frame: Frame, options: UserFrameOptions = {}): boolean {
  if (isInternalFile(frame.file)) return false;
  if (!options.includeNodeModules && /[\\/]node_modules[\\/]/.test(frame.file)) return false;
  if (options.ignorePrefixes?.some((p) => frame.file.startsWith(p) || frame.file.startsWith(`file://${p}`))) return false;
  return true;
}

/** The first frame in the user's code, or, failing that, the first frame outside node internals. */
export function firstUserFrame(frames: readonly Frame[], options: UserFrameOptions = {}): Frame | null {
  for (const f of frames) if (isUserFrame(f, options)) return f;
  for (const f of frames) if (!isInternalFile(f.file) && !options.ignorePrefixes?.some((p) => f.file.includes(p))) return f;
  return null;
}

export function formatFrame(frame: Frame): string {
  const where = `${frame.file}:${frame.line}:${frame.column}`;
  return frame.functionName ? `${frame.functionName} (${where})` : where;
}
