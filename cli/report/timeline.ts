// The shutdown as a text timeline: one row per event on a shared time axis, from the trigger
// (0 ms) to the exit, so the reader sees which step took the time and what outlived it.
import type { Frame } from '../../shared/protocol.js';
import type { ReportShutdown } from '../../shared/report-json.js';
import { fit, fitFrame, fmtMs, pad, WIDTH } from './format.js';

const LABEL = 30;
const BAR = 30;
const NOTE = WIDTH - LABEL - BAR - 2;
const MAX_RESOURCE_ROWS = 20;

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() || file;
}

/** libuv class names end in Wrap (TCPServerWrap): the suffix says nothing to the reader. */
function resourceLabel(type: string, createdAt: Frame | null, width: number): string {
  const short = type.endsWith('Wrap') && type.length > 4 ? type.slice(0, -4) : type;
  if (!createdAt) return fit(short, width);
  const site = `${baseName(createdAt.file)}:${createdAt.line}`;
  return `${short} ${fit(site, Math.max(6, width - short.length - 1), true)}`;
}

export function renderShutdown(sd: ReportShutdown, cwd: string, indent = ''): string[] {
  const out: string[] = [];
  const exitText =
    sd.exit.signal !== null ? `killed by ${sd.exit.signal}` : sd.exit.code !== null ? `exit code ${sd.exit.code}` : 'no exit record';
  out.push(
    fit(
      `${indent}shutdown   ${sd.trigger}${sd.reason ? ` (${sd.reason})` : ''} -> ${sd.outcome}, ${exitText}, cleanup ${fmtMs(sd.durationMs)}`,
      WIDTH,
    ),
  );
  if (sd.exitCaller) {
    const head = `${indent}           process.exit called at `;
    out.push(head + fitFrame(sd.exitCaller, cwd, WIDTH - head.length));
  }
  if (sd.error) out.push(fit(`${indent}           error: ${sd.error.split('\n')[0]}`, WIDTH));

  // The axis ends at the exit, or at the last thing we know happened if that is later.
  let total = sd.durationMs;
  for (const s of sd.steps) total = Math.max(total, s.startMs + (s.durationMs ?? 0));
  for (const r of sd.resources) total = Math.max(total, r.closedAfterMs ?? 0);
  for (const s of sd.signals) total = Math.max(total, s.afterMs);
  if (sd.hang) total = Math.max(total, sd.hang.afterMs);
  const span = Math.max(total, 1);
  const col = (ms: number): number => Math.min(BAR - 1, Math.max(0, Math.round((ms / span) * (BAR - 1))));

  const row = (label: string, bar: string, note: string): string =>
    `${indent}${pad(label, LABEL - indent.length, true)} ${bar.padEnd(BAR)} ${fit(note, NOTE)}`.trimEnd();
  const marker = (ms: number, ch: string): string => `${' '.repeat(col(ms))}${ch}`;

  const endLabel = fmtMs(total);
  out.push(row('', `0 ms${endLabel.padStart(BAR - 4)}`, ''));
  out.push(row(sd.trigger, marker(0, '|'), 'trigger'));

  for (const s of sd.steps) {
    const a = col(s.startMs);
    if (s.durationMs === null) {
      out.push(row(`step ${s.name}`, `${' '.repeat(a)}[${'='.repeat(Math.max(0, BAR - 2 - a))}>`, 'never finished'));
      continue;
    }
    const b = Math.max(a, col(s.startMs + s.durationMs));
    const body = b > a ? `[${'='.repeat(Math.max(0, b - a - 1))}]` : '|';
    out.push(row(`step ${s.name}`, `${' '.repeat(a)}${body}`, `${fmtMs(s.durationMs)} ${s.outcome === 'timeout' ? 'timed out' : s.outcome}`));
    // The error gets a line of its own: the note column is too narrow for a message.
    if (s.error) out.push(fit(`${indent}    ${s.name}: ${s.error.split('\n')[0]}`, WIDTH));
  }

  for (const sig of sd.signals) out.push(row(sig.signal, marker(sig.afterMs, '|'), `again at ${fmtMs(sig.afterMs)}`));

  const shown = sd.resources.slice(0, MAX_RESOURCE_ROWS);
  for (const r of shown) {
    // The file's base name: the label column is narrow, and the full site is in --json.
    const label = resourceLabel(r.type, r.createdAt, LABEL - indent.length);
    if (r.closedAfterMs !== null) {
      const c = col(r.closedAfterMs);
      out.push(row(label, `${'-'.repeat(c)}|`, `closed ${fmtMs(r.closedAfterMs)}`));
    } else {
      // The process's own stdio stays open in every process: said so, not flagged.
      const stdio = !r.keptAlive && typeof r.details?.stdio === 'string';
      out.push(row(label, `${'-'.repeat(BAR - 1)}>`, r.keptAlive ? 'never closed *' : stdio ? `${String(r.details!.stdio)}, stays open` : 'never closed'));
    }
  }
  if (shown.some((r) => r.closedAfterMs === null && r.keptAlive)) out.push(`${indent}  * kept the process alive (ref'd)`);
  if (sd.resources.length > shown.length) out.push(`${indent}  … ${sd.resources.length - shown.length} more resources`);
  if (sd.snapshotTruncated > 0) out.push(`${indent}  … ${sd.snapshotTruncated} more left out of the snapshot by the agent`);

  if (sd.hang) {
    out.push(row('hang', marker(sd.hang.afterMs, '!'), `at ${fmtMs(sd.hang.afterMs)}`));
    for (const k of sd.hang.keptAlive.slice(0, 10)) {
      const head = `${indent}    kept alive by ${k.type} from `;
      out.push(head + fitFrame(k.createdAt, cwd, WIDTH - head.length));
    }
  }
  const exitNote = !sd.ended
    ? 'vanished (killed)'
    : `${sd.exit.signal ?? (sd.exit.code !== null ? `code ${sd.exit.code}` : 'exit')} ${sd.outcome}`;
  out.push(row(sd.ended ? 'exit' : 'last record', marker(sd.durationMs, '|'), exitNote));
  out.push(`${indent}total cleanup ${fmtMs(sd.durationMs)}${sd.ended ? '' : ' (to the last record: no exit was recorded)'}`);
  return out;
}
