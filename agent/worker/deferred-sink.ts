// A sink whose module loads in the background: what arrives meanwhile is held (bounded, oldest
// dropped and counted) and handed over, in order, once the real sink exists.
import type { Message, Notice } from '../../shared/protocol.js';
import { epochNow } from '../shared-state.js';
import type { Sink } from './sink.js';

export class DeferredSink implements Sink {
  private inner: Sink | null = null;
  private failed = false;
  private held: Message[] = [];
  /** The run's hello is never dropped: without it a reader cannot name the process. */
  private hello: Message | null = null;
  private dropped = 0;
  private readonly ready: Promise<void>;

  constructor(
    loading: Promise<Sink>,
    private readonly maxHeld: number,
    onError: (err: unknown) => void,
  ) {
    this.ready = loading.then(
      (sink) => {
        this.inner = sink;
        const held = this.held;
        this.held = [];
        if (this.dropped > 0 && held.length > 0) held.unshift(this.dropNotice(held[0]!.run));
        if (this.hello && !held.includes(this.hello)) held.unshift(this.hello);
        this.hello = null;
        try {
          if (held.length > 0) sink.write(held);
        } catch (err) {
          onError(err);
        }
      },
      (err: unknown) => {
        this.failed = true;
        this.held = [];
        onError(err);
      },
    );
  }

  private dropNotice(run: string): Notice {
    return {
      type: 'notice',
      run,
      ts: epochNow(),
      level: 'warn',
      code: 'sink-start-overflow',
      message: `${this.dropped} messages were dropped while the sink was starting`,
      count: this.dropped,
    };
  }

  write(messages: readonly Message[]): void {
    if (this.inner) {
      this.inner.write(messages);
      return;
    }
    if (this.failed) return;
    for (const m of messages) {
      if (m.type === 'hello' && this.hello === null) this.hello = m;
      if (this.held.length >= this.maxHeld) {
        // The hello goes back in front when the sink is ready: it is not lost, so not counted.
        if (this.held.shift() !== this.hello) this.dropped++;
      }
      this.held.push(m);
    }
  }

  async flush(): Promise<void> {
    await this.ready;
    await this.inner?.flush();
  }

  close(): void {
    this.inner?.close();
  }
}
