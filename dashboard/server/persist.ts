// The store's disk side. Each run is one NDJSON file of its accepted messages (so a data file is
// a recording any loopscope tool can open) plus a tiny sidecar that says which ingest seqs the
// file holds, because the recording format has no room for it and without it a batch resent
// after a dashboard restart would be stored twice. The sidecar is written *before* each batch
// ("seqs first..last go at offset S, L bytes"), so after a crash a batch that did not fully land
// is cut off and taken again from the agent's resend, and one that did is never taken twice.
import { createHash } from 'node:crypto';
import { createReadStream, fstat, statSync, truncateSync, fstatSync, ftruncateSync, readSync, mkdirSync, readdirSync, readFileSync, rmSync, openSync, writeSync, closeSync, write as fsWrite, close as fsClose, open as fsOpen } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseMessageText, type Message } from '../../shared/protocol.js';

const SAFE_RUN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/;
/** Fixed width so the sidecar can be rewritten in place with one positional write. */
const SEQ_WIDTH = 80;

/** Run ids come from the network: only a plain name is used as is, anything else is hashed. */
export function runFileBase(run: string): string {
  return SAFE_RUN.test(run) ? run : `h-${createHash('sha256').update(run).digest('hex').slice(0, 32)}`;
}

interface SeqIntent {
  first: number;
  last: number;
  offset: number;
  bytes: number;
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
  private queuedFirstSeq = -1;
  /** Bytes in the data file (known once it is open). */
  private size = 0;
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
    if (this.queued.length === 0) this.queuedFirstSeq = seq;
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
        if (err) {
          this.opening = false;
          return this.fail(`open ${this.path}`, err);
        }
        fstat(fd, (statErr, st) => {
          this.opening = false;
          if (statErr) {
            fsClose(fd, () => undefined);
            return this.fail(`stat ${this.path}`, statErr);
          }
          this.fd = fd;
          this.size = st.size;
          this.pump();
        });
      });
      return;
    }
    const text = this.queued.join('');
    const first = this.queuedFirstSeq;
    const last = this.queuedSeq;
    const waiters = this.waiters;
    this.queued = [];
    this.waiters = [];
    this.writing = true;
    const buf = Buffer.from(text, 'utf8');
    const start = this.size;
    const writeAll = (offset: number): void => {
      fsWrite(this.fd!, buf, offset, buf.length - offset, null, (err, n) => {
        if (err) {
          this.writing = false;
          this.waiters = waiters.concat(this.waiters);
          return this.fail(`write ${this.path}`, err);
        }
        if (offset + n < buf.length) return writeAll(offset + n);
        this.size = start + buf.length;
        this.writing = false;
        for (const w of waiters) w();
        if (this.closed && this.queued.length === 0) this.release();
        this.pump();
      });
    };
    this.writeIntent({ first, last, offset: start, bytes: buf.length }, () => writeAll(0));
  }

  private writeIntent(intent: SeqIntent, then: () => void): void {
    if (intent.last < 0) return then();
    const line = `${intent.first} ${intent.last} ${intent.offset} ${intent.bytes}`;
    const buf = Buffer.from(line.padEnd(SEQ_WIDTH - 1, ' ') + '\n');
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

/**
 * Brings a run's files back to a consistent state after any kind of stop and says the last seq
 * the data file fully holds (-1: unknown, every resent batch is taken).
 */
export function recoverRunFile(dataPath: string, seqPath: string): { lastSeq: number; cut: string | null } {
  let text: string;
  try {
    text = readFileSync(seqPath, 'utf8').trim();
  } catch {
    return { lastSeq: -1, cut: repairTail(dataPath) ? 'a partial last line' : null };
  }
  const [first, last, offset, bytes] = text.split(/\s+/).map((n) => Number.parseInt(n, 10));
  if (![first, last, offset, bytes].every((n) => Number.isInteger(n) && n! >= 0)) {
    return { lastSeq: -1, cut: repairTail(dataPath) ? 'a partial last line' : null };
  }
  let size = 0;
  try {
    size = statSync(dataPath).size;
  } catch {
    return { lastSeq: -1, cut: null };
  }
  if (size >= offset! + bytes!) {
    return { lastSeq: last!, cut: repairTail(dataPath) ? 'a partial last line' : null };
  }
  // The last batch did not fully land: drop what did; the agent resends it, as it was never acked.
  try {
    truncateSync(dataPath, offset!);
  } catch {
    return { lastSeq: -1, cut: null };
  }
  return { lastSeq: first! - 1, cut: `batch ${first}..${last} that was being written` };
}

/** Writes a whole recording synchronously (an opened recording kept in the data folder; tests seeding one). */
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
