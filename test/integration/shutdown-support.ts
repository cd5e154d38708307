// Runs a shutdown fixture as a real process, signals it once it printed "ready", and splits its
// recording into the shutdown messages the tests assert on.
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { FIXTURES, readRecording, runNode, tempDir, type RunOptions, type RunResult } from '../helpers/run-node.js';
import type { Message, MessageOf } from '../../shared/protocol.js';

export interface SignalPlan {
  signal: NodeJS.Signals;
  /** ms after "ready" (or after the previous signal) */
  afterMs: number;
}

export interface FixtureRun {
  result: RunResult;
  /** What each named sleep of the fixture really took (ms), from FIXTURE_SLEEP_LOG. */
  slept: Record<string, number>;
  messages: Message[];
  start: MessageOf<'shutdown.start'> | undefined;
  steps: MessageOf<'shutdown.step'>[];
  closed: MessageOf<'shutdown.closed'>[];
  signals: MessageOf<'shutdown.signal'>[];
  hangs: MessageOf<'shutdown.hang'>[];
  end: MessageOf<'shutdown.end'> | undefined;
  starts: number;
  ends: number;
}

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** 1-based line of the first line of a fixture containing `marker`. */
export function lineOf(name: string, marker: string): number {
  const lines = readFileSync(fixture(name), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(marker));
  if (i < 0) throw new Error(`${marker} not in ${name}`);
  return i + 1;
}

export function byType<T extends Message['type']>(messages: readonly Message[], type: T): MessageOf<T>[] {
  return messages.filter((m): m is MessageOf<T> => m.type === type);
}

export function splitShutdown(messages: Message[]): Omit<FixtureRun, 'result' | 'slept'> {
  const starts = byType(messages, 'shutdown.start');
  const ends = byType(messages, 'shutdown.end');
  return {
    messages,
    start: starts[0],
    steps: byType(messages, 'shutdown.step'),
    closed: byType(messages, 'shutdown.closed'),
    signals: byType(messages, 'shutdown.signal'),
    hangs: byType(messages, 'shutdown.hang'),
    end: ends[0],
    starts: starts.length,
    ends: ends.length,
  };
}

export interface FixtureOptions extends Omit<RunOptions, 'onStdout'> {
  args?: string[];
  signals?: SignalPlan[];
}

/** Runs the fixture, sends the planned signals after "ready", returns its ending and recording. */
export async function runFixture(name: string, options: FixtureOptions = {}): Promise<FixtureRun> {
  const withAgent = options.agent !== false;
  const dir = tempDir('loopscope-shutdown-');
  const record = withAgent ? join(dir, 'rec.ndjson') : null;
  const sleepLog = join(dir, 'sleeps.ndjson');
  const plan = options.signals ?? [];
  let sent = false;
  const run = runNode(fixture(name), {
    ...options,
    env: {
      FIXTURE_SLEEP_LOG: sleepLog,
      // A worker still starting on a loaded machine can take more than the default 1 s to write
      // the final records; these tests are about what is recorded, not about that bound.
      ...(record ? { LOOPSCOPE_RECORD: record, LOOPSCOPE_FLUSH_TIMEOUT_MS: '5000' } : {}),
      ...options.env,
    },
    onStdout: (chunk, child) => {
      if (sent || !chunk.includes('ready')) return;
      sent = true;
      let delay = 0;
      for (const step of plan) {
        delay += step.afterMs;
        setTimeout(() => child.kill(step.signal), delay);
      }
    },
  });
  const result = await run;
  // A process killed before the agent's first write has no recording: the assertions say so.
  const messages = record && existsSync(record) ? readRecording(record) : [];
  const slept: Record<string, number> = {};
  if (existsSync(sleepLog)) {
    for (const line of readFileSync(sleepLog, 'utf8').split('\n')) {
      if (!line) continue;
      const { name, ms } = JSON.parse(line) as { name: string; ms: number };
      slept[name] = ms;
    }
  }
  return { result, slept, ...splitShutdown(messages) };
}

/** The recorded duration is within 20 ms of what the fixture's sleep really took, itself at least what it asked for. */
export function expectSleptDuration(run: Pick<FixtureRun, 'slept'>, recordedMs: number | null, name: string, askedMs: number): void {
  const slept = run.slept[name];
  if (slept === undefined) throw new Error(`the fixture logged no sleep named ${name}`);
  if (slept < askedMs - 1) throw new Error(`sleep ${name} took ${slept} ms, less than ${askedMs}`);
  if (recordedMs === null || Math.abs(recordedMs - slept) > 20) {
    throw new Error(`step ${name} recorded ${recordedMs} ms, the fixture slept ${slept.toFixed(1)} ms`);
  }
}

export function step(run: FixtureRun, name: string, outcome: string): MessageOf<'shutdown.step'> {
  const found = run.steps.find((s) => s.name === name && s.outcome === outcome);
  if (!found) throw new Error(`no step ${name} ${outcome} in ${JSON.stringify(run.steps)}`);
  return found;
}
