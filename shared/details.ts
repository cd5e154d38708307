// A resource's identifying facts (port, peer, pid, delay...) as a person reads them, for the
// terminal report and the page alike: "every 1 s", ":8080", "→ 10.0.0.2:5432", "pid 4242".
import type { LiveResource } from './protocol.js';

type Details = NonNullable<LiveResource['details']>;

function duration(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

export function formatDetails(details: Details | undefined): string {
  if (!details) return '';
  const d = { ...details };
  const parts: string[] = [];
  if (typeof d.delayMs === 'number') {
    parts.push(`${d.repeat ? 'every' : 'after'} ${duration(d.delayMs)}`);
    delete d.delayMs;
    delete d.repeat;
  }
  if (typeof d.port === 'number') {
    parts.push(`${typeof d.address === 'string' && d.address !== '::' && d.address !== '0.0.0.0' ? d.address : ''}:${d.port}`);
    delete d.port;
    delete d.address;
  }
  if (d.remoteAddress !== undefined) {
    parts.push(`→ ${String(d.remoteAddress)}${d.remotePort !== undefined ? `:${String(d.remotePort)}` : ''}`);
    delete d.remoteAddress;
    delete d.remotePort;
  }
  if (d.pid !== undefined) {
    parts.push(`pid ${String(d.pid)}${typeof d.file === 'string' ? ` ${d.file}` : ''}`);
    delete d.pid;
    delete d.file;
  }
  if (d.threadId !== undefined) {
    parts.push(`thread ${String(d.threadId)}`);
    delete d.threadId;
  }
  for (const [k, v] of Object.entries(d)) parts.push(k === 'stdio' || k === 'path' ? String(v) : `${k} ${String(v)}`);
  return parts.join(', ');
}
