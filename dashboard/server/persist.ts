// The store's disk side. Each run is one NDJSON file of its accepted messages (so a data file is
// a recording any loopscope tool can open) plus a tiny sidecar holding the last stored ingest
// seq, because the recording format has no room for it and without it a batch resent after a
// dashboard restart would be stored twice.
import { createHash } from 'node:crypto';
import { createReadStream, fstatSync, ftruncateSync, readSync, mkdirSync, readdirSync, readFileSync, rmSync, openSync, writeSync, closeSync, write as fsWrite, close as fsClose, open as fsOpen } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseMessageText, type Message } from '../../shared/protocol.js';

const SAFE_RUN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/;
/** Fixed width so the sidecar can be rewritten in place with one positional write. */
const SEQ_WIDTH = 20;

/** Run ids come from the network: only a plain name is used as is, anything else is hashed. */
export function runFileBase(run: string): string {
  return SAFE_RUN.test(run) ? run : `h-${createHash('sha256').update(run).digest('hex').slice(0, 32)}`;
}

export type DiskErrorFn = (what: string, err: NodeJS.ErrnoException) => void;

/**
 * Appends to one run's files. Writes are serialised so lines stay in arrival order, and queued
 * text is coalesced so a slow disk means fewer, larger writes rather than a growing backlog of
 * syscalls. The callbacks passed to append run once the text is on disk or the disk failed.
 */
export class RunFile {
  private fd: number | null = null;
  private seqFd: number | null = null;
  private opening = false;
  private writing = false;
  private queued: string[] = [];
  private queuedSeq = -1;
  private waiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private failed = false;
  private closed = false;

  constructor(
    readonly path: string,
    readonly seqPath: string,
    private readonly onError: DiskErrorFn,
  ) {}

  /** False once a write failed: the run carries on in memory only (its file keeps what it had). */
  get healthy(): boolean {
    return !this.failed;
  }

  append(text: string, seq: number, done: () => void): void {
    if (this.failed || this.closed) {
      done();
      return;
    }
    this.queued.push(text);
    if (seq > this.queuedSeq) this.queuedSeq = seq;
    this.waiters.push(done);
    this.pump();
  }

  private fail(what: string, err: NodeJS.ErrnoException): void {
    this.failed = true;
    this.onError(what, err);
    const waiters = this.waiters;
    this.waiters = [];
    this.queued = [];
    for (const w of waiters) w();
    this.settleIdle();
  }

  private settleIdle(): void {
    if (this.writing || this.opening || this.queued.length > 0) return;
    const idle = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of idle) w();
  }

  private pump(): void {
    if (this.writing || this.opening) return;
    if (this.failed || this.queued.length === 0) return this.settleIdle();
    if (this.fd === null) {
      this.opening = true;
      fsOpen(this.path, 'a', (err, fd) => {
        this.opening = false;
        if (err) return this.fail(`open ${this.path}`, err);
        this.fd = fd;
        this.pump();
      });
      return;
    }
    const text = this.queued.join('');
    const seq = this.queuedSeq;
    const waiters = this.waiters;
    this.queued = [];
    this.waiters = [];
    this.writing = true;
    const buf = Buffer.from(text, 'utf8');
    const writeAll = (offset: number): void => {
      fsWrite(this.fd!, buf, offset, buf.length - offset, null, (err, n) => {
        if (err) {
          this.writing = false;
          this.waiters = waiters.concat(this.waiters);
          return this.fail(`write ${this.path}`, err);
        }
        if (offset + n < buf.length) return writeAll(offset + n);
        this.writeSeq(seq, () => {
          this.writing = false;
          for (const w of waiters) w();
          if (this.closed && this.queued.length === 0) this.release();
          this.pump();
        });
      });
    };
    writeAll(0);
  }

  private writeSeq(seq: number, then: () => void): void {
    if (seq < 0) return then();
    const buf = Buffer.from(String(seq).padEnd(SEQ_WIDTH, ' ') + '\n');
    const go = (fd: number): void => {
      fsWrite(fd, buf, 0, buf.length, 0, (err) => {
        // A lost sidecar only risks a duplicate batch after a restart; the data is what matters.
        if (err) this.onError(`write ${this.seqPath}`, err);
        then();
      });
    };
    if (this.seqFd !== null) return go(this.seqFd);
    fsOpen(this.seqPath, 'w', (err, fd) => {
      if (err) {
        this.onError(`open ${this.seqPath}`, err);
        return then();
      }
      this.seqFd = fd;
      go(fd);
    });
  }

  /** Releases the descriptors once queued writes are done (an idle run holds no fd). */
  close(): void {
    this.closed = true;
    if (!this.writing && !this.opening) this.release();
  }

  /** Reopened on the next append (a run that reconnects). */
  reopen(): void {
    this.closed = false;
  }

  private release(): void {
    if (this.writing || this.opening) return;
    if (this.fd !== null) fsClose(this.fd, () => undefined);
    if (this.seqFd !== null) fsClose(this.seqFd, () => undefined);
    this.fd = null;
    this.seqFd = null;
  }

  /** Resolves when nothing is queued or being written. */
  idle(): Promise<void> {
    if (!this.writing && !this.opening && this.queued.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

export function removeRunFiles(dir: string, base: string): void {
  for (const f of [`${base}.ndjson`, `${base}.seq`]) rmSync(join(dir, f), { force: true });
}

export interface LoadedRun {
  messages: Message[];
  lastSeq: number;
  skipped: number;
}

/** Lists the data files: `<base>.ndjson`. */
export function listDataFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.ndjson'));
  } catch {
    return [];
  }
}

/**
 * A dashboard killed mid-write leaves a partial last line; the next append would glue the first
 * line of a resent batch to it and lose both. Cut the file back to its last complete line.
 */
export function repairTail(path: string): boolean {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r+');
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const chunk = Buffer.alloc(Math.min(size, 64 * 1024));
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) {
        const keep = start + nl + 1;
        if (keep === size) return false;
        ftruncateSync(fd, keep);
        return true;
      }
      end = start;
    }
    ftruncateSync(fd, 0);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

export function readSeq(path: string): number {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(n) && n >= 0 ? n : -1;
  } catch {
    return -1;
  }
}

/** Writes a whole recording synchronously (only used by tools/tests that seed a data dir). */
export function writeRecordingSync(path: string, messages: readonly Message[]): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, messages.map((m) => JSON.stringify(m) + '\n').join(''));
  } finally {
    closeSync(fd);
  }
}

export interface NdjsonResult {
  messages: Message[];
  skipped: number;
  firstError: string | null;
}

/** Reads NDJSON line by line; invalid lines (a cut-off last line, garbage) are counted, not fatal. */
export async function readNdjson(input: NodeJS.ReadableStream, maxBytes = Infinity): Promise<NdjsonResult> {
  const messages: Message[] = [];
  let skipped = 0;
  let firstError: string | null = null;
  let bytes = 0;
  const rl = createInterface({ input, crlfDelay: Infinity });
  for await (const line of rl) {
    bytes += line.length + 1;
    if (bytes > maxBytes) {
      rl.close();
      throw Object.assign(new Error(`recording larger than ${maxBytes} bytes`), { code: 'TOO_LARGE' });
    }
    if (!line.trim()) continue;
    const parsed = parseMessageText(line);
    if (parsed.ok) messages.push(parsed.message);
    else {
      skipped++;
      firstError ??= parsed.error;
    }
  }
  return { messages, skipped, firstError };
}

export function readNdjsonFile(path: string, maxBytes?: number): Promise<NdjsonResult> {
  return readNdjson(createReadStream(path, { encoding: 'utf8' }), maxBytes);
}
