// Every option of the agent, its LOOPSCOPE_* variable, default and meaning in one table, so that
// start(), the environment, the README and the warnings for bad values never drift apart.
import type { Mode } from '../shared/protocol.js';
import { REDACTED, redactUrl } from '../shared/redact.js';
import { terminalSafeShort } from '../shared/terminal-text.js';

export interface AgentOptions {
  /** Path of an NDJSON recording to write. */
  record?: string | null;
  /** Dashboard ingest URL, e.g. ws://127.0.0.1:7777. */
  dashboard?: string | null;
  /** Token the dashboard requires when it listens beyond loopback. */
  token?: string | null;
  /** lite: no creation sites; default: creation sites from wrapped APIs (no async_hooks); deep: an async_hooks hook, promises and callback timing. */
  mode?: Mode;
  /** How often loop, resources and sync I/O summaries are recorded (ms). */
  intervalMs?: number;
  /** A main thread that does not get back to the loop for this long is a block (ms). */
  blockThresholdMs?: number;
  /** Period of the main thread's heartbeat that the worker watches (ms). */
  heartbeatMs?: number;
  /** Creation stacks captured per second at most; past it resources are still counted. */
  stackBudget?: number;
  /** Long-lived resources whose creation site is kept at most (memory bound). */
  maxTracked?: number;
  /** How many of the oldest live resources each resources message lists. */
  oldest?: number;
  /** Wrap the *Sync APIs of fs, child_process, zlib and crypto. */
  syncio?: boolean;
  /** Count frames under node_modules as the app's code when choosing a creation site. */
  nodeModules?: boolean;
  /** Send each listed resource's full creation stack, not only its site. */
  resourceStacks?: boolean;
  /** Name shown for this process; defaults to package.json name or the script's basename. */
  app?: string | null;
  /** A shutdown still running this long after it began is reported as a hang (ms). */
  hangAfterMs?: number;
  /** Print the hang report on stderr too. */
  hangStderr?: boolean;
  /** How long the exiting main thread waits for the worker to flush the final records (ms). */
  flushTimeoutMs?: number;
  /** Messages the worker holds while the dashboard is unreachable; older ones are dropped past it. */
  queueMax?: number;
  /** Export spans and metrics with OpenTelemetry (standard OTEL_* variables configure it). */
  otel?: boolean;
  /** Follow SIGTERM, SIGINT, SIGHUP, exit and crashes (turn off to record only the steady state). */
  shutdown?: boolean;
}

export type AgentConfig = Required<AgentOptions>;

type Kind = 'string' | 'int' | 'bool' | 'mode';

/**
 * Node's timers take a delay up to 2^31-1 ms; past it they print a TimeoutOverflowWarning on the
 * app's stderr and fire after 1 ms. Every duration that becomes a timer (and the block threshold,
 * from which the worker's watchdog derives its sleeps) is bounded by it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

interface OptionSpec {
  key: keyof AgentOptions;
  env: string;
  kind: Kind;
  default: AgentConfig[keyof AgentConfig];
  min?: number;
  /** For int options: the largest value taken; larger ones are refused like any bad value. */
  max?: number;
  doc: string;
}

export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'record', env: 'LOOPSCOPE_RECORD', kind: 'string', default: null, doc: 'Write an NDJSON recording to this path (`%p` is replaced by the pid).' },
  { key: 'dashboard', env: 'LOOPSCOPE_DASHBOARD', kind: 'string', default: null, doc: 'Stream to a dashboard, e.g. `ws://127.0.0.1:7777`.' },
  { key: 'token', env: 'LOOPSCOPE_TOKEN', kind: 'string', default: null, doc: 'Token for a dashboard that listens beyond loopback.' },
  { key: 'mode', env: 'LOOPSCOPE_MODE', kind: 'mode', default: 'default', doc: '`lite` (counts, blocks, shutdown; no creation sites), `default` (adds creation sites of long-lived resources, from wrapped APIs, no async_hooks), `deep` (adds an async_hooks hook: every resource type, pending promises, callback timing; costly on await-heavy code).' },
  { key: 'intervalMs', env: 'LOOPSCOPE_INTERVAL_MS', kind: 'int', default: 1000, min: 50, max: MAX_TIMER_MS, doc: 'Period of the loop, resources and sync I/O summaries.' },
  { key: 'blockThresholdMs', env: 'LOOPSCOPE_BLOCK_MS', kind: 'int', default: 100, min: 10, max: MAX_TIMER_MS, doc: 'A main thread away from the loop this long is a block.' },
  { key: 'heartbeatMs', env: 'LOOPSCOPE_HEARTBEAT_MS', kind: 'int', default: 20, min: 2, max: MAX_TIMER_MS, doc: 'Period of the heartbeat the worker watches.' },
  { key: 'stackBudget', env: 'LOOPSCOPE_STACK_BUDGET', kind: 'int', default: 200, min: 0, max: 1_000_000, doc: 'Creation stacks captured per second at most.' },
  { key: 'maxTracked', env: 'LOOPSCOPE_MAX_TRACKED', kind: 'int', default: 5000, min: 10, max: 1_000_000, doc: 'Long-lived resources tracked at most (bounds memory).' },
  { key: 'oldest', env: 'LOOPSCOPE_OLDEST', kind: 'int', default: 20, min: 1, max: 1_000, doc: 'Oldest live resources listed in each resources summary.' },
  { key: 'syncio', env: 'LOOPSCOPE_SYNCIO', kind: 'bool', default: true, doc: 'Record calls to the *Sync APIs of fs, child_process, zlib and crypto.' },
  { key: 'nodeModules', env: 'LOOPSCOPE_NODE_MODULES', kind: 'bool', default: false, doc: 'Let a frame under node_modules be a creation site.' },
  { key: 'resourceStacks', env: 'LOOPSCOPE_RESOURCE_STACKS', kind: 'bool', default: false, doc: 'Send the full creation stack (up to 12 frames) of each listed resource, not only its site.' },
  { key: 'app', env: 'LOOPSCOPE_APP', kind: 'string', default: null, doc: 'Name of this process on the dashboard (default: package.json name or script name).' },
  { key: 'hangAfterMs', env: 'LOOPSCOPE_HANG_MS', kind: 'int', default: 5000, min: 100, max: MAX_TIMER_MS, doc: 'A shutdown still running this long is reported as a hang.' },
  { key: 'hangStderr', env: 'LOOPSCOPE_HANG_STDERR', kind: 'bool', default: false, doc: 'Also print the hang report on stderr.' },
  { key: 'flushTimeoutMs', env: 'LOOPSCOPE_FLUSH_TIMEOUT_MS', kind: 'int', default: 1000, min: 0, max: MAX_TIMER_MS, doc: 'Longest wait at exit for the final records to be written.' },
  { key: 'queueMax', env: 'LOOPSCOPE_QUEUE_MAX', kind: 'int', default: 10000, min: 10, max: 10_000_000, doc: 'Messages held while the dashboard is away; the oldest are dropped (and counted) past it.' },
  { key: 'otel', env: 'LOOPSCOPE_OTEL', kind: 'bool', default: false, doc: 'Export spans and metrics with OpenTelemetry (configured by the standard OTEL_* variables).' },
  { key: 'shutdown', env: 'LOOPSCOPE_SHUTDOWN', kind: 'bool', default: true, doc: 'Follow signals, exit and crashes and record the shutdown timeline.' },
];

/** LOOPSCOPE_* variables that are not options of start() but switches of the preload. */
export const PRELOAD_ENV = {
  disable: 'LOOPSCOPE_DISABLE',
} as const;

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);

function coerce(spec: OptionSpec, raw: unknown): { value?: unknown; error?: string } {
  switch (spec.kind) {
    case 'string':
      if (raw === null) return { value: null };
      if (typeof raw === 'string') return { value: raw === '' ? null : raw };
      return { error: 'expected a string' };
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) return { error: 'expected a whole number' };
      if (spec.min !== undefined && n < spec.min) return { error: `expected at least ${spec.min}` };
      if (spec.max !== undefined && n > spec.max) return { error: `expected at most ${spec.max}` };
      return { value: n };
    }
    case 'bool':
      if (typeof raw === 'boolean') return { value: raw };
      if (typeof raw === 'string') {
        const s = raw.trim().toLowerCase();
        if (TRUE.has(s)) return { value: true };
        if (FALSE.has(s)) return { value: false };
      }
      return { error: 'expected 1/0, true/false, yes/no or on/off' };
    case 'mode':
      if (raw === 'lite' || raw === 'default' || raw === 'deep') return { value: raw };
      return { error: 'expected lite, default or deep' };
  }
}

/**
 * A rejected value as the warning shows it: numbers as JavaScript prints them (NaN, Infinity, 1.5,
 * which JSON would turn into null), text quoted, anything else by its JSON or its type; never a
 * throw (a BigInt), never the token, never raw control characters, never a whole megabyte.
 */
function shown(spec: OptionSpec, raw: unknown): string {
  if (spec.key === 'token') return REDACTED;
  let text: string;
  try {
    if (spec.key === 'dashboard' && typeof raw === 'string') text = JSON.stringify(redactUrl(raw));
    else if (typeof raw === 'number') text = String(raw);
    else if (typeof raw === 'bigint') text = `${String(raw)}n`;
    else text = JSON.stringify(raw) ?? typeof raw;
  } catch {
    text = typeof raw;
  }
  return terminalSafeShort(text, 80);
}

export interface ResolvedConfig {
  config: AgentConfig;
  /** One line per rejected value; the default was used instead. */
  warnings: string[];
}

/** Options given to start() win over the environment; any bad value falls back to its default. */
export function resolveConfig(given: AgentOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const warnings: string[] = [];
  // start() is called from JavaScript too: start(null), start('x').
  let options: AgentOptions = given;
  if (options === null || typeof options !== 'object') {
    warnings.push(`start() options must be an object, got ${options === null ? 'null' : typeof options}; ignored`);
    options = {};
  }
  const config = {} as Record<string, unknown>;
  /** Keys whose value came from the caller and was taken (not defaulted after a warning). */
  const taken = new Set<keyof AgentOptions>();
  for (const spec of OPTION_SPECS) {
    config[spec.key] = spec.default;
    const fromOption = options[spec.key];
    const fromEnv = env[spec.env];
    const [raw, source] = fromOption !== undefined ? [fromOption, `option ${spec.key}`] : [fromEnv, spec.env];
    if (raw === undefined) continue;
    const { value, error } = coerce(spec, raw);
    if (error) {
      warnings.push(`${source}=${shown(spec, raw)} ignored (${error}); using ${JSON.stringify(spec.default)}`);
    } else {
      config[spec.key] = value;
      taken.add(spec.key);
    }
  }
  const known = new Set<string>([...OPTION_SPECS.map((s) => s.env), ...Object.values(PRELOAD_ENV), 'LOOPSCOPE_PARENT_RUN', 'LOOPSCOPE_INTERNAL']);
  for (const name of Object.keys(env)) {
    if (name.startsWith('LOOPSCOPE_') && !known.has(name)) warnings.push(`${terminalSafeShort(name, 80)} is not a loopscope setting; ignored`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_SPECS.some((s) => s.key === key)) warnings.push(`option ${terminalSafeShort(key, 80)} is not a loopscope option; ignored`);
  }
  // The watchdog takes a heartbeat older than the threshold for a block: a period that long would
  // make every moment look blocked.
  const threshold = config.blockThresholdMs as number;
  if ((config.heartbeatMs as number) > threshold / 2) {
    const fitted = Math.max(2, Math.floor(threshold / 2));
    // A default that no longer fits a low threshold follows it without a word (and a refused
    // heartbeat has had its warning already).
    if (taken.has('heartbeatMs')) {
      warnings.push(`heartbeat ${String(config.heartbeatMs)} ms is more than half the block threshold (${threshold} ms); using ${fitted} ms`);
    }
    config.heartbeatMs = fitted;
  }
  return { config: config as unknown as AgentConfig, warnings };
}

/** Values safe to show on the dashboard and in recordings: no token, the dashboard URL redacted. */
export function publicConfig(config: AgentConfig): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const spec of OPTION_SPECS) {
    if (spec.key === 'token') continue;
    out[spec.key] = config[spec.key] as string | number | boolean | null;
  }
  if (typeof out.dashboard === 'string') out.dashboard = redactUrl(out.dashboard);
  return out;
}
