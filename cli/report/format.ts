// Small text helpers for the terminal report: durations, frames and fixed-width columns.
import type { Frame } from '../../shared/protocol.js';

export const WIDTH = 80;

export function fmtMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${String(s).padStart(2, '0')}s`;
}

export function fmtPercent(ratio: number | null): string {
  return ratio === null ? '-' : `${(ratio * 100).toFixed(1)}%`;
}

export function fmtTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', ' UTC');
}

/** A path as short as it can be while staying unambiguous for the reader: relative to cwd when inside. */
export function shortFile(file: string, cwd: string): string {
  let path = file;
  if (path.startsWith('file://')) {
    try {
      path = decodeURIComponent(new URL(path).pathname);
    } catch {
      // not a valid URL: show it as it is
    }
  }
  const base = cwd.endsWith('/') ? cwd : `${cwd}/`;
  return path.startsWith(base) ? path.slice(base.length) : path;
}

export function fmtFrame(frame: Frame | null, cwd: string, withFunction = true): string {
  if (!frame) return '(unknown)';
  const where = `${shortFile(frame.file, cwd)}:${frame.line}`;
  return withFunction && frame.functionName ? `${frame.functionName} ${where}` : where;
}

/**
 * A frame in `width` columns. The line number must survive: the first of these that fits wins,
 * function and path, function and file name, path, file name, then the file name's tail.
 */
export function fitFrame(frame: Frame | null, cwd: string, width: number, withFunction = true): string {
  if (!frame) return fit('(unknown)', width);
  const loc = `${shortFile(frame.file, cwd)}:${frame.line}`;
  const base = `${(frame.file.split(/[\\/]/).pop() || frame.file)}:${frame.line}`;
  const fn = withFunction ? frame.functionName : '';
  const candidates = fn ? [`${fn} ${loc}`, `${fn} ${base}`, loc, base] : [loc, base];
  return candidates.find((c) => c.length <= width) ?? fit(base, width, true);
}

/** Cuts a string to `width`; paths read best from their end, so `fromLeft` keeps the tail. */
export function fit(text: string, width: number, fromLeft = false): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  if (width === 1) return '…';
  return fromLeft ? `…${text.slice(text.length - width + 1)}` : `${text.slice(0, width - 1)}…`;
}

export function pad(text: string, width: number, fromLeft = false): string {
  return fit(text, width, fromLeft).padEnd(width);
}

export function padStart(text: string, width: number): string {
  return fit(text, width).padStart(width);
}

/** `text` after a fixed label column, so the sections' first lines line up. */
export function labelled(label: string, text: string, labelWidth = 11): string {
  return `${label.padEnd(labelWidth)}${fit(text, WIDTH - labelWidth)}`;
}

/** Breaks `text` at spaces into lines of at most `width`; the lines after the first get `indent`. */
export function wrap(text: string, width: number, indent = ''): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line === '' ? word : `${line} ${word}`;
    if (next.length <= width || line === "") {
      line = next;
      continue;
    }
    out.push(line);
    line = `${indent}${word}`;
  }
  if (line !== '') out.push(line);
  return out.map((l) => fit(l, width));
}
