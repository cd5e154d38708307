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
import { captured } from '../captured.js';

export interface StepAside {
  /** Call on the main thread from inside a block (Runtime.evaluate from the worker). */
  mainBlocked(): void;
  /** True while the listeners are out. */
  readonly active: boolean;
}

/** The agent's lone listener per signal, as install.ts keeps it. */
export interface LoneListeners {
  /** True when the agent's listener is the only one for the signal. */
  alone(signal: NodeJS.Signals): boolean;
  remove(signal: NodeJS.Signals): void;
  /** Puts it back if the app still has no listener of its own. */
  restore(signal: NodeJS.Signals): void;
}

export function createStepAside(ctx: AgentContext, signals: readonly NodeJS.Signals[], lone: LoneListeners, isInstalled: () => boolean): StepAside {
  let removed: NodeJS.Signals[] | null = null;

  const restore = (): void => {
    const out = removed;
    removed = null;
    if (!out || !isInstalled()) return;
    try {
      for (const signal of out) lone.restore(signal);
    } catch {
      // never into the app
    }
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
          if (!lone.alone(signal)) continue;
          lone.remove(signal);
          out.push(signal);
        }
        if (out.length === 0) return;
        removed = out;
        // setImmediate runs in the check phase of the first loop turn after the block: by then
        // the block is over. Unref'd: it must not keep a process alive that would otherwise end.
        // The one captured at load: an app's fake timers must not keep the listeners out.
        const back = ctx.internal(() => captured.setImmediate(restore));
        back.unref();
      } catch {
        // never into the app (this runs inside whatever the app was doing)
      }
    },
  };
}
