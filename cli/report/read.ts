// Reads a recording line by line, so a recording of any size needs only its folded state in memory.
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { parseMessageText, type Message } from '../../shared/protocol.js';
import { applyMessage, createRunState, type RunState } from '../../shared/run-state.js';
import { LoopAccumulator, type ReportFileFacts, type ReportLoop } from '../../shared/report-json.js';

export interface ReadRecording extends ReportFileFacts {
  runs: Map<string, RunState>;
  /** Loop figures over every interval of each run (the run state keeps only the latest points). */
  loops: Map<string, ReportLoop>;
  /** First few invalid lines, for the user: line number and why. */
  invalidSamples: { line: number; error: string }[];
  lines: number;
}

const MAX_INVALID_SAMPLES = 5;

/** Folds a stream of NDJSON text chunks; exported apart from the file so tests can feed text. */
export class RecordingFolder {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private lineNo = 0;
  private invalid = 0;
  private readonly samples: { line: number; error: string }[] = [];
  private readonly runs = new Map<string, RunState>();
  private readonly loopAcc = new Map<string, LoopAccumulator>();
  private truncated = false;

  push(chunk: Buffer | string): void {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      this.line(text.slice(start, nl), false);
      start = nl + 1;
    }
    this.rest = text.slice(start);
  }

  end(): ReadRecording {
    const tail = this.rest + this.decoder.end();
    this.rest = '';
    if (tail.trim() !== '') this.line(tail, true);
    const loops = new Map<string, ReportLoop>();
    for (const [run, acc] of this.loopAcc) loops.set(run, acc.summary());
    return {
      runs: this.runs,
      loops,
      invalidLines: this.invalid,
      truncatedLastLine: this.truncated,
      invalidSamples: this.samples,
      lines: this.lineNo,
    };
  }

  private line(raw: string, unterminated: boolean): void {
    this.lineNo++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    const parsed = parseMessageText(text);
    if (!parsed.ok) {
      // The writer ends every record with a newline: a last line without one that does not
      // parse is a record cut off by the process dying, not a bad record.
      if (unterminated) {
        this.truncated = true;
        return;
      }
      this.invalid++;
      if (this.samples.length < MAX_INVALID_SAMPLES) this.samples.push({ line: this.lineNo, error: parsed.error });
      return;
    }
    this.apply(parsed.message);
  }

  private apply(m: Message): void {
    let state = this.runs.get(m.run);
    if (!state) {
      state = createRunState(m.run);
      this.runs.set(m.run, state);
    }
    applyMessage(state, m);
    if (m.type === 'loop') {
      let acc = this.loopAcc.get(m.run);
      if (!acc) {
        acc = new LoopAccumulator();
        this.loopAcc.set(m.run, acc);
      }
      acc.add(m);
    }
  }
}

export async function readRecordingStream(stream: AsyncIterable<Buffer | string>): Promise<ReadRecording> {
  const folder = new RecordingFolder();
  for await (const chunk of stream) folder.push(chunk);
  return folder.end();
}

export function readRecordingFile(path: string): Promise<ReadRecording> {
  return readRecordingStream(createReadStream(path, { highWaterMark: 256 * 1024 }));
}
