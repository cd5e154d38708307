// Issue #8's transparency matrix: the shutdown libraries apps really use, each a real package
// (devDependencies) in a small app under test/fixtures/matrix/, run without the agent and with it,
// for SIGTERM, SIGINT twice (Ctrl-C, Ctrl-C), SIGHUP and an uncaught error. The exit code, the
// signal, stdout and stderr must be identical byte for byte, every process must end by itself,
// and the run with the agent must have recorded a hello and a shutdown end for each app process.
//
// Signals go to the top process only, as `kill -SIG <pid>`, a supervisor or `docker stop` sends
// them (a terminal would signal the whole process group).
//
// LOOPSCOPE_TEST_ROOT=/path/to/checkout runs the matrix against that checkout's built agent
// (its dist/agent/preload.js) instead of this one's: to judge another worktree's agent with these
// fixtures without copying them. It must have been built (`npm run build`) there.
import { describe, expect, it } from 'vitest';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { FIXTURES, ROOT, readRecording, tempDir } from '../helpers/run-node.js';
import { runTree, type Action, type TreeRunResult } from '../helpers/process-tree.js';
import { byType } from './shutdown-support.js';
import { withPreload } from '../../cli/run.js';

const AGENT_ROOT = resolve(process.env.LOOPSCOPE_TEST_ROOT ?? ROOT);
const PRELOAD = join(AGENT_ROOT, 'dist', 'agent', 'preload.js');
if (!existsSync(PRELOAD)) throw new Error(`no built agent at ${PRELOAD}: run npm run build in ${AGENT_ROOT}`);

const MATRIX = join(FIXTURES, 'matrix');
/** Start-up of a process tree with an agent in each process, on a machine at load 16, stays well under this. */
const START_TIMEOUT_MS = 60_000;
/**
 * After its last signal a process that has not exited within this is one the agent made unkillable:
 * a clean exit takes well under a second, but with the raised flush bound (below) a child and then
 * its parent may each wait up to 5 s for a worker starved by a loaded machine.
 */
const EXIT_TIMEOUT_MS = 20_000;
/**
 * How long the rest of a tree may outlive its top process (cluster workers after the primary died
 * by SIGHUP finish their work, then exit; with the agent each may wait up to the 5 s flush bound).
 * node --watch dies by SIGHUP and leaves its app running for good: both runs wait this long, then
 * kill it, and must agree that one process was left.
 */
const ORPHAN_GRACE_MS = 8_000;
/** Cells run at once: each is two runs in turn; more would make the 2-core machine the test. */
const CELLS_AT_ONCE = 3;
/** A user pressing Ctrl-C again while the app is still cleaning up (CLEANUP_MS in common.cjs is 1200). */
const SECOND_CTRL_C_MS = 150;

interface Library {
  name: string;
  fixture: string;
  /**
   * How the agent is preloaded: -r for a CommonJS app, --import for an ESM one, NODE_OPTIONS (as
   * `loopscope run` does) where the app starts more node processes that must get it too.
   */
  preload: 'require' | 'import' | 'node-options';
  /** Scripts (besides the fixture) whose processes the agent must have followed to their end. */
  children?: string[];
  /** Run under node --watch, changing the watched file once before the scenario. */
  watch?: boolean;
}

const LIBRARIES: Library[] = [
  { name: 'signal-exit 3', fixture: 'signal-exit-v3.cjs', preload: 'require' },
  { name: 'signal-exit 4', fixture: 'signal-exit-v4.mjs', preload: 'import' },
  { name: 'exit-hook 5', fixture: 'exit-hook.mjs', preload: 'import' },
  { name: 'async-exit-hook 2', fixture: 'async-exit-hook.cjs', preload: 'require' },
  { name: 'close-with-grace 2', fixture: 'close-with-grace.cjs', preload: 'require' },
  { name: '@godaddy/terminus 4', fixture: 'terminus.cjs', preload: 'require' },
  // lightship 7.2.0: 7.3.0 (the last release whose engines accept Node 20) is published without
  // its dist/ and cannot be loaded at all; 9.x needs Node 22.13.
  { name: 'lightship 7', fixture: 'lightship.mjs', preload: 'import' },
  { name: 'foreground-child 4', fixture: 'foreground-child.cjs', preload: 'node-options', children: ['graceful-app.cjs'] },
  // Workers inherit -r through process.execArgv.
  { name: 'cluster 2 workers', fixture: 'cluster.cjs', preload: 'require' },
  { name: 'node --watch restart', fixture: 'graceful-app.cjs', preload: 'node-options', watch: true },
];

interface Scenario {
  name: string;
  args: string[];
  actions: Action[];
  /** What the scenario sends, for the message when the app does not exit. */
  sends: string;
}

const READY: Action = { wait: 'ready' };
const SCENARIOS: Scenario[] = [
  { name: 'SIGTERM', args: [], actions: [READY, { signal: 'SIGTERM' }], sends: 'SIGTERM' },
  {
    name: 'SIGINT twice',
    args: [],
    actions: [READY, { signal: 'SIGINT' }, { sleepMs: SECOND_CTRL_C_MS }, { signal: 'SIGINT' }],
    sends: 'SIGINT twice',
  },
  { name: 'SIGHUP', args: [], actions: [READY, { signal: 'SIGHUP' }], sends: 'SIGHUP' },
  { name: 'uncaught error', args: ['crash'], actions: [READY], sends: 'nothing (it crashes)' },
];

/** The command and actions of one run; `watched` is the file node --watch follows, if any. */
function plan(lib: Library, scenario: Scenario, watched: string | null): { argv: string[]; actions: Action[] } {
  const script = watched ?? join(MATRIX, lib.fixture);
  if (!watched) return { argv: [script, ...scenario.args], actions: scenario.actions };
  const restart: Action = { append: watched, text: '// changed\n' };
  // The crashed app stays crashed until a change: node --watch waits, it does not exit.
  const actions: Action[] =
    scenario.args.includes('crash')
      ? [READY, { wait: 'Failed running' }, restart, { wait: 'ready', count: 2 }, { wait: 'Failed running', count: 2 }, { signal: 'SIGTERM' }]
      : [READY, restart, { wait: 'ready', count: 2 }, ...scenario.actions.slice(1)];
  return { argv: ['--watch', script, ...scenario.args], actions };
}

function agentFlags(lib: Library, env: Record<string, string | undefined>): { flags: string[]; env: Record<string, string | undefined> } {
  if (lib.preload === 'node-options') return { flags: [], env: { ...env, NODE_OPTIONS: withPreload(env.NODE_OPTIONS, PRELOAD) } };
  return { flags: [lib.preload === 'require' ? '-r' : '--import', PRELOAD], env };
}

interface Cell {
  /** The cell's temporary folder (recording, watched copy): kept when the cell fails, to look at. */
  dir: string;
  without: TreeRunResult;
  withAgent: TreeRunResult;
  record: string;
  appScripts: string[];
}

async function runCell(lib: Library, scenario: Scenario): Promise<Cell> {
  const dir = tempDir('loopscope-matrix-');
  const record = join(dir, 'rec.ndjson');
  // The same env in both runs (the agent simply is not there without its preload); the flush bound
  // is raised as in shutdown-support.ts: a loaded machine must not cost the recording its end.
  // LOOPSCOPE_* of the test's own environment (LOOPSCOPE_TEST_ROOT, say) stay out: the agent warns
  // about a variable of its prefix it does not know, and would configure itself from the others.
  const inherited = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('LOOPSCOPE_')).map((k) => [k, undefined]));
  const env = { ...inherited, NODE_OPTIONS: process.env.NODE_OPTIONS, LOOPSCOPE_RECORD: record, LOOPSCOPE_FLUSH_TIMEOUT_MS: '5000' };
  // node --watch follows a copy (the test changes it); both runs use the same path, since the
  // path is in what node prints.
  const watched = lib.watch ? join(dir, 'watched-app.cjs') : null;
  const fresh = (): void => {
    if (watched) writeFileSync(watched, `require(${JSON.stringify(join(MATRIX, lib.fixture))});\n`);
  };
  const { argv, actions } = plan(lib, scenario, watched);
  const common = { actions, startTimeoutMs: START_TIMEOUT_MS, exitTimeoutMs: EXIT_TIMEOUT_MS, orphanGraceMs: ORPHAN_GRACE_MS };
  fresh();
  const without = await runTree({ ...common, argv, env });
  fresh();
  const agent = agentFlags(lib, env);
  const withAgent = await runTree({ ...common, argv: [...agent.flags, ...argv], env: agent.env });
  const appScripts = watched ? [watched] : [join(MATRIX, lib.fixture), ...(lib.children ?? []).map((c) => join(MATRIX, c))];
  return { dir, without, withAgent, record, appScripts };
}

/** Only the pid in Node's own warnings, "(node:1234)", differs between any two runs. */
const ending = (r: TreeRunResult) => ({
  code: r.code,
  signal: r.signal,
  stdout: r.stdout,
  stderr: r.stderr.replace(/\(node:\d+\)/g, '(node:PID)'),
  orphans: r.orphans,
});

function checkRecording(cell: Cell): void {
  const { withAgent, record, appScripts } = cell;
  expect(existsSync(record), 'the run with the agent wrote no recording').toBe(true);
  const messages = readRecording(record);
  const hellos = byType(messages, 'hello');
  const ends = byType(messages, 'shutdown.end');
  for (const script of appScripts) {
    const mine = hellos.filter((h) => h.argv[1] === script);
    expect(mine.length, `no hello from ${basename(script)} in the recording`).toBeGreaterThan(0);
    for (const hello of mine) {
      // A process the test had to SIGKILL cannot have recorded its end; every other one must.
      if (withAgent.killedPids.includes(hello.pid)) continue;
      const own = ends.filter((e) => e.run === hello.run);
      expect(own.length, `shutdown.end records of ${basename(script)} (pid ${hello.pid})`).toBe(1);
    }
  }
  // The top process's end says how it really ended (node --watch's own process has no agent).
  const top = hellos.find((h) => h.pid === withAgent.pid);
  if (top) expect(ends.find((e) => e.run === top.run)?.exit).toEqual({ code: withAgent.code, signal: withAgent.signal });
}

let running = 0;
const queue: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= CELLS_AT_ONCE) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    queue.shift()?.();
  }
}

const CELLS = LIBRARIES.flatMap((lib) => SCENARIOS.map((scenario) => ({ lib, scenario, name: `${lib.name} | ${scenario.name}` })));

describe(`transparency matrix (agent: ${PRELOAD})`, () => {
  // Long enough for a cell that waits its turn behind the others; each run bounds itself.
  it.concurrent.each(CELLS)('$name', async ({ lib, scenario }) => {
    const cell = await limited(() => runCell(lib, scenario));
    const { without, withAgent } = cell;
    if (without.timedOut) throw new Error(`the app did not exit without the agent either (${scenario.sends}): the fixture is wrong\n${without.stderr}`);
    if (without.pendingWait) throw new Error(`without the agent the app never printed "${without.pendingWait}":\n${without.stderr}`);
    if (withAgent.timedOut && withAgent.pendingWait) {
      throw new Error(`with the agent the app never printed "${withAgent.pendingWait}" in ${START_TIMEOUT_MS / 1000} s:\n${withAgent.stderr}`);
    }
    if (withAgent.timedOut) {
      throw new Error(
        `did not exit: the app ignores ${scenario.sends} with the agent (SIGKILLed ${EXIT_TIMEOUT_MS / 1000} s after it; ` +
          `without the agent: code=${without.code} signal=${without.signal})\n` +
          `still running: ${withAgent.killedCommands.map((c) => c.replaceAll(MATRIX + '/', '')).join('; ')}\n` +
          `stdout with the agent: ${JSON.stringify(withAgent.stdout)}\nstderr with the agent: ${JSON.stringify(withAgent.stderr)}`,
      );
    }
    expect(ending(withAgent)).toEqual(ending(without));
    checkRecording(cell);
    rmSync(cell.dir, { recursive: true, force: true });
  }, 240_000);
});
