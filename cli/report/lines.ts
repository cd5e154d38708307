// Splits a recording into lines over bytes, with a limit per line. A record is never longer than
// the dashboard's largest frame, so a line far past that is not a record: it is skipped as it
// streams by (its bytes counted, never kept), which keeps reading linear in time and bounded in
// memory whatever the file holds, even one line of gigabytes without a newline.

/**
 * The longest line read as a record. The agent's messages are far smaller (the dashboard accepts
 * 4 MiB frames of many messages); the margin is for hand-made or merged files.
 */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

const NEWLINE = 0x0a;

export interface LineSink {
  /** A complete line (without its newline), decoded as UTF-8. `terminated`: a newline followed it. */
  line(text: string, lineNo: number, terminated: boolean): void;
  /** A line longer than the limit, skipped; `bytes` is its full length. */
  tooLong(lineNo: number, bytes: number): void;
}

export class LineSplitter {
  /** Pieces of the line being gathered; empty while skipping a line that is too long. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  private skipping = false;
  private skippedBytes = 0;
  private lineNo = 0;

  constructor(
    private readonly sink: LineSink,
    readonly maxLineBytes = MAX_LINE_BYTES,
  ) {}

  /** Lines started so far (the one being read included). */
  get lines(): number {
    return this.lineNo + (this.partBytes > 0 || this.skipping ? 1 : 0);
  }

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) {
        this.gather(chunk, start, chunk.length);
        return;
      }
      if (this.partBytes === 0 && !this.skipping && nl - start <= this.maxLineBytes) {
        // The common case: the whole line sits in this chunk, decode it in place.
        this.lineNo++;
        this.sink.line(chunk.toString('utf8', start, nl), this.lineNo, true);
      } else {
        this.gather(chunk, start, nl);
        this.finish(true);
      }
      start = nl + 1;
    }
  }

  /** The input ended: a last line without a newline is still a line. */
  end(): void {
    if (this.partBytes > 0 || this.skipping) this.finish(false);
  }

  private gather(chunk: Buffer, from: number, to: number): void {
    const length = to - from;
    if (length === 0) return;
    if (this.skipping) {
      this.skippedBytes += length;
      return;
    }
    if (this.partBytes + length > this.maxLineBytes) {
      this.skipping = true;
      this.skippedBytes = this.partBytes + length;
      this.parts = [];
      this.partBytes = 0;
      return;
    }
    // A copy: a view would keep the whole read buffer alive for a few bytes of it.
    this.parts.push(Buffer.from(chunk.subarray(from, to)));
    this.partBytes += length;
  }

  private finish(terminated: boolean): void {
    this.lineNo++;
    if (this.skipping) {
      const bytes = this.skippedBytes;
      this.skipping = false;
      this.skippedBytes = 0;
      this.sink.tooLong(this.lineNo, bytes);
      return;
    }
    const text = Buffer.concat(this.parts, this.partBytes).toString('utf8');
    this.parts = [];
    this.partBytes = 0;
    this.sink.line(text, this.lineNo, terminated);
  }
}
