// Creation sites without async_hooks, for the default mode. Enabling any async_hooks hook makes V8
// call into JS for every promise (measured here: an empty init-only hook alone costs 7% of an HTTP
// handler with three awaits, past the 0.95 target). Long-lived resources are instead caught where
// the app creates them: the few APIs that make them (timers, timers/promises, listen, connect,
// spawn, watch) are
// wrapped, and each wrapper keeps a lazily formatted stack under the tracker's budget. A handle
// that opens asynchronously (listen on a host name, connect) is registered once it exists.
import net from 'node:net';
import fs from 'node:fs';
import timers from 'node:timers';
import childProcess from 'node:child_process';
import workerThreads from 'node:worker_threads';
import { syncBuiltinESMExports } from 'node:module';
import { captureStack, type StackHolder } from './stack-capture.js';
import { mirrorFunction } from '../mirror-function.js';
import { installPromiseTimers } from './promise-timers.js';

/** What the tracker does with a resource the app just created. */
export interface ApiSiteSink {
  /**
   * Whether to track a new resource: 'no' (registry full, or a per-request-like one past its
   * per-second cap), 'bare' (track without a stack: the stack budget is spent), or 'stack'.
   */
  admit(perRequestLike: boolean): 'no' | 'bare' | 'stack';
  /** A timer object: tracked at once. */
  timer(timeout: object, holder: StackHolder | null): void;
  /** A handle owner (server, socket, child, watcher) whose native handle may appear later. */
  owner(owner: object, holder: StackHolder | null, kind: OwnerKind): void;
  /** A worker thread (its native handle is on a private symbol of the Worker object). */
  worker(worker: object, holder: StackHolder | null): void;
  /** Every timer the app creates, for the created-per-type counts. */
  countTimer(): void;
  /** True while the agent itself creates resources. */
  internal(): boolean;
}

export type OwnerKind = 'server' | 'socket' | 'child' | 'watcher';

const STACK_FRAMES = 12;

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;

interface Patch {
  target: Record<string, unknown>;
  key: string;
  original: unknown;
  wrapper: unknown;
}

const patches: Patch[] = [];

function capture(above: AnyFn): StackHolder {
  return captureStack(above, STACK_FRAMES);
}

/** Replaces target[key] with a wrapper that keeps the original's name, length and own symbols (util.promisify.custom). */
function patch(target: object, key: string, make: (original: AnyFn) => AnyFn): void {
  const t = target as Record<string, unknown>;
  const original = t[key];
  if (typeof original !== 'function') return;
  const wrapper = make(original as AnyFn);
  mirrorFunction(wrapper, original);
  t[key] = wrapper;
  patches.push({ target: t, key, original, wrapper });
}

function timerWrapper(sink: ApiSiteSink, repeat: boolean) {
  return (original: AnyFn): AnyFn => {
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      const timeout = original.apply(this, args);
      try {
        if (timeout && typeof timeout === 'object' && !sink.internal()) {
          sink.countTimer();
          const delay = Number(args[1]);
          // Short one-shot timers are per-request work, never what keeps a process alive for long.
          if (repeat || delay >= 1000) {
            const admit = sink.admit(!repeat);
            if (admit !== 'no') sink.timer(timeout, admit === 'stack' ? capture(wrapped as AnyFn) : null);
          }
        }
      } catch {
        // a creation site is a nicety: the app's timer is what matters
      }
      return timeout;
    };
    return wrapped as AnyFn;
  };
}

function ownerWrapper(sink: ApiSiteSink, kind: OwnerKind, returnsOwner: boolean) {
  return (original: AnyFn): AnyFn => {
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      // Captured before the call: listen/connect may finish (and fail) synchronously.
      let holder: StackHolder | null = null;
      let admit: 'no' | 'bare' | 'stack' = 'no';
      try {
        if (!sink.internal()) admit = sink.admit(kind === 'socket');
        if (admit === 'stack') holder = capture(wrapped as AnyFn);
      } catch {
        admit = 'no';
      }
      const result = original.apply(this, args);
      try {
        const owner = returnsOwner ? result : this;
        if (admit !== 'no' && owner && typeof owner === 'object') sink.owner(owner, holder, kind);
      } catch {
        // as above
      }
      return result;
    };
    return wrapped as AnyFn;
  };
}

/** Worker is a class: a subclass under the same name records where each one is constructed. */
function patchWorker(sink: ApiSiteSink): void {
  const Original = workerThreads.Worker;
  if (typeof Original !== 'function') return;
  const Tracked = class Worker extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      let admit: 'no' | 'bare' | 'stack' = 'no';
      let holder: StackHolder | null = null;
      try {
        if (!sink.internal()) admit = sink.admit(false);
        if (admit === 'stack') holder = capture(Tracked as unknown as AnyFn);
      } catch {
        admit = 'no';
      }
      super(...args);
      try {
        if (admit !== 'no') sink.worker(this, holder);
      } catch {
        // as above
      }
    }
  };
  const target = workerThreads as unknown as Record<string, unknown>;
  target.Worker = Tracked;
  patches.push({ target, key: 'Worker', original: Original, wrapper: Tracked });
}

export function installApiSites(sink: ApiSiteSink): void {
  if (patches.length > 0) return;
  const g = globalThis as unknown as Record<string, unknown>;
  const sameGlobals = g.setTimeout === timers.setTimeout;
  patch(timers, 'setTimeout', timerWrapper(sink, false));
  patch(timers, 'setInterval', timerWrapper(sink, true));
  if (sameGlobals) {
    g.setTimeout = timers.setTimeout;
    g.setInterval = timers.setInterval;
  } else {
    patch(g, 'setTimeout', timerWrapper(sink, false));
    patch(g, 'setInterval', timerWrapper(sink, true));
  }
  patch(net.Server.prototype, 'listen', ownerWrapper(sink, 'server', false));
  patch(net.Socket.prototype, 'connect', ownerWrapper(sink, 'socket', false));
  patch(childProcess.ChildProcess.prototype, 'spawn', ownerWrapper(sink, 'child', false));
  patch(fs, 'watch', ownerWrapper(sink, 'watcher', true));
  patchWorker(sink);
  installPromiseTimers(sink, patch, capture);
  try {
    // ESM `import { setTimeout, watch } from 'node:...'` binds the module's exports: refresh them.
    syncBuiltinESMExports();
  } catch {
    // ESM named imports keep the originals: CommonJS and globals are still covered
  }
}

export function uninstallApiSites(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  while (patches.length > 0) {
    const p = patches.pop()!;
    if (p.target[p.key] === p.wrapper) p.target[p.key] = p.original;
    if (p.target === (timers as unknown as Record<string, unknown>) && g[p.key] === p.wrapper) g[p.key] = p.original;
  }
  try {
    syncBuiltinESMExports();
  } catch {
    // as above
  }
}
