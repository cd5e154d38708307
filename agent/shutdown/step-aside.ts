// A JS signal listener only runs when the event loop turns. While the main thread is blocked
// (a busy loop, a long synchronous section), a SIGTERM or Ctrl-C caught by the agent's listener
// waits for the block to end, where without the agent the process would have died at once. So
// when a block is detected (the worker evaluates this on the blocked main thread), the agent's
// listeners that are alone step aside: the signal's default action is back and the next signal
// kills the process as it would without the agent (no end record then: readers infer "killed").
// They come back once the loop turns again. A signal that arrived between the start of the block
// and its detection is still queued for the removed listener and is lost: that window is the
// block threshold.
import type { AgentContext } from '../context.js';

export interface StepAside {
  /** Call on the main thread from inside a block (Runtime.evaluate from the worker). */
  mainBlocked(): void;
  /** True while the listeners are out. */
  readonly active: boolean;
}

export function createStepAside(
  ctx: AgentContext,
  signals: readonly NodeJS.Signals[],
  listener: (signal: NodeJS.Signals) => void,
  isInstalled: () => boolean,
): StepAside {
  let removed: NodeJS.Signals[] | null = null;

  const restore = (): void => {
    const out = removed;
    removed = null;
    if (!out || !isInstalled()) return;
    ctx.internal(() => {
      for (const signal of out) if (!process.listeners(signal).includes(listener)) process.prependListener(signal, listener);
    });
  };

  return {
    get active(): boolean {
      return removed !== null;
    },
    mainBlocked(): void {
      try {
        if (removed || !isInstalled()) return;
        const out: NodeJS.Signals[] = [];
        for (const signal of signals) {
          const listeners = process.listeners(signal);
          if (listeners.length === 1 && listeners[0] === listener) {
            process.off(signal, listener);
            out.push(signal);
          }
        }
        if (out.length === 0) return;
        removed = out;
        // setImmediate runs in the check phase of the first loop turn after the block: by then
        // the block is over. Unref'd: it must not keep a process alive that would otherwise end.
        const back = ctx.internal(() => setImmediate(restore));
        back.unref();
      } catch {
        // never into the app (this runs inside whatever the app was doing)
      }
    },
  };
}
