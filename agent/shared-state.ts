// Memory shared between the main thread and the agent worker. The main thread only stores numbers
// here (no allocation, no message) so the heartbeat costs nothing the app would notice, and the
// worker can read it while the main thread is stuck.
import { captured } from './captured.js';

/** Int32 slots. */
export const I = {
  /** Incremented by every heartbeat. */
  beatSeq: 0,
  /** Index+1 into SYNC_APIS of the *Sync call running now on the main thread; 0 when none. */
  syncApi: 1,
  /** Last flush sequence the worker has written out (main waits on it at exit). */
  flushAck: 2,
  /** Set to 1 by the worker once it is ready to take records. */
  workerReady: 3,
  /** Set to 1 by the main thread when the process is exiting: the worker stops capturing stacks. */
  exiting: 4,
  /** APP_OWNS_* bits (agent/otel/app-hook.ts): parts of the OTel export the app's own providers took over. */
  appOtel: 5,
  /** Who writes the recording file now (agent/recording-file.ts): free, the worker, or the main thread for good. */
  recordLock: 6,
  /** The last main-thread batch the worker wrote to the recording file. */
  recordAck: 7,
  length: 8,
} as const;

/** Float64 slots, epoch milliseconds with sub-ms precision. */
export const F = {
  /** Time of the last heartbeat. */
  beatAt: 0,
  /** Start of the *Sync call running now. */
  syncStartedAt: 1,
  length: 4,
} as const;

export interface SharedState {
  i32: Int32Array;
  f64: Float64Array;
}

export function createSharedState(): SharedState {
  return {
    i32: new Int32Array(new SharedArrayBuffer(I.length * 4)),
    f64: new Float64Array(new SharedArrayBuffer(F.length * 8)),
  };
}

/** Epoch ms with sub-ms precision; comparable across threads (each has its own timeOrigin). */
export function epochNow(): number {
  return captured.timeOrigin + captured.perfNow();
}
