// The terminal report: the same object as `--json`, laid out for a person at 80 columns.
import { formatDetails } from '../../shared/details.js';
import type { Frame } from '../../shared/protocol.js';
import type { Report, ReportRun } from '../../shared/report-json.js';
import { terminalSafe, terminalSafeDeep } from '../../shared/terminal-text.js';
import { fit, fitFrame, fmtFrame, fmtMs, fmtPercent, fmtTime, labelled, pad, padStart, shortFile, WIDTH, wrap } from './format.js';
import { skippedLines } from './skipped.js';
import { renderShutdown } from './timeline.js';

export interface RenderOptions {
  /** Paths under it are shown relative to it. */
  cwd: string;
  /** Name of the recording, for the title. */
  source: string;
  /** Frames shown per block stack. */
  stackFrames?: number;
  invalidSamples?: { line: number; error: string }[];
  /** The run asked for with --run. */
  selectedRun?: string | undefined;
}

const MAX_BLOCKS = 10;
const MAX_SYNC = 15;
const MAX_RESOURCES = 15;

function processLines(run: ReportRun, o: RenderOptions): string[] {
  const p = run.process;
  if (!p) return [labelled('process', `run ${run.run} (no hello record: the start of the run is missing)`)];
  const lines = [
    labelled('process', `${p.app}  pid ${p.pid}  node ${p.nodeVersion}  ${p.platform}/${p.arch}  mode ${p.mode}`),
    labelled('', commandLine(p).map((a) => fmtArg(a, o.cwd)).join(' ')),
  ];
  const span = run.lastTs > p.startedAt ? `, last record after ${fmtMs(run.lastTs - p.startedAt)}` : '';
  // The run id is what --run takes: on the same line when it fits.
  const started = `started ${fmtTime(p.startedAt)}${span}`;
  const withId = `${started}  run ${run.run}`;
  if (withId.length <= WIDTH - 11) lines.push(labelled('', withId));
  else lines.push(labelled('', started), labelled('', `run ${run.run}`));
  return lines;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What was typed: node, its flags, then the script and its arguments. */
function commandLine(p: NonNullable<ReportRun['process']>): string[] {
  const [exe, ...rest] = p.argv;
  return [exe ?? 'node', ...p.execArgv, ...rest];
}

function fmtArg(arg: string, cwd: string): string {
  return arg.startsWith(`${cwd}/`) ? arg.slice(cwd.length + 1) : arg;
}

function loopLine(run: ReportRun): string {
  const l = run.loop;
  if (l.intervals === 0) return labelled('loop', 'no loop samples recorded');
  return labelled(
    'loop',
    `delay p50 ${fmtMs(l.delayP50Ms)}, p99 ${fmtMs(l.delayP99Ms)}, max ${fmtMs(l.delayMaxMs)}; ` +
      `busy ${fmtPercent(l.utilization)} (${l.intervals} interval${l.intervals === 1 ? '' : 's'})`,
  );
}

function blockLines(run: ReportRun, o: RenderOptions): string[] {
  const t = run.blockTotals;
  const open = run.blocks.filter((b) => !b.ended).length;
  if (run.blocks.length === 0) return [labelled('blocks', 'none over the threshold')];
  const head = `${t.count} ended, ${fmtMs(t.blockedMs)} blocked in all${open ? `; ${open} never ended` : ''}`;
  const lines = [labelled('blocks', head)];
  // The longest first: they are what the reader came for.
  const sorted = [...run.blocks].sort((a, b) => b.durationMs - a.durationMs).slice(0, MAX_BLOCKS);
  const start = run.process?.startedAt ?? run.firstTs;
  for (const b of sorted) {
    const where = b.resource ? `in ${b.resource.type}${b.resource.createdAt ? ` (${fmtFrame(b.resource.createdAt, o.cwd, false)})` : ''}` : '';
    const status = b.ended ? '' : ' NEVER ENDED';
    const kind = b.native ? ' native' : '';
    lines.push(fit(`  ${padStart(fmtMs(b.durationMs), 8)}${kind}${status}  at +${fmtMs(Math.max(0, b.startedAt - start))}  ${where}`.trimEnd(), WIDTH));
    if (b.syncCall) {
      const head = `            during ${b.syncCall.api} from `;
      lines.push(head + fitFrame(b.syncCall.createdAt, o.cwd, WIDTH - head.length));
    }
    if (b.stack.length === 0) {
      lines.push(`            ${b.native ? 'in native code: no live stack (it ended before one could be taken)' : 'no stack captured'}`);
      continue;
    }
    const frames = b.stack.slice(0, o.stackFrames ?? 5);
    for (const f of frames) lines.push(stackLine(f, o.cwd));
    if (b.stack.length > frames.length) lines.push(`            … ${b.stack.length - frames.length} more frames`);
  }
  if (run.blocks.length > sorted.length) lines.push(`  … ${run.blocks.length - sorted.length} more blocks (see --json)`);
  if (t.dropped > 0) lines.push(`  … ${t.dropped} older blocks not kept`);
  return lines;
}

/** One frame; the location's line number must survive, so the name and path give way first. */
function stackLine(f: Frame, cwd: string): string {
  const prefix = '            at ';
  const loc = `${shortFile(f.file, cwd)}:${f.line}:${f.column}`;
  const room = WIDTH - prefix.length - 2;
  const name = fit(f.functionName || '(anonymous)', Math.max(12, room - loc.length));
  return `${prefix}${name}  ${fit(loc, room - name.length, true)}`;
}

function syncLines(run: ReportRun, o: RenderOptions): string[] {
  if (run.syncCalls.length === 0) return [labelled('sync I/O', 'no *Sync calls after start-up')];
  const lines = [
    labelled('sync I/O', plural(run.syncCalls.reduce((n, s) => n + s.count, 0), 'call')),
    `  ${pad('api', 24)} ${padStart('calls', 6)} ${padStart('total', 8)} ${padStart('max', 8)}  called from`,
  ];
  for (const s of run.syncCalls.slice(0, MAX_SYNC)) {
    const row = `  ${pad(s.api, 24)} ${padStart(String(s.count), 6)} ${padStart(fmtMs(s.totalMs), 8)} ${padStart(fmtMs(s.maxMs), 8)}  `;
    lines.push(row + fitFrame(s.createdAt, o.cwd, WIDTH - row.length));
  }
  if (run.syncCalls.length > MAX_SYNC) lines.push(`  … ${run.syncCalls.length - MAX_SYNC} more call sites`);
  return lines;
}

function resourceLines(run: ReportRun, o: RenderOptions): string[] {
  const r = run.resources;
  const counts = Object.entries(r.byType)
    .sort((a, b) => b[1] - a[1])
    .map(([type, n]) => `${type} ${n}`)
    .join(', ');
  const extra = r.pendingPromises !== null ? `; ${r.pendingPromises} pending promises` : '';
  const lines = [labelled('resources', r.sampledAt === null ? 'no resource samples recorded' : `live at the last sample: ${counts || 'none'}${extra}`)];
  if (r.oldest.length === 0) return lines;
  lines.push(`  ${pad('type', 18)} ${padStart('age', 8)}  ${pad('alive', 5)}  created at`);
  for (const res of r.oldest.slice(0, MAX_RESOURCES)) {
    const details = formatDetails(res.details);
    const row = `  ${pad(res.type, 18)} ${padStart(fmtMs(res.ageMs), 8)}  ${pad(res.keepsAlive ? 'yes' : 'no', 5)}  `;
    const room = WIDTH - row.length;
    const shownDetails = details ? `  ${fit(details, Math.floor(room / 3) - 2)}` : '';
    lines.push(row + fitFrame(res.createdAt, o.cwd, room - shownDetails.length) + shownDetails);
  }
  if (r.oldest.length > MAX_RESOURCES) lines.push(`  … ${r.oldest.length - MAX_RESOURCES} more`);
  return lines;
}

function noticeLines(run: ReportRun): string[] {
  return run.notices
    .filter((n) => n.level !== 'info')
    .slice(0, 5)
    .map((n) => fit(`  ${n.level}: ${n.message}${n.count !== null ? ` (${n.count})` : ''}`, WIDTH));
}

function renderRun(run: ReportRun, o: RenderOptions): string[] {
  const lines = [...processLines(run, o), loopLine(run), '', ...blockLines(run, o), '', ...syncLines(run, o), '', ...resourceLines(run, o), ''];
  if (run.shutdown) lines.push(...renderShutdown(run.shutdown, o.cwd));
  else lines.push(labelled('shutdown', 'none recorded'));
  const notices = noticeLines(run);
  if (notices.length) lines.push('', labelled('notices', ''), ...notices);
  return lines;
}

function flatten(run: ReportRun, depth: number, into: { run: ReportRun; depth: number }[]): void {
  for (const c of run.children) {
    into.push({ run: c, depth });
    flatten(c, depth + 1, into);
  }
}

/**
 * Everything in a report came from an app or a file: app names, argv, errors, frames, resource
 * types. It is made terminal-safe as a whole before any of it is laid out (so widths count what
 * is printed), and each finished line once more, so no field can slip through raw.
 */
export function renderReport(unsafeReport: Report, unsafeOptions: RenderOptions): string {
  const report = terminalSafeDeep(unsafeReport);
  const o: RenderOptions = { ...unsafeOptions, source: terminalSafe(unsafeOptions.source) };
  if (unsafeOptions.invalidSamples) o.invalidSamples = terminalSafeDeep(unsafeOptions.invalidSamples);
  if (unsafeOptions.selectedRun !== undefined) o.selectedRun = terminalSafe(unsafeOptions.selectedRun);
  const lines: string[] = [fit(`loopscope report  ${o.source}`, WIDTH), ''];
  if (report.truncatedLastLine) lines.push('! the run ended abruptly: the last line of the recording was cut off mid-write');
  else if (report.endedAbruptly) lines.push('! the run ended abruptly: no exit was recorded (killed, or still running)');
  if (report.invalidLines > 0) {
    lines.push(`! ${report.invalidLines} invalid line${report.invalidLines === 1 ? '' : 's'} skipped`);
    for (const s of o.invalidSamples ?? []) lines.push(fit(`    line ${s.line}: ${s.error}`, WIDTH));
  }
  for (const line of skippedLines(report.skipped, o.selectedRun)) lines.push(...wrap(line, WIDTH, '  '));
  if (lines.length > 2) lines.push('');
  lines.push(...renderRun(report, o));
  const descendants: { run: ReportRun; depth: number }[] = [];
  flatten(report, 1, descendants);
  for (const [i, d] of descendants.entries()) {
    const who = d.run.process ? `pid ${d.run.process.pid} ${d.run.process.app}` : `run ${d.run.run}`;
    lines.push('', '='.repeat(WIDTH), fit(`child process ${i + 1}/${descendants.length} (depth ${d.depth}): ${who}`, WIDTH), '');
    lines.push(...renderRun(d.run, o));
  }
  return `${lines.map(terminalSafe).join('\n')}\n`;
}
