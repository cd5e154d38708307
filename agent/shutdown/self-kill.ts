// process.kill(process.pid, 'SIGTERM') from the app (signal-exit re-raises this way once its
// cleanup ran) kills the process before kill() returns when nothing listens for the signal.
// With the agent's lone listener in place the signal would instead be queued for it and the rest
// of the turn would run (and print) before the agent re-raised it. So, for a followed signal sent
// to this very process while the agent is the only listener, the agent records the end, steps
// aside, and then lets the original kill() deliver the signal, at the moment it would have
// without the agent. Every other call goes straight to the original, with its return value and
// its errors.
import { constants } from 'node:os';
import { mirrorFunction } from '../mirror-function.js';

type Kill = (this: unknown, pid: number, signal?: string | number) => boolean;

export interface SelfKillWatch {
  uninstall(): void;
}

function signalName(signal: unknown): string | null {
  if (signal === undefined) return 'SIGTERM';
  if (typeof signal === 'string') return signal;
  if (typeof signal === 'number') {
    for (const [name, n] of Object.entries(constants.signals)) if (n === signal) return name;
  }
  return null;
}

/** `beforeSelfKill(signal)` runs before a signal is sent to this process (the pid, as a number or a string). */
export function watchSelfKill(beforeSelfKill: (signal: string) => void): SelfKillWatch {
  const descriptor = Object.getOwnPropertyDescriptor(process, 'kill');
  const previous = process.kill as unknown as Kill;
  let active = true;

  const kill = function kill(this: unknown, pid: number, signal?: string | number): boolean {
    if (active) {
      try {
        if ((typeof pid === 'number' || typeof pid === 'string') && Number(pid) === process.pid) {
          const name = signalName(signal);
          if (name) beforeSelfKill(name);
        }
      } catch {
        // never into the app
      }
    }
    return Reflect.apply(previous, this, arguments) as boolean;
  };
  mirrorFunction(kill, previous);
  Object.defineProperty(process, 'kill', { value: kill, writable: true, configurable: true, enumerable: descriptor?.enumerable ?? true });

  return {
    uninstall(): void {
      active = false;
      if (process.kill !== (kill as unknown)) return;
      if (descriptor) Object.defineProperty(process, 'kill', descriptor);
      else delete (process as unknown as Record<string, unknown>).kill;
    },
  };
}
