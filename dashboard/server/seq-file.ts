// The `.seq` sidecar of a live run's data file: "seqs first..last go at offset S, L bytes",
// written before each batch. The recording format has no room for ingest seqs, and without them a
// batch resent after a restart would be stored twice. The sidecar is a claim about the data file,
// never trusted over it: a claim the file cannot back (an offset past its end, garbage) is dropped
// and the file is only ever cut back to a line it holds, never extended.
import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync } from 'node:fs';

/** Fixed width so the sidecar can be rewritten in place with one positional write. */
export const SEQ_WIDTH = 80;

export interface SeqIntent {
  first: number;
  last: number;
  offset: number;
  bytes: number;
}

export function formatIntent(intent: SeqIntent): Buffer {
  const line = `${intent.first} ${intent.last} ${intent.offset} ${intent.bytes}`;
  return Buffer.from(line.padEnd(SEQ_WIDTH - 1, ' ') + '\n');
}

export function parseIntent(text: string): SeqIntent | null {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,15}$/.test(p))) return null;
  const [first, last, offset, bytes] = parts.map(Number) as [number, number, number, number];
  if (first > last) return null;
  return { first, last, offset, bytes };
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

export interface Recovered {
  /** The last seq the data file fully holds (-1: unknown, every resent batch is taken). */
  lastSeq: number;
  /** What was cut off the data file, for the log. */
  cut: string | null;
  /** Why the sidecar was not believed, for the log. */
  distrusted: string | null;
}

/** Brings a run's files back to a consistent state after any kind of stop. */
export function recoverRunFile(dataPath: string, seqPath: string): Recovered {
  const tailOnly = (distrusted: string | null): Recovered => ({
    lastSeq: -1,
    cut: repairTail(dataPath) ? 'a partial last line' : null,
    distrusted,
  });
  let text: string;
  try {
    text = readFileSync(seqPath, 'utf8');
  } catch {
    return tailOnly(null);
  }
  let size: number;
  try {
    size = statSync(dataPath).size;
  } catch {
    return { lastSeq: -1, cut: null, distrusted: null };
  }
  const intent = parseIntent(text);
  if (intent === null || intent.offset > size) {
    // Stale or foreign: it cannot describe this file. Dropped, so it is not misread again; the
    // next batch writes a fresh one.
    rmSync(seqPath, { force: true });
    const said = text.trim().slice(0, 60);
    return tailOnly(intent === null ? `unreadable .seq sidecar (${JSON.stringify(said)})` : `.seq sidecar says offset ${intent.offset} but the file has ${size} bytes`);
  }
  if (size >= intent.offset + intent.bytes) {
    return { lastSeq: intent.last, cut: repairTail(dataPath) ? 'a partial last line' : null, distrusted: null };
  }
  // The last batch did not fully land, so it was never acked: the agent still holds it and
  // resends it. Everything before it stays.
  try {
    truncateSync(dataPath, intent.offset);
  } catch {
    return { lastSeq: -1, cut: null, distrusted: null };
  }
  return { lastSeq: intent.first - 1, cut: `batch ${intent.first}..${intent.last} that was being written`, distrusted: null };
}
