// Reads a recording line by line over bytes: time linear in the file, memory bounded by the
// runs kept (run-keeper.ts) and the longest line read (lines.ts), whatever the file holds.
import { createReadStream } from 'node:fs';
import { parseMessage, type Message } from '../../shared/protocol.js';
import { applyMessage, type RunState } from '../../shared/run-state.js';
import type { ReportFileFacts, ReportLoop, ReportSkipped } from '../../shared/report-json.js';
import { PROTOCOL_VERSION } from '../../shared/version.js';
import { LineSplitter, MAX_LINE_BYTES } from './lines.js';
import { RunKeeper, type KeeperOptions } from './run-keeper.js';

export interface ReadRecording extends ReportFileFacts {
  /** The runs kept in full, in the order they first appear in the file. */
  runs: Map<string, RunState>;
  /** Loop figures over every interval of each run (the run state keeps only the latest points). */
  loops: Map<string, ReportLoop>;
  /** The report's root: the run asked for, or the first top-level run; null to let the report choose. */
  rootRun: string | null;
  /** First few invalid lines, for the user: line number and why. */
  invalidSamples: { line: number; error: string }[];
  lines: number;
  skipped: ReportSkipped;
}

export interface ReadOptions extends KeeperOptions {
  maxLineBytes?: number;
}

const MAX_SAMPLES = 5;

/** A hello from another protocol version may not fit today's schema: look before validating (as ingest does). */
function foreignProtocol(value: unknown): { run: string; protocol: number } | null {
  if (typeof value !== 'object' || value === null) return null;
  const { type, protocol, run } = value as { type?: unknown; protocol?: unknown; run?: unknown };
  if (type !== 'hello' || typeof protocol !== 'number' || protocol === PROTOCOL_VERSION || typeof run !== 'string') return null;
  return { run, protocol };
}

function runOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const run = (value as { run?: unknown }).run;
  return typeof run === 'string' ? run : null;
}

/** Folds a stream of NDJSON bytes; exported apart from the file so tests can feed text. */
export class RecordingFolder {
  private readonly splitter: LineSplitter;
  private readonly keeper: RunKeeper;
  private invalid = 0;
  private readonly samples: { line: number; error: string }[] = [];
  private tooLong = 0;
  private readonly tooLongSamples: { line: number; bytes: number }[] = [];
  private readonly refusedSamples: { run: string; protocol: number; line: number }[] = [];
  private refusedRuns = 0;
  private truncated = false;
  private readonly selected: string | undefined;

  constructor(options: ReadOptions = {}) {
    this.selected = options.run;
    this.keeper = new RunKeeper(options);
    this.splitter = new LineSplitter(
      {
        line: (text, lineNo, terminated) => this.line(text, lineNo, terminated),
        tooLong: (lineNo, bytes) => {
          this.tooLong++;
          if (this.tooLongSamples.length < MAX_SAMPLES) this.tooLongSamples.push({ line: lineNo, bytes });
        },
      },
      options.maxLineBytes ?? MAX_LINE_BYTES,
    );
  }

  push(chunk: Buffer | string): void {
    this.splitter.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  }

  end(): ReadRecording {
    this.splitter.end();
    const runs = new Map<string, RunState>();
    const loops = new Map<string, ReportLoop>();
    for (const [id, kept] of this.keeper.keptInFileOrder()) {
      runs.set(id, kept.state);
      loops.set(id, kept.loop.summary());
    }
    return {
      runs,
      loops,
      rootRun: this.keeper.root !== null && runs.has(this.keeper.root) ? this.keeper.root : null,
      invalidLines: this.invalid,
      truncatedLastLine: this.truncated,
      invalidSamples: this.samples,
      lines: this.splitter.lines,
      skipped: {
        runsInFile: this.keeper.runsSeen,
        runsShown: runs.size,
        runsOmitted: this.keeper.runsOmitted,
        omittedMessages: this.keeper.omittedMessages,
        countsApproximate: this.keeper.countsApproximate,
        linesTooLong: this.tooLong,
        maxLineBytes: this.splitter.maxLineBytes,
        tooLongSamples: this.tooLongSamples,
        refusedRuns: this.refusedRuns,
        refusedMessages: this.keeper.refusedMessages,
        refusedSamples: this.refusedSamples,
        readerProtocol: PROTOCOL_VERSION,
      },
    };
  }

  private line(raw: string, lineNo: number, terminated: boolean): void {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.reject(lineNo, terminated, `not JSON: ${(err as Error).message}`);
      return;
    }
    const run = runOf(value);
    if (run !== null && this.keeper.isRefused(run)) {
      this.keeper.stateFor(run, null); // counts the line
      return;
    }
    const foreign = foreignProtocol(value);
    if (foreign) {
      this.refusedRuns++;
      this.keeper.refuse(foreign.run);
      // The run asked for is always named: its refusal is the answer to --run.
      if (this.refusedSamples.length < MAX_SAMPLES || foreign.run === this.selected) this.refusedSamples.push({ ...foreign, line: lineNo });
      return;
    }
    const parsed = parseMessage(value);
    if (!parsed.ok) {
      this.reject(lineNo, terminated, parsed.error);
      return;
    }
    this.apply(parsed.message);
  }

  private reject(lineNo: number, terminated: boolean, error: string): void {
    // The writer ends every record with a newline: a last line without one that does not
    // parse is a record cut off by the process dying, not a bad record.
    if (!terminated) {
      this.truncated = true;
      return;
    }
    this.invalid++;
    if (this.samples.length < MAX_SAMPLES) this.samples.push({ line: lineNo, error });
  }

  private apply(m: Message): void {
    const kept = this.keeper.stateFor(m.run, m.type === 'hello' ? m : null);
    if (!kept) return;
    applyMessage(kept.state, m);
    if (m.type === 'loop') kept.loop.add(m);
  }
}

export async function readRecordingStream(stream: AsyncIterable<Buffer | string>, options: ReadOptions = {}): Promise<ReadRecording> {
  const folder = new RecordingFolder(options);
  for await (const chunk of stream) folder.push(chunk);
  return folder.end();
}

export function readRecordingFile(path: string, options: ReadOptions = {}): Promise<ReadRecording> {
  return readRecordingStream(createReadStream(path, { highWaterMark: 256 * 1024 }), options);
}
