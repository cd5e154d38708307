// Units and colours shared by every view: one place decides what "slow" looks like.
import type { Frame } from '../../../shared/protocol.js';

/** 0.4 ms, 12 ms, 1.24 s, 2 min 5 s: the unit follows the magnitude. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatPercent(ratio: number): string {
  return `${Math.round(ratio * 100)} %`;
}

/** The last two path segments: enough to recognise a file in a narrow column. */
export function shortFile(file: string): string {
  const clean = file.replace(/^file:\/\//, '');
  const parts = clean.split(/[\\/]/);
  return parts.length <= 2 ? clean : parts.slice(-2).join('/');
}

export function formatWhere(frame: Frame | null | undefined): string {
  if (!frame) return 'unknown';
  return `${shortFile(frame.file)}:${frame.line}`;
}

export function formatFrameFull(frame: Frame): string {
  const where = `${frame.file}:${frame.line}:${frame.column}`;
  return frame.functionName ? `${frame.functionName} (${where})` : where;
}

/** Colours with a meaning: green is fine, amber needs a look, red is a problem. */
export const COLOURS = {
  ok: '#2e9d5b',
  warn: '#d98a00',
  bad: '#d64545',
  info: '#3a78c9',
  muted: '#8a94a3',
  p50: '#3a78c9',
  p99: '#d98a00',
  max: '#d64545',
  elu: '#7b5cc4',
} as const;

/**
 * One colour per resource type, the same on every run and every reload: the common libuv types
 * have their own, others get one from a hash of the name.
 */
const KNOWN_TYPES: Record<string, string> = {
  Timeout: '#7b5cc4',
  TCPSocketWrap: '#d98a00',
  TCPServerWrap: '#2e9d5b',
  TCPWrap: '#d98a00',
  PipeWrap: '#8a94a3',
  FSReqCallback: '#3a78c9',
  FSReqPromise: '#1b9aaa',
  ProcessWrap: '#c45c9a',
  ConnectWrap: '#e06c3c',
  GetAddrInfoReqWrap: '#a3b13a',
  TTYWrap: '#5b6b7f',
  Immediate: '#8c6d46',
};
const TYPE_PALETTE = ['#3a78c9', '#2e9d5b', '#d98a00', '#7b5cc4', '#1b9aaa', '#c45c9a', '#8c6d46', '#5b6b7f', '#a3b13a', '#e06c3c'];
export function colourForType(type: string): string {
  const known = KNOWN_TYPES[type];
  if (known) return known;
  let hash = 0;
  for (let i = 0; i < type.length; i++) hash = (hash * 31 + type.charCodeAt(i)) >>> 0;
  return TYPE_PALETTE[hash % TYPE_PALETTE.length] ?? '#5b6b7f';
}

/** Delay thresholds a person would call fine / noticeable / bad for a server. */
export function delayLevel(ms: number): 'ok' | 'warn' | 'bad' {
  if (ms < 50) return 'ok';
  if (ms < 200) return 'warn';
  return 'bad';
}

/** A shutdown trigger as the user wrote it. */
export function triggerLabel(trigger: string): string {
  return trigger === 'api' ? 'shutdown.begin()' : trigger === 'exit' ? 'process.exit()' : trigger;
}
