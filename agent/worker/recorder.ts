// The recording: NDJSON of the protocol messages, written with synchronous fs calls. The worker is
// off the app's thread, so blocking writes cost the app nothing, flush() is trivially durable, and
// a kill loses at most the line being written. The main thread writes the first line (the hello)
// and, at an exit the worker cannot serve in time, the last ones: each write here holds the
// handover lock of agent/recording-file.ts, so the two never write the same record or interleave.
import { openSync, writeSync, closeSync, fstatSync, ftruncateSync } from 'node:fs';
import type { Message, Notice } from '../../shared/protocol.js';
import { epochNow } from '../shared-state.js';
import type { Sink, WarnFn } from './sink.js';
import { workerEnter, workerLeave } from '../recording-file.js';

export { resolveRecordPath } from '../recording-file.js';

/** After a failed open or write, how long before trying the file again. */
const RETRY_MS = 2000;


function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e && typeof e.message === 'string' ? e.message : String(err);
}

export interface RecorderOptions {
  /** After a failed open or write, how long before trying the file again (ms). */
  retryMs?: number;
  /** The shared memory holding the handover lock, when the main thread may write the file too. */
  i32?: Int32Array;
  /** The main thread wrote the hello already: the first hello to come is not written again. */
  skipHello?: boolean;
}

export class Recorder implements Sink {
  private fd: number | null = null;
  /** Our own idea of the file's length, to cut off a line a failed write left half-written. */
  private size = 0;
  private retryAt = 0;
  private lost = 0;
  private lostReason = '';
  private warnedOpen = false;
  private warnedWrite = false;
  private closed = false;
  private readonly retryMs: number;
  private readonly handover: Int32Array | null;
  private skipHello: boolean;

  constructor(
    readonly path: string,
    private readonly run: string,
    private readonly warn: WarnFn,
    options: RecorderOptions = {},
  ) {
    this.retryMs = options.retryMs ?? RETRY_MS;
    this.handover = options.i32 ?? null;
    this.skipHello = options.skipHello ?? false;
  }

  /** Opens now rather than at the first batch, so a bad path is reported while the app still runs. */
  probe(): void {
    this.ensureOpen();
  }

  write(messages: readonly Message[], batch?: number): void {
    if (this.closed || messages.length === 0) return;
    const lock = this.handover;
    // The main thread has taken the file for the exit: what comes now is its to write.
    if (lock && !workerEnter(lock)) return;
    try {
      this.writeMessages(messages);
    } finally {
      // Written or lost and counted, the batch is the worker's: the main thread must not add it.
      if (lock) workerLeave(lock, batch);
    }
  }

  private writeMessages(messages: readonly Message[]): void {
    let text = '';
    let count = 0;
    for (const m of messages) {
      if (this.skipHello && m.type === 'hello') {
        this.skipHello = false;
        continue;
      }
      try {
        text += JSON.stringify(m) + '\n';
        count++;
      } catch {
        // a value JSON cannot hold (BigInt, cycle): the message is dropped, never thrown
        this.loseMessages(1, 'a message could not be serialised');
      }
    }
    if (count > 0) this.writeText(text, count);
  }

  async flush(): Promise<void> {
    // Every write is a synchronous write(2): once it returned, the kernel has the bytes.
  }

  close(): void {
    this.closed = true;
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // already gone
    }
    this.fd = null;
  }

  private loseMessages(count: number, reason: string): void {
    this.lost += count;
    this.lostReason = reason;
  }

  private ensureOpen(): boolean {
    if (this.fd !== null) return true;
    if (this.closed) return false;
    const now = epochNow();
    if (now < this.retryAt) return false;
    try {
      const fd = openSync(this.path, 'a');
      let size = 0;
      try {
        size = fstatSync(fd).size;
      } catch {
        size = 0;
      }
      this.fd = fd;
      this.size = size;
      return true;
    } catch (err) {
      this.retryAt = now + this.retryMs;
      if (!this.warnedOpen) {
        this.warnedOpen = true;
        this.warn(`cannot write the recording ${this.path} (${errorText(err)}); the app carries on without it`);
      }
      return false;
    }
  }

  private writeText(text: string, count: number): void {
    if (!this.ensureOpen()) {
      this.loseMessages(count, 'the recording file could not be opened');
      return;
    }
    let payload = text;
    if (this.lost > 0) payload = this.gapNotice() + payload;
    if (this.writeAll(payload)) {
      this.lost = 0;
      return;
    }
    this.loseMessages(count, this.lostReason || 'writing failed');
  }

  private gapNotice(): string {
    const notice: Notice = {
      type: 'notice',
      run: this.run,
      ts: epochNow(),
      level: 'warn',
      code: 'recording-gap',
      message: `${this.lost} messages are missing from the recording here (${this.lostReason})`,
      count: this.lost,
    };
    return JSON.stringify(notice) + '\n';
  }

  /** True when all of it reached the file; on failure the file is left as it was. */
  private writeAll(text: string): boolean {
    const fd = this.fd;
    if (fd === null) return false;
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      this.size += buf.length;
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      this.lostReason = `write failed: ${code}`;
      if (off > 0) {
        // A half line would make the rest of the file unreadable: cut it off again.
        try {
          ftruncateSync(fd, this.size);
        } catch {
          // not truncatable (a device): the reader skips the damaged line
        }
      }
      if (code === 'EBADF' || code === 'EIO') {
        try {
          closeSync(fd);
        } catch {
          // already closed
        }
        this.fd = null;
      }
      this.retryAt = epochNow() + this.retryMs;
      if (!this.warnedWrite) {
        this.warnedWrite = true;
        this.warn(`writing the recording ${this.path} failed (${errorText(err)}); lost messages are counted and writing resumes when it can`);
      }
      return false;
    }
  }
}
