// `loopscope report FILE [--json]`; FILE `-` reads standard input.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { deriveReport } from '../../shared/report-json.js';
import { readRecordingFile, readRecordingStream } from './read.js';
import { renderReport } from './render.js';
import { CliError } from '../errors.js';

export interface ReportCommandOptions {
  json?: boolean;
  frames?: number;
}

export async function reportCommand(file: string, options: ReportCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  let read;
  if (file === '-') {
    read = await readRecordingStream(process.stdin);
  } else {
    const path = resolve(file);
    if (!existsSync(path)) throw new CliError(`no recording at ${file}`);
    if (!statSync(path).isFile()) throw new CliError(`${file} is not a file`);
    read = await readRecordingFile(path);
  }
  const report = deriveReport(read.runs, read, read.loops);
  if (!report) {
    const why = read.invalidLines > 0 ? ` (${read.invalidLines} invalid lines, e.g. line ${read.invalidSamples[0]?.line}: ${read.invalidSamples[0]?.error})` : '';
    throw new CliError(`${file} holds no loopscope records${why}`);
  }
  const text = options.json
    ? `${JSON.stringify(report, null, 2)}\n`
    : renderReport(report, { cwd: process.cwd(), source: file, stackFrames: options.frames, invalidSamples: read.invalidSamples });
  await new Promise<void>((done, fail) => out.write(text, (err) => (err ? fail(err) : done())));
}
