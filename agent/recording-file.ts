// The recording file as both threads see it. The worker writes it (off the app's thread), except at
// the two ends of a short life: the main thread writes the hello itself at start (a process killed
// before the worker is up still leaves a file that names it), and at exit, when the worker has not
// confirmed the last records (not started yet, or stuck), the main thread writes what the worker
// has not, itself, synchronously.
//
// "Never twice" rests on a lock word in shared memory: the worker holds it around each write to the
// file and, inside it, publishes the number of the last main-thread batch it wrote. The main thread
// takes the lock for good (MAIN) before writing; from then on the worker writes nothing to the
// file, and the main thread writes exactly the batches after the published number.
import { resolve } from 'node:path';
import { captured } from './captured.js';
import { I, type SharedState } from './shared-state.js';

/** `%p` -> pid; a relative path is taken from the process's working directory. */
export function resolveRecordPath(template: string, pid: number = process.pid, cwd: string = process.cwd()): string {
  return resolve(cwd, template.replace(/%p/g, String(pid)));
}

/** Values of the lock word I.recordLock. */
export const RECORD_FREE = 0;
export const RECORD_WORKER = 1;
/** The main thread took the file over at exit; final. */
export const RECORD_MAIN = 2;

/** The worker, before a write: false when the main thread owns the file now. */
export function workerEnter(i32: Int32Array): boolean {
  return Atomics.compareExchange(i32, I.recordLock, RECORD_FREE, RECORD_WORKER) === RECORD_FREE;
}

/** The worker, after a write; `batch`: the main-thread batch that write carried, if any. */
export function workerLeave(i32: Int32Array, batch: number | undefined): void {
  if (batch !== undefined && Atomics.load(i32, I.recordAck) < batch) Atomics.store(i32, I.recordAck, batch);
  Atomics.store(i32, I.recordLock, RECORD_FREE);
  Atomics.notify(i32, I.recordLock);
}

/**
 * The main thread takes the file for good. Waits at most `waitMs` for a write of the worker in
 * progress (one write(2) of a batch); false when it could not (the worker keeps the file then).
 */
export function mainTakeOver(shared: SharedState, waitMs: number): boolean {
  const i32 = shared.i32;
  const deadline = captured.perfNow() + waitMs;
  for (;;) {
    const was = Atomics.compareExchange(i32, I.recordLock, RECORD_FREE, RECORD_MAIN);
    if (was === RECORD_FREE || was === RECORD_MAIN) return true;
    const left = deadline - captured.perfNow();
    if (left <= 0) return false;
    Atomics.wait(i32, I.recordLock, was, left);
  }
}

/** The last main-thread batch the worker wrote to the file. */
export function lastBatchWritten(shared: SharedState): number {
  return Atomics.load(shared.i32, I.recordAck);
}

/**
 * Appends text to the file with one open/write/close, through fs functions captured before the
 * agent's sync I/O wrappers (this is the agent's I/O, not the app's). Throws on failure.
 */
export function appendSync(path: string, text: string): void {
  const fd = captured.openSync(path, 'a');
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += captured.writeSync(fd, buf, off, buf.length - off);
  } finally {
    captured.closeSync(fd);
  }
}
