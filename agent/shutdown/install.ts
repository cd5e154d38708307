// INTERFACE STUB: implemented by the shutdown work.
import type { AgentContext } from '../context.js';
import type { ResourceTracker } from '../resources/tracker.js';

export interface ShutdownHandle {
  uninstall(): void;
}

/** Follows signals, exit and crashes; `finalSample` records a last loop/resources sample. */
export function installShutdown(ctx: AgentContext, tracker: ResourceTracker, finalSample: () => void): ShutdownHandle {
  const onExit = (): void => {
    finalSample();
    ctx.flushSync(ctx.config.flushTimeoutMs);
  };
  void tracker;
  process.on('exit', onExit);
  return { uninstall: () => process.off('exit', onExit) };
}
