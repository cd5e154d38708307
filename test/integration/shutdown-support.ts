// Runs a shutdown fixture as a real process, signals it once it printed "ready", and splits its
// recording into the shutdown messages the tests assert on.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { FIXTURES, readRecording, runNode, tempDir, type RunOptions, type RunResult } from '../helpers/run-node.js';
import type { Message, MessageOf } from '../../shared/protocol.js';

export interface SignalPlan {
  signal: NodeJS.Signals;
  /** ms after "ready" (or after the previous signal) */
  afterMs: number;
}

export interface FixtureRun {
  result: RunResult;
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

export function splitShutdown(messages: Message[]): Omit<FixtureRun, 'result'> {
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
  const record = withAgent ? join(tempDir('loopscope-shutdown-'), 'rec.ndjson') : null;
  const plan = options.signals ?? [];
  let sent = false;
  const run = runNode(fixture(name), {
    ...options,
    env: { ...(record ? { LOOPSCOPE_RECORD: record } : {}), ...options.env },
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
  const messages = record ? readRecording(record) : [];
  return { result, ...splitShutdown(messages) };
}

export function step(run: FixtureRun, name: string, outcome: string): MessageOf<'shutdown.step'> {
  const found = run.steps.find((s) => s.name === name && s.outcome === outcome);
  if (!found) throw new Error(`no step ${name} ${outcome} in ${JSON.stringify(run.steps)}`);
  return found;
}
