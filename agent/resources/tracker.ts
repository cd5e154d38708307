// INTERFACE STUB: implemented by the resources work.
import type { AgentContext } from '../context.js';
import type { CallbackResource, LiveResource, ResourcesSample, Unstamped } from '../../shared/protocol.js';

export interface ResourceSnapshot {
  resources: LiveResource[];
  truncated: number;
}

export class ResourceTracker {
  constructor(private readonly ctx: AgentContext) {}
  /** Installs the async_hooks tracker for the configured mode (nothing in lite mode). */
  enable(): void {}
  disable(): void {}
  /** The type and creation site of an async resource (executionAsyncResource() of a blocked callback). */
  describe(resource: object): CallbackResource | null {
    void resource;
    return null;
  }
  /** Counts by type, created per type, and the oldest live long-lived resources. */
  sample(): Unstamped<ResourcesSample> {
    return { type: 'resources', byType: {}, oldest: [], tracked: 0 };
  }
  /** Every live resource now (for the shutdown snapshot and hang report), bounded by limit. */
  snapshot(limit: number): ResourceSnapshot {
    void limit;
    return { resources: [], truncated: 0 };
  }
}
