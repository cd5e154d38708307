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
  const head =
    kept.length === 0
      ? `loopscope: shutdown (${trigger}) still running after ${secs} s; no resource the agent can see keeps the process alive\n`
      : `loopscope: shutdown (${trigger}) still running after ${secs} s; ${kept.length} resource${kept.length === 1 ? '' : 's'} keep${kept.length === 1 ? 's' : ''} the process alive:\n`;
  const names = kept.map(describe);
  const width = Math.min(48, Math.max(0, ...names.map((n) => n.length)));
  const lines = kept.map((r, i) => {
    const name = (names[i] ?? '').padEnd(width);
    return `  ${name}  ${r.createdAt ? `created at ${formatFrame(r.createdAt)}` : 'creation site unknown'}\n`;
  });
  return head + lines.join('');
}
