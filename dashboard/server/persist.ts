// The store's disk side. Each live run is one NDJSON file of its accepted messages (so a data file
// is a recording any loopscope tool can open) plus a `.seq` sidecar (seq-file.ts) that says which
// ingest seqs the file holds. A batch is acked only once its bytes are on disk: a write that fails
// is cut back off the file (what was written before it stays) and reported to its caller, so the
// agent keeps the batch and resends it.
import { createHash } from 'node:crypto';
import { fstat, ftruncate, mkdirSync, readdirSync, rmSync, statSync, write as fsWrite, close as fsClose, open as fsOpen } from 'node:fs';
import { join } from 'node:path';
import { formatIntent, type SeqIntent } from './seq-file.js';

/**
 * A live run's file name: the run id itself when it is a plain name, else a hash. No dot is
 * allowed, so no live run's file can ever be named like an uploaded recording's (`*.upload`).
 */
const SAFE_RUN = /^[A-Za-z0-9_-]{1,64}$/;

/** Run ids come from the network: only a plain name is used as is, anything else is hashed. */
export function runFileBase(run: string): string {
  return SAFE_RUN.test(run) ? run : `h-${createHash('sha256').update(run).digest('hex').slice(0, 32)}`;
}

export type DiskErrorFn = (what: string, err: NodeJS.ErrnoException) => void;
/** err is null once the text is on disk. */
export type WrittenFn = (err: NodeJS.ErrnoException | null) => void;

/**
 * Appends to one file. Writes are serialised so lines stay in arrival order, and queued text is
 * coalesced so a slow disk means fewer, larger writes rather than a growing backlog of syscalls.
 */
export class RunFile {
  private fd: number | null = null;
  private seqFd: number | null = null;
  private opening = false;
  private writing = false;
  private queued: string[] = [];
  /** UTF-16 units queued and not yet handed to the disk: what a producer waits on. */
  private queuedChars = 0;
  private queuedSeq = -1;
  private queuedFirstSeq = -1;
  /** Bytes in the data file (known once it is open). */
  private size = 0;
  private waiters: WrittenFn[] = [];
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  /**
   * seqPath null: no sidecar (an uploaded recording). onCut hears the file's size after a failed
   * write was cut back off it (what was queued behind it failed too), for the folder's byte count.
   */
  constructor(
    readonly path: string,
    readonly seqPath: string | null,
    private readonly onError: DiskErrorFn,
    private readonly onCut: (bytes: number) => void = () => undefined,
  ) {}

  /** seq -1: text without an ingest seq. Empty text still waits for the writes queued before it. */
  append(text: string, seq: number, done: WrittenFn): void {
    this.closed = false;
    if (this.queued.length === 0 && this.waiters.length === 0) this.queuedFirstSeq = seq;
    this.queued.push(text);
    this.queuedChars += text.length;
    if (seq > this.queuedSeq) this.queuedSeq = seq;
    this.waiters.push(done);
    this.pump();
  }

  private fail(what: string, err: NodeJS.ErrnoException, waiters: WrittenFn[]): void {
    this.onError(what, err);
    // Whatever was queued behind the failed write fails with it: writing it would leave a gap
    // that a later (cumulative) ack would cover.
    const all = waiters.concat(this.waiters);
    this.waiters = [];
    this.queued = [];
    this.queuedChars = 0;
    this.queuedSeq = -1;
    this.queuedFirstSeq = -1;
    this.release();
    for (const w of all) w(err);
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
    if (this.waiters.length === 0) return this.settleIdle();
    if (this.fd === null) {
      this.opening = true;
      fsOpen(this.path, 'a', (err, fd) => {
        if (err) {
          this.opening = false;
          return this.fail(`open ${this.path}`, err, []);
        }
        fstat(fd, (statErr, st) => {
          this.opening = false;
          if (statErr) {
            fsClose(fd, () => undefined);
            return this.fail(`stat ${this.path}`, statErr, []);
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
    this.queuedChars = 0;
    this.waiters = [];
    this.queuedSeq = -1;
    this.queuedFirstSeq = -1;
    this.writing = true;
    const buf = Buffer.from(text, 'utf8');
    const start = this.size;
    const fd = this.fd;
    const finish = (): void => {
      this.writing = false;
      for (const w of waiters) w(null);
      if (this.closed && this.waiters.length === 0) this.release();
      this.pump();
    };
    const writeAll = (offset: number): void => {
      if (offset >= buf.length) {
        this.size = start + buf.length;
        return finish();
      }
      fsWrite(fd, buf, offset, buf.length - offset, null, (err, n) => {
        if (err) {
          // Cut the partial batch back off: the file keeps every batch written before it.
          ftruncate(fd, start, (cutErr) => {
            this.writing = false;
            this.size = start;
            this.onCut(start);
            this.fail(`write ${this.path}`, err, waiters);
            // Not a regular file (a test's /dev/full): nothing to cut.
            if (cutErr && cutErr.code !== 'EINVAL') this.onError(`cut back ${this.path}`, cutErr);
          });
          return;
        }
        writeAll(offset + n);
      });
    };
    this.writeIntent({ first, last, offset: start, bytes: buf.length }, () => writeAll(0));
  }

  private writeIntent(intent: SeqIntent, then: () => void): void {
    if (this.seqPath === null || intent.last < 0) return then();
    const buf = formatIntent(intent);
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
    if (!this.writing && !this.opening && this.waiters.length === 0) this.release();
  }

  private release(): void {
    if (this.writing || this.opening) return;
    if (this.fd !== null) fsClose(this.fd, () => undefined);
    if (this.seqFd !== null) fsClose(this.seqFd, () => undefined);
    this.fd = null;
    this.seqFd = null;
  }

  /** Text waiting for the disk, in UTF-16 units. */
  get backlog(): number {
    return this.queuedChars;
  }

  /** Resolves when nothing is queued or being written. */
  idle(): Promise<void> {
    if (!this.writing && !this.opening && this.waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

export function removeFiles(dir: string, names: readonly string[]): void {
  for (const f of names) rmSync(join(dir, f), { force: true });
}

export interface DataFileInfo {
  name: string;
  bytes: number;
  mtimeMs: number;
}

/** The data folder's files with their sizes (a file that vanished meanwhile is left out). */
export function listDataFolder(dir: string): DataFileInfo[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: DataFileInfo[] = [];
  for (const name of names) {
    if (!name.endsWith('.ndjson') && !name.endsWith('.seq')) continue;
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) out.push({ name, bytes: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
