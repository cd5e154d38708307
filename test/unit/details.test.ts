import { describe, expect, it } from 'vitest';
import { formatDetails } from '../../shared/details.js';

describe('formatDetails', () => {
  it('reads as a person would say it', () => {
    expect(formatDetails({ delayMs: 60_000, repeat: true })).toBe('every 60 s');
    expect(formatDetails({ delayMs: 1500, repeat: false })).toBe('after 1.5 s');
    expect(formatDetails({ address: '127.0.0.1', port: 8080 })).toBe('127.0.0.1:8080');
    expect(formatDetails({ address: '::', port: 3000 })).toBe(':3000');
    expect(formatDetails({ remoteAddress: '10.0.0.2', remotePort: 5432 })).toBe('→ 10.0.0.2:5432');
    expect(formatDetails({ pid: 4242, file: '/bin/sh' })).toBe('pid 4242 /bin/sh');
    expect(formatDetails({ stdio: 'stdout' })).toBe('stdout');
    expect(formatDetails({ threadId: 3, other: 'x' })).toBe('thread 3, other x');
    expect(formatDetails(undefined)).toBe('');
  });
});
