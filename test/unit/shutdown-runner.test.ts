// The step runner in-process: the exit is a hook here, so the order, timeouts, failures, the
// deadline and a forced exit can be checked precisely (the integration tests run it for real).
import { describe, expect, it } from 'vitest';
import { CleanupRunner, EXIT_FAILED, forcedBySignalCode, type RunConfig, type StepSpec } from '../../agent/shutdown/runner.js';
import type { ShutdownObserver, StepPhase } from '../../agent/shutdown/bridge.js';

// Durations here are checked to a few ms (the 20 ms): one retry absorbs a scheduling
// hiccup of a shared 2-core CI machine; a real regression fails both attempts.
const TIMING = { retry: 1 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Harness {
  runner: CleanupRunner;
  exits: number[];
  exitCodes: number[];
  aborted: string[];
  events: { name: string; phase: StepPhase; durationMs: number | null; error: string | null }[];
  begins: string[];
  forced: string[];
  logs: string[];
  config(over?: Partial<RunConfig>): RunConfig;
}

function harness(withObserver = true): Harness {
  const h: Omit<Harness, 'runner' | 'config'> = { exits: [], exitCodes: [], aborted: [], events: [], begins: [], forced: [], logs: [] };
  const observer: ShutdownObserver = {
    begin: (trigger, reason) => h.begins.push(`${trigger}:${reason}`),
    step: (name, phase, _startedAt, durationMs, error) => h.events.push({ name, phase, durationMs, error }),
    forcing: (outcome) => h.forced.push(outcome),
    internal: (fn) => fn(),
  };
  const runner = new CleanupRunner({
    observer: () => (withObserver ? observer : undefined),
    exit: (code) => h.exits.push(code),
    setExitCode: (code) => h.exitCodes.push(code),
    abort: (reason) => h.aborted.push(reason),
  });
  return {
    ...h,
    runner,
    config: (over = {}) => ({ timeoutMs: 2_000, order: 'reverse', exit: true, log: (l) => h.logs.push(l), ...over }),
  };
}

function spec(name: string, fn: StepSpec['fn'], timeoutMs: number | null = null): StepSpec {
  return { name, fn, timeoutMs };
}

describe('CleanupRunner', TIMING, () => {
  it('runs steps last-registered first, one after the other, and exits 0', async () => {
    const h = harness();
    const order: string[] = [];
    const steps = [
      spec('a', async () => {
        order.push('a');
      }),
      spec('b', async () => {
        order.push('b start');
        await sleep(30);
        order.push('b end');
      }),
      spec('c', () => {
        order.push('c');
      }),
    ];
    const result = await h.runner.run(steps, 'SIGTERM', null, h.config());
    expect(order).toEqual(['c', 'b start', 'b end', 'a']);
    expect(result).toMatchObject({ outcome: 'clean', exitCode: 0 });
    expect(h.exits).toEqual([0]);
    expect(h.forced).toEqual([]);
    expect(h.aborted).toEqual(['SIGTERM']);
    expect(h.begins).toEqual(['SIGTERM:null']);
    expect(h.events.map((e) => `${e.name}:${e.phase}`)).toEqual(['c:running', 'c:ok', 'b:running', 'b:ok', 'a:running', 'a:ok']);
    const b = h.events.find((e) => e.name === 'b' && e.phase === 'ok');
    expect(b!.durationMs!).toBeGreaterThanOrEqual(29);
    expect(b!.durationMs!).toBeLessThan(200); // loaded machine: only "not absurdly long"
  });

  it('registration order on request', async () => {
    const h = harness();
    const order: string[] = [];
    const steps = ['a', 'b', 'c'].map((n) => spec(n, () => void order.push(n)));
    await h.runner.run(steps, 'api', 'x', h.config({ order: 'registration' }));
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('a failing step (sync throw or rejection) is reported and the others still run; exit 1', async () => {
    const h = harness();
    const ran: string[] = [];
    const steps = [
      spec('first', () => void ran.push('first')),
      spec('rejects', async () => {
        throw new Error('pool refused');
      }),
      spec('throws', () => {
        throw new TypeError('bad state');
      }),
    ];
    const result = await h.runner.run(steps, 'SIGINT', null, h.config());
    expect(ran).toEqual(['first']);
    expect(result.outcome).toBe('error');
    expect(result.steps.map((s) => [s.name, s.outcome, s.error])).toEqual([
      ['throws', 'failed', 'bad state'],
      ['rejects', 'failed', 'pool refused'],
      ['first', 'ok', null],
    ]);
    expect(h.exits).toEqual([EXIT_FAILED]);
    expect(h.forced).toEqual(['error']);
    expect(h.logs.join('')).toContain('step "rejects" failed: pool refused');
  });

  it("a step past its own timeout is cut short, its AbortSignal aborted, the next one runs", async () => {
    const h = harness();
    let stepSignal: AbortSignal | null = null;
    const steps = [
      spec('after', () => undefined),
      spec(
        'stuck',
        (signal) => {
          stepSignal = signal;
          return new Promise(() => {});
        },
        50,
      ),
    ];
    const result = await h.runner.run(steps, 'SIGTERM', null, h.config());
    expect(result.steps.map((s) => [s.name, s.outcome])).toEqual([
      ['stuck', 'timeout'],
      ['after', 'ok'],
    ]);
    expect(result.steps[0]!.durationMs).toBeGreaterThanOrEqual(49);
    expect(result.steps[0]!.durationMs).toBeLessThan(250);
    expect(stepSignal!.aborted).toBe(true);
    expect(result).toMatchObject({ outcome: 'timeout', exitCode: EXIT_FAILED });
    expect(h.forced).toEqual(['timeout']);
  });

  it('the overall deadline forces exit 1 and reports the pending step as timed out', async () => {
    const h = harness();
    const steps = [spec('never', () => new Promise(() => {}))];
    void h.runner.run(steps, 'SIGTERM', null, h.config({ timeoutMs: 60 }));
    await sleep(120);
    expect(h.exits).toEqual([EXIT_FAILED]);
    expect(h.forced).toEqual(['timeout']);
    const last = h.events.at(-1)!;
    expect(last).toMatchObject({ name: 'never', phase: 'timeout' });
    expect(last.error).toMatch(/deadline of 60 ms/);
    expect(h.logs.join('')).toMatch(/deadline of 60 ms passed while step "never" was running; still open: /);
  });

  it('force() after a second signal exits at once with 128+n, once', async () => {
    const h = harness();
    const steps = [spec('slow', () => sleep(500))];
    const started = performance.now();
    void h.runner.run(steps, 'SIGTERM', null, h.config());
    await sleep(20);
    h.runner.force('SIGTERM', forcedBySignalCode(15));
    h.runner.force('SIGTERM', forcedBySignalCode(15));
    expect(h.exits).toEqual([143]);
    expect(performance.now() - started).toBeLessThan(400);
    expect(h.events.at(-1)).toMatchObject({ name: 'slow', phase: 'timeout', error: 'interrupted by SIGTERM' });
  });

  it('run() twice is one shutdown', async () => {
    const h = harness();
    let count = 0;
    const steps = [spec('once', () => void count++)];
    const a = h.runner.run(steps, 'api', 'one', h.config());
    const b = h.runner.run(steps, 'SIGTERM', null, h.config());
    expect(a).toBe(b);
    await a;
    expect(count).toBe(1);
    expect(h.begins).toEqual(['api:one']);
  });

  it('exit: false sets the exit code instead of exiting, and works without an observer', async () => {
    const h = harness(false);
    const steps = [spec('fails', () => Promise.reject(new Error('no')))];
    const result = await h.runner.run(steps, 'api', null, h.config({ exit: false }));
    expect(result.exitCode).toBe(EXIT_FAILED);
    expect(h.exits).toEqual([]);
    expect(h.exitCodes).toEqual([EXIT_FAILED]);
    expect(h.events).toEqual([]);
    expect(h.forced).toEqual([]);
  });

  it('a throwing logger does not stop the shutdown', async () => {
    const h = harness();
    const steps = [spec('fails', () => Promise.reject(new Error('no')))];
    const result = await h.runner.run(
      steps,
      'api',
      null,
      h.config({
        log: () => {
          throw new Error('logger broke');
        },
      }),
    );
    expect(result.outcome).toBe('error');
    expect(h.exits).toEqual([EXIT_FAILED]);
  });

  it('a recorder that throws never stops the cleanup', async () => {
    const exits: number[] = [];
    const broken: ShutdownObserver = {
      begin: () => {
        throw new Error('recorder broke');
      },
      step: () => {
        throw new Error('recorder broke');
      },
      forcing: () => {
        throw new Error('recorder broke');
      },
      internal: () => {
        throw new Error('recorder broke');
      },
    };
    const runner = new CleanupRunner({ observer: () => broken, exit: (c) => exits.push(c), setExitCode: () => {}, abort: () => {} });
    const ran: string[] = [];
    const result = await runner.run(
      [spec('a', () => void ran.push('a')), spec('b', () => Promise.reject(new Error('no')), 1000)],
      'SIGTERM',
      null,
      { timeoutMs: 1000, order: 'reverse', exit: true, log: null },
    );
    expect(ran).toEqual(['a']);
    expect(result.outcome).toBe('error');
    expect(exits).toEqual([EXIT_FAILED]);
  });
});
