// NDJSON over bytes, for an uploaded recording, `--open FILE` and the data folder at start-up.
// readline counted UTF-16 units and only at a line's end, so one line of 600 MB without a newline
// was buffered whole (and crashed), and a big upload blocked the loop for seconds. Here the limits
// are in bytes and checked as each chunk arrives, a line past its limit is skipped without being
// kept, and the reader yields to the loop every few milliseconds so /ingest and /live carry on.
import { createReadStream } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parseMessageText, type Message } from '../../shared/protocol.js';
import { MAX_FRAME_BYTES } from '../../shared/dashboard-constants.js';

/** A line longer than this is skipped (the largest frame an agent may send over /ingest). */
export const MAX_LINE_BYTES = MAX_FRAME_BYTES;
/** Work done between two yields to the event loop. */
const SLICE_MS = 8;
const NEWLINE = 0x0a;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export interface NdjsonReadOptions {
  /** Total bytes accepted; past it the read stops with an error whose code is TOO_LARGE. */
  maxBytes?: number;
  maxLineBytes?: number;
  /** Takes one valid message; returns a reason to count it as skipped instead. */
  onMessage(m: Message): string | null;
  /** Asked at each pause: a promise to wait on before reading on (the consumer's backlog). */
  wait?: () => Promise<void> | null;
}

export interface NdjsonReadResult {
  /** Non-blank lines seen: accepted + skipped. */
  lines: number;
  accepted: number;
  skipped: number;
  firstError: string | null;
  bytes: number;
}

export class TooLargeError extends Error {
  readonly code = 'TOO_LARGE';
  constructor(limit: number) {
    super(`recording larger than ${limit} bytes`);
  }
}

export async function readNdjsonStream(input: AsyncIterable<Buffer | string>, options: NdjsonReadOptions): Promise<NdjsonReadResult> {
  const maxBytes = options.maxBytes ?? Infinity;
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const result: NdjsonReadResult = { lines: 0, accepted: 0, skipped: 0, firstError: null, bytes: 0 };
  // The current line's pieces; dropped (and only counted) once the line is over its limit.
  let pieces: Buffer[] = [];
  let lineBytes = 0;
  let lineTooLong = false;
  let first = true;
  let sliceStart = performance.now();

  const pause = async (): Promise<void> => {
    await (options.wait?.() ?? nextTurn());
    sliceStart = performance.now();
  };

  const skip = (reason: string): void => {
    result.skipped++;
    result.firstError ??= reason;
  };

  const endLine = (): void => {
    if (lineTooLong) {
      result.lines++;
      skip(`line longer than ${maxLineBytes} bytes`);
    } else if (lineBytes > 0) {
      let buf = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, lineBytes);
      if (first && buf.subarray(0, 3).equals(BOM)) buf = buf.subarray(3);
      if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, -1);
      let text: string | null = null;
      try {
        text = decoder.decode(buf);
      } catch {
        result.lines++;
        skip('not UTF-8');
      }
      if (text !== null && text.trim() !== '') {
        result.lines++;
        const parsed = parseMessageText(text);
        if (!parsed.ok) skip(parsed.error);
        else {
          const refused = options.onMessage(parsed.message);
          if (refused === null) result.accepted++;
          else skip(refused);
        }
      }
    }
    first = false;
    pieces = [];
    lineBytes = 0;
    lineTooLong = false;
  };

  const take = (part: Buffer): void => {
    if (part.length === 0 || lineTooLong) return;
    lineBytes += part.length;
    if (lineBytes > maxLineBytes) {
      lineTooLong = true;
      pieces = [];
      return;
    }
    pieces.push(part);
  };

  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    result.bytes += chunk.length;
    if (result.bytes > maxBytes) throw new TooLargeError(maxBytes);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) {
        // A copy: the stream may reuse its buffer, and a slice would pin the whole chunk.
        if (start < chunk.length) take(Buffer.from(chunk.subarray(start)));
        break;
      }
      take(chunk.subarray(start, nl));
      endLine();
      start = nl + 1;
      if (performance.now() - sliceStart > SLICE_MS) await pause();
    }
    if (performance.now() - sliceStart > SLICE_MS) await pause();
  }
  endLine();
  return result;
}

export function readNdjsonFile(path: string, options: NdjsonReadOptions): Promise<NdjsonReadResult> {
  return readNdjsonStream(createReadStream(path), options);
}

/** Every valid message of a file, in memory: for tests and small files only. */
export async function readMessagesFile(path: string, maxBytes?: number): Promise<{ messages: Message[] } & NdjsonReadResult> {
  const messages: Message[] = [];
  const result = await readNdjsonFile(path, {
    ...(maxBytes !== undefined ? { maxBytes } : {}),
    onMessage: (m) => {
      messages.push(m);
      return null;
    },
  });
  return { messages, ...result };
}
