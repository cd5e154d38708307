// How the worker reads a capture's answer: late by the wall clock is native code only when the
// process burned CPU or the main thread slept meanwhile, and only the agent's own frames are
// trimmed from the top of a stack.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { answeredLive, LIVE_EVAL_MS, trimCaptureFrames } from '../../agent/worker/capture.js';
import type { Frame } from '../../shared/protocol.js';

describe('answeredLive', () => {
  it('takes a prompt answer as live whatever else is known', () => {
    expect(answeredLive(LIVE_EVAL_MS, null, false, false)).toBe(true);
    expect(answeredLive(0.4, 50, true, true)).toBe(true);
  });

  it('takes a late answer with little CPU burned as JS that waited for a CPU', () => {
    expect(answeredLive(45, 1.2, true, false)).toBe(true);
  });

  it('takes a late answer as native when the process burned CPU meanwhile', () => {
    expect(answeredLive(45, LIVE_EVAL_MS + 0.1, true, false)).toBe(false);
  });

  it('takes a late answer as native when the main thread was seen asleep in the kernel', () => {
    expect(answeredLive(45, 0.5, true, true)).toBe(false);
  });

  it('does not trust a late answer where the thread state cannot be read', () => {
    expect(answeredLive(45, 0.5, false, false)).toBe(false);
    expect(answeredLive(45, null, true, false)).toBe(false);
  });
});

describe('trimCaptureFrames', () => {
  const dist = join('/opt', 'app', 'node_modules', 'loopscope', 'dist');
  const frame = (functionName: string, file: string): Frame => ({ functionName, file, line: 1, column: 1 });

  it("drops the evaluated expression and the agent's capture, keeps the first app frame", () => {
    const stack = [
      frame('Agent.captureForWorker', join(dist, 'agent', 'agent.js')),
      frame('value', pathToFileURL(join(dist, 'agent', 'agent.js')).href),
      frame('', '<anonymous>'),
      frame('spin', '/srv/app.js'),
      frame('listOnTimeout', 'node:internal/timers'),
    ];
    expect(trimCaptureFrames(stack, dist).map((f) => f.functionName)).toEqual(['spin', 'listOnTimeout']);
  });

  it('keeps code shipped elsewhere in the package (the demo app) as app code', () => {
    const demo = pathToFileURL(join(dist, 'dashboard', 'demo', 'app.js')).href;
    const stack = [frame('', '<anonymous>'), frame('crunchReportSynchronously', demo), frame('Server.<anonymous>', demo)];
    expect(trimCaptureFrames(stack, dist).map((f) => f.functionName)).toEqual(['crunchReportSynchronously', 'Server.<anonymous>']);
  });
});
