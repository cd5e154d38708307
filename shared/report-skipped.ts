// What a bounded reader of a recording counted but did not keep, as `report --json` prints it
// under `skipped`: the report stays small whatever the file holds, and says what it left out.
import { PROTOCOL_VERSION } from './version.js';

/** What the reader of a file counted but did not keep: the report is bounded whatever the file holds. */
export interface ReportSkipped {
  /** Distinct runs in the file (kept, omitted and refused). */
  runsInFile: number;
  /** Runs in this report (the root and its `children`, nested). */
  runsShown: number;
  /** Runs not kept in full: beyond the runs kept, or not the one asked for with --run. */
  runsOmitted: number;
  /** Lines of omitted runs. */
  omittedMessages: number;
  /** More runs than the reader remembers ids of: runs were then counted by their hello lines. */
  countsApproximate: boolean;
  /** Lines longer than maxLineBytes: skipped unread. */
  linesTooLong: number;
  maxLineBytes: number;
  tooLongSamples: { line: number; bytes: number }[];
  /** Runs whose hello names a protocol version this reader does not speak, and their other lines. */
  refusedRuns: number;
  refusedMessages: number;
  refusedSamples: { run: string; protocol: number; line: number }[];
  readerProtocol: number;
}

/** For a report folded from every run: nothing was left out. */
export function noneSkipped(runs: number): ReportSkipped {
  return {
    runsInFile: runs,
    runsShown: runs,
    runsOmitted: 0,
    omittedMessages: 0,
    countsApproximate: false,
    linesTooLong: 0,
    maxLineBytes: 0,
    tooLongSamples: [],
    refusedRuns: 0,
    refusedMessages: 0,
    refusedSamples: [],
    readerProtocol: PROTOCOL_VERSION,
  };
}
