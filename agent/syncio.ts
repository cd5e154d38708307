// Sync I/O on the main thread: wraps every *Sync function of fs, child_process, zlib and crypto.
// During a call the shared state names the API and its start, so the worker can say "blocked in
// fs.readFileSync" while the call is still running; afterwards the call is counted per api and
// caller frame.
//
// Start-up rule: calls during start-up are not recorded (loading config at boot is expected).
// Start-up ends at the first setImmediate once the main entry has been evaluated. For a CommonJS
// main that is the first setImmediate after the agent starts (the main module runs synchronously
// before the loop). An ES module main (or any main Node runs through its ESM loader, e.g. with
// --import) loads asynchronously and the loop turns meanwhile; Node keeps an 'exit' listener named
// handleProcessExit while the entry's promise (top-level await included) is pending, so the agent
// polls (every 5 ms, unref'd) until it is gone, then waits one setImmediate; 10 s at most. While
// that listener is there, a call made by module code is start-up (the stack shows the loader, or,
// after a top-level await, the module's unnamed top level as its outermost own frame; a bare promise
// callback looks the same and counts as start-up too), and a call from a callback (a request
// handler served during a top-level await) is recorded. Only the stacks of calls made in that
// window are read for this; after start-up the rule costs nothing.
// Default imports are the CommonJS module objects that require() returns and that are patched;
// ESM named exports are refreshed from them with syncBuiltinESMExports().
import { mirrorFunction } from './mirror-function.js';
import fs from 'node:fs';
import childProcess from 'node:child_process';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import type { AgentContext } from './context.js';
import type { Frame, SyncCallStat, SyncioSample, Unstamped } from '../shared/protocol.js';
import { I, F, epochNow } from './shared-state.js';
import { parseStack, firstUserFrame, isInternalFile } from '../shared/stack.js';
import { captured } from './captured.js';

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;
type ModuleObject = Record<string, unknown>;

const MODULES: ReadonlyArray<readonly [string, ModuleObject]> = [
  ['fs', fs as unknown as ModuleObject],
  ['child_process', childProcess as unknown as ModuleObject],
  ['zlib', zlib as unknown as ModuleObject],
  ['crypto', crypto as unknown as ModuleObject],
];

function listSyncApis(): string[] {
  const names: string[] = [];
  for (const [modName, mod] of MODULES) {
    for (const key of Object.keys(mod).sort()) {
      if (!key.endsWith('Sync')) continue;
      const desc = Object.getOwnPropertyDescriptor(mod, key);
      if (desc && typeof desc.value === 'function') names.push(`${modName}.${key}`);
    }
  }
  return names;
}

/** Names of the wrapped APIs; the shared state's syncApi slot holds index + 1. */
export const SYNC_API_NAMES: readonly string[] = listSyncApis();

/** Distinct (api, caller) groups kept between drains; past it calls land in the api's null group. */
const MAX_GROUPS = 500;
/** Caller stacks taken per second for ordinary calls (slow calls always get one). */
const CALLER_BUDGET = 100;
const SLOW_RING = 32;
const CALLER_FRAMES = 40;
const STARTUP_CAP_MS = 10_000;
const STARTUP_POLL_MS = 5;

interface Group {
  api: string;
  createdAt: Frame | null;
  count: number;
  totalMs: number;
  maxMs: number;
}

interface SlowCall {
  api: string;
  createdAt: Frame | null;
  endedAt: number;
  durationMs: number;
}

const ORIGINAL = Symbol('loopscope.original');

function mainStillLoading(): boolean {
  return process.listeners('exit').some((f) => f.name === 'handleProcessExit');
}

export class SyncioRecorder {
  private installed: Array<{ mod: ModuleObject; key: string; original: AnyFn }> = [];
  private groups = new Map<string, Group>();
  private readonly slow: SlowCall[] = [];
  private startup = true;
  private budgetLeft = 0;
  private budgetWindow = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  /** Wrapped calls in progress (nested ones are Node's own, inside the app's call). */
  depth = 0;

  constructor(private readonly ctx: AgentContext) {}

  install(): void {
    if (this.installed.length > 0) return;
    SYNC_API_NAMES.forEach((name, index) => {
      const dot = name.indexOf('.');
      const mod = MODULES.find(([m]) => m === name.slice(0, dot))?.[1];
      const key = name.slice(dot + 1);
      if (!mod) return;
      try {
        const desc = Object.getOwnPropertyDescriptor(mod, key);
        if (!desc || typeof desc.value !== 'function' || (!desc.writable && !desc.configurable)) return;
        const original = desc.value as AnyFn;
        const wrapped = this.wrap(original, name, index + 1);
        Object.defineProperty(mod, key, { ...desc, value: wrapped });
        this.installed.push({ mod, key, original });
      } catch {
        // a frozen or exotic export stays unwrapped
      }
    });
    this.syncEsm();
    this.ctx.internal(() => this.armStartupEnd());
  }

  uninstall(): void {
    for (const { mod, key, original } of this.installed) {
      try {
        const desc = Object.getOwnPropertyDescriptor(mod, key);
        // Restore only our own wrapper: the app may have replaced it since.
        if (desc && (desc.value as { [ORIGINAL]?: unknown })?.[ORIGINAL] === original) {
          Object.defineProperty(mod, key, { ...desc, value: original });
        }
      } catch {
        // leave it
      }
    }
    this.installed = [];
    this.syncEsm();
    if (this.pollTimer) captured.clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  /** ESM named imports of node:fs etc. read the builtin's exports as they were when first linked. */
  private syncEsm(): void {
    try {
      syncBuiltinESMExports();
    } catch {
      // ESM imports keep the unwrapped functions
    }
  }

  private armStartupEnd(): void {
    const started = captured.now();
    const end = (): void => {
      this.startup = false;
    };
    captured.setImmediate(() => {
      if (!mainStillLoading()) return end();
      this.ctx.internal(() => {
        this.pollTimer = captured.setInterval(() => {
          if (mainStillLoading() && captured.now() - started < STARTUP_CAP_MS) return;
          if (this.pollTimer) captured.clearInterval(this.pollTimer);
          this.pollTimer = null;
          this.ctx.internal(() => captured.setImmediate(end).unref());
        }, STARTUP_POLL_MS);
        this.pollTimer.unref();
      });
    }).unref();
  }

  private wrap(original: AnyFn, api: string, slot: number): AnyFn {
    const rec = this;
    // console.log to a file or pipe is Node writing fd 1/2 with fs.writeSync: it is the app's
    // output, not I/O the app chose to make synchronous. Still named during a block, not counted.
    const stdioWrite = api === 'fs.writeSync' || api === 'fs.writevSync';
    const shared = this.ctx.shared;
    const wrapper = function (this: unknown, ...args: unknown[]): unknown {
      // fs.readFileSync calls fs.openSync/readSync/closeSync through the module object: only the
      // outermost call, the one the app made, is named and counted.
      if (rec.depth > 0) return original.apply(this, args);
      const started = epochNow();
      shared.f64[F.syncStartedAt] = started;
      Atomics.store(shared.i32, I.syncApi, slot);
      rec.depth++;
      try {
        return original.apply(this, args);
      } finally {
        rec.depth--;
        Atomics.store(shared.i32, I.syncApi, 0);
        if (!(stdioWrite && (args[0] === 1 || args[0] === 2))) rec.record(api, started, wrapper);
      }
    };
    mirrorFunction(wrapper, original);
    try {
      Object.defineProperty(wrapper, ORIGINAL, { value: original });
    } catch {
      // uninstall then leaves this wrapper in place
    }
    return wrapper;
  }

  private record(api: string, started: number, wrapper: AnyFn): void {
    try {
      if (this.ctx.inInternal) return;
      const ended = epochNow();
      const ms = ended - started;
      const slow = ms >= this.ctx.config.blockThresholdMs;
      let frames: Frame[] | null = null;
      if (this.startup) {
        // Before the main entry is done, only calls outside module evaluation count (see top).
        if (!mainStillLoading()) return;
        frames = this.callerFrames(wrapper);
        if (isModuleEvaluation(frames)) return;
      } else if (slow || this.takeBudget()) {
        frames = this.callerFrames(wrapper);
      }
      const createdAt = frames ? firstUserFrame(frames, this.ctx.frameOptions) : null;
      this.add(api, createdAt, ms);
      if (slow) {
        if (this.slow.length >= SLOW_RING) this.slow.shift();
        this.slow.push({ api, createdAt, endedAt: ended, durationMs: ms });
      }
    } catch {
      // bookkeeping never breaks the app's call
    }
  }

  private takeBudget(): boolean {
    const now = captured.now();
    if (now - this.budgetWindow >= 1000) {
      this.budgetWindow = now;
      this.budgetLeft = CALLER_BUDGET;
    }
    if (this.budgetLeft <= 0) return false;
    this.budgetLeft--;
    return true;
  }

  private callerFrames(wrapper: AnyFn): Frame[] {
    const holder: { stack?: string } = {};
    const prev = Error.stackTraceLimit;
    Error.stackTraceLimit = CALLER_FRAMES;
    Error.captureStackTrace(holder, wrapper);
    Error.stackTraceLimit = prev;
    return parseStack(holder.stack);
  }

  private add(api: string, createdAt: Frame | null, ms: number): void {
    let key = createdAt ? `${api}\0${createdAt.file}:${createdAt.line}:${createdAt.column}` : api;
    let g = this.groups.get(key);
    if (!g && this.groups.size >= MAX_GROUPS) {
      key = api;
      createdAt = null;
      g = this.groups.get(key);
    }
    if (!g) {
      g = { api, createdAt, count: 0, totalMs: 0, maxMs: 0 };
      this.groups.set(key, g);
    }
    g.count++;
    g.totalMs += ms;
    if (ms > g.maxMs) g.maxMs = ms;
  }

  /** Calls since the last drain, or null when there were none. */
  drain(): Unstamped<SyncioSample> | null {
    if (this.groups.size === 0) return null;
    const calls: SyncCallStat[] = [];
    for (const g of this.groups.values()) {
      calls.push({ api: g.api, count: g.count, totalMs: round(g.totalMs), maxMs: round(g.maxMs), createdAt: g.createdAt });
    }
    this.groups = new Map();
    calls.sort((a, b) => b.totalMs - a.totalMs);
    return { type: 'syncio', calls };
  }

  /** The slowest *Sync call that ended within [from, to] (epoch ms) and took over the block threshold. */
  slowCallWithin(from: number, to: number): { api: string; createdAt: Frame | null } | null {
    let best: SlowCall | null = null;
    for (const c of this.slow) {
      if (c.endedAt < from || c.endedAt > to + 1) continue;
      if (!best || c.durationMs > best.durationMs) best = c;
    }
    return best ? { api: best.api, createdAt: best.createdAt } : null;
  }
}

/**
 * Module code running: CommonJS and the synchronous part of ES modules show the loader's frames;
 * an ES module's top level resumed after an await shows itself as the outermost frame, unnamed.
 */
function isModuleEvaluation(frames: readonly Frame[]): boolean {
  if (frames.some((f) => f.functionName.includes('ModuleJob.run') || f.functionName.includes('Module._compile'))) return true;
  if (frames.length >= CALLER_FRAMES) return false;
  let outermost: Frame | undefined;
  for (const f of frames) if (!isInternalFile(f.file)) outermost = f;
  return outermost !== undefined && outermost.functionName === '';
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
