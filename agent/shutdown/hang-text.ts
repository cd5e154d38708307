// The hang report as a person reads it on stderr (LOOPSCOPE_HANG_STDERR=1): what still keeps the
// process alive, and the line of the app that created each one.
import type { Frame } from '../../shared/protocol.js';
import { formatFrame } from '../../shared/stack.js';

export interface KeptAlive {
  id: number;
  type: string;
  createdAt: Frame | null;
  details?: Record<string, string | number | boolean>;
}

function describe(r: KeptAlive): string {
  const details = r.details ? Object.entries(r.details).map(([k, v]) => `${k}=${String(v)}`).join(' ') : '';
  return details ? `${r.type} (${details})` : r.type;
}

export function formatHang(trigger: string, afterMs: number, kept: readonly KeptAlive[]): string {
  const secs = (afterMs / 1000).toFixed(1);
  if (kept.length === 0) {
    return `loopscope: shutdown (${trigger}) still running after ${secs} s; no resource the agent can see keeps the process alive\n`;
  }
  const many = kept.length !== 1;
  const head = `loopscope: shutdown (${trigger}) still running after ${secs} s; ${kept.length} resource${many ? 's' : ''} keep${many ? '' : 's'} the process alive:\n`;
  const lines = kept.map((r) => `  ${describe(r)}\n      ${r.createdAt ? `created at ${formatFrame(r.createdAt)}` : 'creation site unknown'}\n`);
  return head + lines.join('');
}

/** A later report with the same list: one line instead of the whole list again. */
export function formatHangAgain(trigger: string, afterMs: number, count: number): string {
  return `loopscope: shutdown (${trigger}) still running after ${(afterMs / 1000).toFixed(1)} s; the same ${count} resource${count === 1 ? '' : 's'} keep${count === 1 ? 's' : ''} it alive\n`;
}

/** Identity of a hang list, to tell a changed list from a repeat. */
export function hangKey(kept: readonly KeptAlive[]): string {
  return kept
    .map((r) => r.id)
    .sort((a, b) => a - b)
    .join(',');
}
