// Whether the main thread is on (or waiting for) a CPU or asleep in the kernel, from Linux's
// /proc. A capture that goes unanswered means native code only if the main thread burned CPU or
// slept meanwhile; on a machine short of CPU it is often just runnable and waiting its turn, with
// JS code that will answer as soon as it runs. Read by the worker, only while a capture waits.
import { readFileSync } from 'node:fs';

/** /proc/<pid>/task/<tid>/stat; the main thread's tid is the process id. */
const PATH = `/proc/${process.pid}/task/${process.pid}/stat`;

let available = process.platform === 'linux';

/**
 * 'runnable': running or waiting for a CPU (state R). 'asleep': in a system call or waiting on a
 * lock (S, D and the like). null where /proc cannot tell.
 */
export type ThreadState = 'runnable' | 'asleep';

/** Whether mainThreadState() can answer here (checked once, then remembered). */
export function canReadMainThreadState(): boolean {
  if (available) mainThreadState();
  return available;
}

export function mainThreadState(): ThreadState | null {
  if (!available) return null;
  try {
    const stat = readFileSync(PATH, 'latin1');
    // "<pid> (<comm>) <state> ...": the name may hold spaces and parentheses, the state follows the last ')'
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    if (!/^[A-Za-z]$/.test(state)) throw new Error('unknown format');
    return state === 'R' ? 'runnable' : 'asleep';
  } catch {
    available = false; // no /proc here (or a different one): do without from now on
    return null;
  }
}
