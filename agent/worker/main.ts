// INTERFACE STUB: implemented by the worker work.
import { workerData, parentPort } from 'node:worker_threads';
import type { WorkerInit, ToWorker } from '../worker-messages.js';
import { I } from '../shared-state.js';

const init = workerData as WorkerInit;
parentPort?.on('message', (msg: ToWorker) => {
  if (msg.kind === 'records' && msg.flushSeq !== undefined) {
    Atomics.store(init.i32, I.flushAck, msg.flushSeq);
    Atomics.notify(init.i32, I.flushAck);
  }
});
