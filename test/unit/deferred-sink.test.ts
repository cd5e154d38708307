// The sink that holds messages while the real one loads: what it drops is counted exactly, and
// the hello, which it always hands over, is never counted among them.
import { describe, expect, it } from 'vitest';
import { DeferredSink } from '../../agent/worker/deferred-sink.js';
import type { Message } from '../../shared/protocol.js';
import type { Sink } from '../../agent/worker/sink.js';
import { hello, loop } from '../integration/dashboard-helpers.js';

class CollectingSink implements Sink {
  readonly got: Message[] = [];
  write(messages: readonly Message[]): void {
    this.got.push(...messages);
  }
  async flush(): Promise<void> {}
  close(): void {}
}

describe('DeferredSink', () => {
  it('counts in its notice exactly the messages it dropped, not the hello it kept', async () => {
    const inner = new CollectingSink();
    let ready!: (s: Sink) => void;
    const sink = new DeferredSink(new Promise<Sink>((r) => (ready = r)), 10, () => undefined);
    const run = 'deferred-run';
    const written: Message[] = [hello(run), ...Array.from({ length: 30 }, (_, i) => loop(run, 1000 + i))];
    for (const m of written) sink.write([m]);
    ready(inner);
    await sink.flush();
    const notice = inner.got.find((m): m is Extract<Message, { type: 'notice' }> => m.type === 'notice');
    const delivered = new Set(inner.got);
    const missing = written.filter((m) => !delivered.has(m));
    expect(inner.got[0]).toBe(written[0]);
    expect(missing).toHaveLength(20);
    expect(notice?.count).toBe(missing.length);
  });
});
