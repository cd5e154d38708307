// `loopscope report FILE [--json] [--run ID]`; FILE `-` reads standard input.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { deriveReport } from '../../shared/report-json.js';
import { terminalSafeJson } from '../../shared/terminal-text.js';
import { readRecordingFile, readRecordingStream, type ReadOptions, type ReadRecording } from './read.js';
import { renderReport } from './render.js';
import { describeTooLong, plural } from './skipped.js';
import { CliError, EXIT } from '../errors.js';

export interface ReportCommandOptions {
  json?: boolean;
  frames?: number;
  /** Report this run (and its descendants) only. */
  run?: string;
  /** For tests: how many runs are kept in full. */
  maxKept?: number;
}

async function readInput(file: string, options: ReadOptions): Promise<ReadRecording> {
  if (file === '-') return readRecordingStream(process.stdin, options);
  const path = resolve(file);
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no recording at ${file}` : `cannot read ${file}: ${(err as Error).message}`, EXIT.unreadable);
  }
  if (!isFile) throw new CliError(`${file} is not a file`, EXIT.unreadable);
  try {
    return await readRecordingFile(path, options);
  } catch (err) {
    // A system error (EACCES, EIO) is about the input; anything else is ours and keeps its stack.
    if (typeof (err as NodeJS.ErrnoException).code !== 'string') throw err;
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.unreadable);
  }
}

/** Why a file gave nothing to report, and whether that means it could not be read at all. */
function nothingToReport(file: string, read: ReadRecording, run: string | undefined): CliError {
  const s = read.skipped;
  const refused = s.refusedSamples[0];
  if (run !== undefined) {
    const ours = s.refusedSamples.find((r) => r.run === run);
    if (ours) return new CliError(`run ${run} in ${file} uses protocol ${ours.protocol}; this loopscope reads protocol ${s.readerProtocol}: use a matching loopscope version`, EXIT.unreadable);
    return new CliError(`no run ${run} in ${file} (${s.runsInFile.toLocaleString('en-US')} other runs; the id is the "run" field of each line)`, EXIT.failed);
  }
  if (refused && s.runsOmitted === 0 && read.invalidLines === 0) {
    return new CliError(
      `${file} holds only runs of protocol ${refused.protocol} (${plural(s.refusedRuns, 'run')}); this loopscope reads protocol ${s.readerProtocol}: use a matching loopscope version`,
      EXIT.unreadable,
    );
  }
  const why: string[] = [];
  if (read.invalidLines > 0) why.push(`${read.invalidLines} invalid lines, e.g. line ${read.invalidSamples[0]?.line}: ${read.invalidSamples[0]?.error}`);
  if (s.linesTooLong > 0) why.push(describeTooLong(s));
  if (refused) why.push(`${s.refusedRuns} runs of protocol ${refused.protocol} refused`);
  return new CliError(`${file} holds no loopscope records${why.length ? ` (${why.join('; ')})` : ''}`, EXIT.failed);
}

export async function reportCommand(file: string, options: ReportCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const readOptions: ReadOptions = {};
  if (options.run !== undefined) readOptions.run = options.run;
  if (options.maxKept !== undefined) readOptions.maxKept = options.maxKept;
  const read = await readInput(file, readOptions);
  const report = deriveReport(read.runs, read, read.loops);
  if (!report || (options.run !== undefined && read.rootRun !== options.run)) throw nothingToReport(file, read, options.run);
  const text = options.json
    ? `${terminalSafeJson(JSON.stringify(report, null, 2))}\n`
    : renderReport(report, { cwd: process.cwd(), source: file, stackFrames: options.frames, invalidSamples: read.invalidSamples, selectedRun: options.run });
  await new Promise<void>((done, fail) => out.write(text, (err) => (err ? fail(err) : done())));
}
