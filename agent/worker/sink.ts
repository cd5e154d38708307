// Where the worker puts messages: the recording file, the dashboard connection, the OTel export.
import type { Message } from '../../shared/protocol.js';

export interface Sink {
  /**
   * Takes a batch; must not throw (a failing sink warns once and keeps what it can). `batch`: the
   * main thread's number for it, when it came from there (the recording's handover at exit).
   */
  write(messages: readonly Message[], batch?: number): void;
  /** Resolves once everything written so far is durable/sent, or the sink gave up. Bounded by the caller. */
  flush(): Promise<void>;
  /** Synchronous best effort, for a worker that is about to be torn down. */
  close(): void;
}

export type WarnFn = (message: string) => void;
