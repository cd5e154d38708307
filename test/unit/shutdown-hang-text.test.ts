import { describe, expect, it } from 'vitest';
import { formatHang, formatHangAgain, hangKey } from '../../agent/shutdown/hang-text.js';

describe('hang report text', () => {
  it('lists each resource with its details and creation site', () => {
    const text = formatHang('SIGTERM', 5_012, [
      { id: 3, type: 'Timeout', createdAt: { functionName: 'startTicker', file: '/app/server.js', line: 12, column: 3 }, details: { delayMs: 1000, repeat: true } },
      { id: 9, type: 'TCPSocketWrap', createdAt: null },
    ]);
    expect(text).toBe(
      'loopscope: shutdown (SIGTERM) still running after 5.0 s; 2 resources keep the process alive:\n' +
        '  Timeout (delayMs=1000 repeat=true)\n' +
        '      created at startTicker (/app/server.js:12:3)\n' +
        '  TCPSocketWrap\n' +
        '      creation site unknown\n',
    );
  });

  it('says so when nothing visible keeps the process alive, and repeats in one line', () => {
    expect(formatHang('api', 800, [])).toBe('loopscope: shutdown (api) still running after 0.8 s; no resource the agent can see keeps the process alive\n');
    expect(formatHangAgain('SIGINT', 10_000, 1)).toBe('loopscope: shutdown (SIGINT) still running after 10.0 s; the same 1 resource keeps it alive\n');
  });

  it('a list is the same whatever its order', () => {
    const a = { id: 1, type: 'Timeout', createdAt: null };
    const b = { id: 2, type: 'Timeout', createdAt: null };
    expect(hangKey([a, b])).toBe(hangKey([b, a]));
    expect(hangKey([a])).not.toBe(hangKey([a, b]));
  });
});
