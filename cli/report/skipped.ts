// What the reader counted but left out (runs beyond those kept, lines too long, runs of another
// protocol), said in words: the same facts for the report's header and for the error of a file
// with nothing to report.
import type { ReportSkipped } from '../../shared/report-json.js';

const n = (x: number): string => x.toLocaleString('en-US');

export function plural(count: number, word: string): string {
  return `${n(count)} ${word}${count === 1 ? '' : 's'}`;
}

export function fmtBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function describeTooLong(s: ReportSkipped): string {
  const where = s.tooLongSamples.map((t) => `line ${n(t.line)}: ${fmtBytes(t.bytes)}`).join(', ');
  return `${plural(s.linesTooLong, 'line')} over the ${fmtBytes(s.maxLineBytes)} limit skipped unread (${where}${s.linesTooLong > s.tooLongSamples.length ? ', …' : ''})`;
}

/** Lines for the report's header, each starting with `!`; none when nothing was left out. */
export function skippedLines(s: ReportSkipped, selectedRun?: string): string[] {
  const lines: string[] = [];
  const about = s.countsApproximate ? 'about ' : '';
  if (selectedRun !== undefined) {
    const others = s.runsInFile - s.runsShown - s.refusedRuns;
    lines.push(`! showing run ${selectedRun}${s.runsShown > 1 ? ` and ${plural(s.runsShown - 1, 'descendant')}` : ''}; ${about}${plural(others, 'other run')} in the file`);
  } else if (s.runsOmitted > 0) {
    lines.push(
      `! ${about}${plural(s.runsInFile, 'run')} in the file; showing ${n(s.runsShown)}: the first and the most recent; ` +
        `${about}${plural(s.runsOmitted, 'run')} (${plural(s.omittedMessages, 'line')}) counted only: use --run ID`,
    );
  }
  if (s.linesTooLong > 0) lines.push(`! ${describeTooLong(s)}`);
  for (const r of s.refusedSamples) {
    lines.push(`! run ${r.run} (hello at line ${n(r.line)}) speaks protocol ${r.protocol}; this loopscope reads protocol ${s.readerProtocol}: its lines are skipped`);
  }
  if (s.refusedRuns > 0) {
    lines.push(`! ${plural(s.refusedRuns, 'run')} of another protocol refused, ${plural(s.refusedMessages, 'further line')} skipped: use a matching loopscope version`);
  }
  return lines;
}
