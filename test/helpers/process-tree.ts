// Runs a node command that may start a tree of processes (cluster workers, a foreground-child,
// node --watch's restarted app) through runNode, drives it with a script of actions keyed on its
// stdout, and makes sure nothing of it outlives the test: every process of the run carries a
// marker in its environment, so what is left (an app that ignores signals, a child orphaned when
// its parent died) is found in /proc and SIGKILLed, and the result says so.
import { randomUUID } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { runNode, type RunResult } from './run-node.js';

export type Action =
  /** Until `count` complete stdout lines start with `line` (the process ending stops the script). */
  | { wait: string; count?: number }
  | { sleepMs: number }
  /** To the top process only, as `kill -SIG <pid>`, a supervisor or `docker stop` would. */
  | { signal: NodeJS.Signals }
  /** A change node --watch sees. */
  | { append: string; text: string };

export interface TreeRunOptions {
  /** node's arguments: flags, the script, the script's arguments. */
  argv: string[];
  env: Record<string, string | undefined>;
  actions: Action[];
  /** The whole tree is SIGKILLed if the actions have not all run by then (e.g. never "ready"). */
  startTimeoutMs: number;
  /** The whole tree is SIGKILLed if the top process has not exited this long after the last action. */
  exitTimeoutMs: number;
  /** How long processes of the run may live on after the top one exited before they are killed. */
  orphanGraceMs: number;
}

export interface TreeRunResult extends RunResult {
  pid: number;
  /** The top process was still alive exitTimeoutMs after the last action, and was SIGKILLed. */
  timedOut: boolean;
  /** From the last action to the top process's exit (null when it ended before the last action). */
  exitMs: number | null;
  /** The action the script was waiting for when the process ended, if it never came. */
  pendingWait: string | null;
  /** Processes of the run still alive orphanGraceMs after the top one exited (then killed). */
  orphans: number;
  /** Every pid the test SIGKILLed: their agents cannot have recorded an end. */
  killedPids: number[];
  /** The command lines of those processes, to say which part of the tree was stuck. */
  killedCommands: string[];
}

// Not LOOPSCOPE_*: the agent warns about variables of its prefix it does not know.
const MARKER = 'MATRIX_TEST_RUN';

/** Pids of live processes whose environment carries this run's marker. */
function processesOfRun(id: string): number[] {
  const needle = `${MARKER}=${id}`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0');
      if (env.includes(needle)) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read: neither is part of this run
    }
  }
  return found;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 300);
  } catch {
    return `pid ${pid} (gone)`;
  }
}

function killRun(id: string): { pid: number; command: string }[] {
  const killed = processesOfRun(id).map((pid) => ({ pid, command: commandLine(pid) }));
  for (const { pid } of killed) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited between the scan and the kill
    }
  }
  return killed;
}

function completeLines(text: string, prefix: string): number {
  const lines = text.split('\n');
  lines.pop(); // a line still being written is not a line yet
  return lines.filter((l) => l.startsWith(prefix)).length;
}

export async function runTree(options: TreeRunOptions): Promise<TreeRunResult> {
  const id = randomUUID();
  const [first, ...rest] = options.argv;
  if (!first) throw new Error('runTree: empty argv');
  let stdout = '';
  let exited = false;
  let timedOut = false;
  let orphans = 0;
  let actionsDoneAt: number | null = null;
  let exitMs: number | null = null;
  const killed: { pid: number; command: string }[] = [];
  let wake: (() => void) | null = null;
  const poke = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };

  // runNode puts its `script` right after node's own flags: passing the first of our arguments as
  // the script and the rest as its arguments gives node exactly `argv`.
  const run = runNode(first, {
    agent: false,
    args: rest,
    env: { ...options.env, [MARKER]: id },
    // Ours fire first and kill the whole tree; runNode's only the top process.
    timeoutMs: options.startTimeoutMs + options.exitTimeoutMs + options.orphanGraceMs + 30_000,
    onStdout: (chunk) => {
      stdout += chunk;
      poke();
    },
  });
  const child = run.child;
  const timers: NodeJS.Timeout[] = [];
  child.on('exit', () => {
    exited = true;
    if (actionsDoneAt !== null) exitMs = performance.now() - actionsDoneAt;
    poke();
    timers.push(
      setTimeout(() => {
        const left = killRun(id);
        orphans = left.length;
        killed.push(...left);
      }, options.orphanGraceMs),
    );
  });
  const killIfAlive = (): void => {
    if (exited) return;
    timedOut = true;
    killed.push(...killRun(id));
  };
  const startTimer = setTimeout(killIfAlive, options.startTimeoutMs);
  timers.push(startTimer);

  let pendingWait: string | null = null;
  const drive = async (): Promise<void> => {
    for (const action of options.actions) {
      if (exited) {
        if ('wait' in action) pendingWait = action.wait;
        return;
      }
      if ('wait' in action) {
        const count = action.count ?? 1;
        while (!exited && completeLines(stdout, action.wait) < count) {
          await new Promise<void>((resolve) => (wake = resolve));
        }
        if (completeLines(stdout, action.wait) < count) {
          pendingWait = `${action.wait} (x${count})`;
          return;
        }
      } else if ('sleepMs' in action) {
        await new Promise((resolve) => setTimeout(resolve, action.sleepMs));
      } else if ('signal' in action) {
        // A no-op once the process is gone (ChildProcess.kill checks), never a recycled pid.
        child.kill(action.signal);
      } else {
        appendFileSync(action.append, action.text);
      }
    }
    actionsDoneAt = performance.now();
    clearTimeout(startTimer);
    timers.push(setTimeout(killIfAlive, options.exitTimeoutMs));
  };
  const [result] = await Promise.all([run, drive()]);
  for (const t of timers) clearTimeout(t);
  return {
    ...result,
    pid: child.pid ?? -1,
    timedOut,
    exitMs,
    pendingWait,
    orphans,
    killedPids: killed.map((k) => k.pid),
    killedCommands: killed.map((k) => k.command),
  };
}
