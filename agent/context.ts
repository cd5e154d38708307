// What every recorder on the main thread gets from the agent: its config, a way to record a
// message, and the shared memory the worker reads.
import type { AgentConfig } from './config.js';
import type { SharedState } from './shared-state.js';
import type { Unstamped } from '../shared/protocol.js';
import type { UserFrameOptions } from '../shared/stack.js';

export interface AgentContext {
  readonly config: AgentConfig;
  readonly run: string;
  readonly shared: SharedState;
  /** Frame filter for creation sites: skips node internals, the agent, node_modules by default. */
  readonly frameOptions: UserFrameOptions;
  /** Queue a message for the worker; `urgent` posts it now instead of with the next batch. */
  record(message: Unstamped, urgent?: boolean): void;
  /** Hand every queued message to the worker and wait, at most `timeoutMs`, until it is written. */
  flushSync(timeoutMs: number): boolean;
  /**
   * The last flush, on the way out: like flushSync, and when the worker cannot confirm in time the
   * main thread writes the recording's remaining records itself (exit paths only: it blocks).
   */
  flushFinal(timeoutMs: number): boolean;
  /** Run fn with the agent's own resources kept out of what it reports. */
  internal<T>(fn: () => T): T;
  /** True while internal() runs. */
  readonly inInternal: boolean;
  /** Warn once on stderr, prefixed, without touching process warnings the app may listen to. */
  warn(message: string): void;
}
