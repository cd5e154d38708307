// INTERFACE STUB: implemented by the sync I/O work.
import type { AgentContext } from './context.js';
import type { Frame, SyncioSample, Unstamped } from '../shared/protocol.js';

/** Names of the wrapped APIs; the shared state's syncApi slot holds index + 1. */
export const SYNC_API_NAMES: readonly string[] = [];

export class SyncioRecorder {
  constructor(private readonly ctx: AgentContext) {}
  install(): void {}
  uninstall(): void {}
  /** Calls since the last drain, or null when there were none. */
  drain(): Unstamped<SyncioSample> | null {
    return null;
  }
  /** The slowest *Sync call that ended within [from, to] (epoch ms) and took over the block threshold. */
  slowCallWithin(from: number, to: number): { api: string; createdAt: Frame | null } | null {
    void from;
    void to;
    return null;
  }
}
