// `npm run bench:capture`: how many blocks carry the live stack of the code that blocked, on a
// quiet machine and on one oversubscribed by busy processes (4 on this 2-core VM by default).
// An app with the agent preloaded (recording to a file) runs BLOCKS busy loops of BLOCK_MS in a
// named function, GAP_MS apart; the recording is then matched against what the app saw, block by
// block (by time, never by position). Per run: blocks detected / performed, blocks whose final
// record has a live stack naming the function, and the latency from the block's start to the first
// record carrying that stack (p50 / p95 / max). The target: >= 99 % live with the busy processes.
//
//   node bench/capture-rate.js [--runs N] [--blocks K] [--busy B] [--block-ms MS] [--gap-ms MS]
//                              [--no-quiet] [--preload FILE] [--json]
// --preload: another build's dist/agent/preload.js, to compare builds on the same machine.
// The busy processes are killed at the end whatever happens (and die by themselves if this
// process is killed outright).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.js';
import { spawnNode, waitExit } from './lib/proc.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const DEFAULT_PRELOAD = resolve(BENCH, '..', 'dist', 'agent', 'preload.js');
const APP = join(BENCH, 'capture-app.js');
const FUNCTION = 'busyBlock';
const TARGET = 0.99;

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string' },
    blocks: { type: 'string' },
    busy: { type: 'string' },
    'block-ms': { type: 'string' },
    'gap-ms': { type: 'string' },
    'no-quiet': { type: 'boolean', default: false },
    preload: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
const USAGE = 'node bench/capture-rate.js [--runs N] [--blocks K] [--busy B] [--block-ms MS] [--gap-ms MS] [--no-quiet] [--preload FILE] [--json]\n';
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
function intFlag(name, fallback, min) {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: --${name} ${JSON.stringify(raw)} is not a whole number >= ${min}\n${USAGE}`);
    process.exit(2);
  }
  return n;
}
const config = {
  runs: intFlag('runs', 3, 1),
  blocks: intFlag('blocks', 100, 1),
  busy: intFlag('busy', 2 * cpus().length, 0),
  blockMs: intFlag('block-ms', 300, 1),
  gapMs: intFlag('gap-ms', 150, 0),
  quiet: !flags['no-quiet'],
  cores: cpus().length,
  preload: flags.preload ? resolve(flags.preload) : null,
  node: process.version,
};
const PRELOAD = resolve(flags.preload ?? DEFAULT_PRELOAD);
if (!existsSync(PRELOAD)) {
  process.stderr.write(`bench: ${PRELOAD} is missing: run npm run build first\n`);
  process.exit(1);
}

// Busy processes: a plain spin, checking now and then that this process is still there, so that
// not even a SIGKILL of the benchmark leaves them spinning.
const SPIN = `const p = ${process.pid}; for (let i = 1; ; i++) if (i % 5e7 === 0) { try { process.kill(p, 0); } catch { process.exit(0); } }`;
const busy = new Set();
function startBusy(n) {
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, ['-e', SPIN], { stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } });
    busy.add(child);
    child.once('exit', () => busy.delete(child));
  }
}
async function stopBusy() {
  const children = [...busy];
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map(waitExit));
}
process.once('exit', () => {
  for (const child of busy) child.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    for (const child of busy) child.kill('SIGKILL');
    process.kill(process.pid, sig);
  });
}

const scratch = mkdtempSync(join(tmpdir(), 'loopscope-capture-'));

function cleanEnv(extra) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('LOOPSCOPE_') || k.startsWith('OTEL_')) delete env[k];
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

function readBlocks(path) {
  const out = [];
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const m = JSON.parse(line);
      if (m && m.type === 'block') out.push(m);
    } catch {
      // a line cut off at the end
    }
  }
  return out;
}

function percentile(values, p) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)];
}

const names = (b) => b.stack.some((f) => f.functionName === FUNCTION || f.functionName.endsWith(`.${FUNCTION}`));

async function once(tag) {
  const record = join(scratch, `${tag}.ndjson`);
  const env = cleanEnv({ LOOPSCOPE_RECORD: record, BLOCKS: String(config.blocks), BLOCK_MS: String(config.blockMs), GAP_MS: String(config.gapMs) });
  const app = spawnNode(['-r', PRELOAD, APP], env);
  const { blocks: performed } = await app.firstLine;
  await waitExit(app.child);
  const recorded = readBlocks(record);
  const byId = new Map();
  for (const b of recorded) {
    if (!byId.has(b.id)) byId.set(b.id, []);
    byId.get(b.id).push(b);
  }
  let detected = 0;
  let live = 0;
  const latencies = [];
  const misses = { undetected: 0, none: 0, native: 0, otherFunction: 0 };
  const overlap = (b, from, ms) => Math.min(from + ms, b.startedAt + b.durationMs) - Math.max(from, b.startedAt);
  for (const [from, ms] of performed) {
    // The recorded block that covers most of it: a stall of a starved main thread just before
    // or after it can be a block of its own, overlapping a little.
    let best = null;
    let bestOverlap = 0;
    for (const msgs of byId.values()) {
      const o = Math.max(...msgs.map((b) => overlap(b, from, ms)));
      if (o > bestOverlap) {
        best = msgs;
        bestOverlap = o;
      }
    }
    if (!best) {
      misses.undetected++;
      continue;
    }
    detected++;
    const msgs = best;
    const final = msgs.filter((b) => b.ended).at(-1) ?? msgs.at(-1);
    if (final.stackKind === 'live' && names(final)) {
      live++;
      const first = msgs.find((b) => b.stackKind === 'live' && names(b));
      latencies.push(first.ts - from);
    } else if (final.stackKind === 'live') misses.otherFunction++;
    else if (final.native) misses.native++;
    else misses.none++;
  }
  return {
    performed: performed.length,
    detected,
    live,
    rate: live / performed.length,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: percentile(latencies, 100) },
    misses,
  };
}

const results = { quiet: [], loaded: [] };
const started = Date.now();
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
function describe(kind, i, r) {
  return (
    `${kind.padEnd(7)} run ${i + 1}/${config.runs}: detected ${r.detected}/${r.performed}, live ${r.live}/${r.performed} = ${(100 * r.rate).toFixed(1)} %` +
    `, latency p50 ${fmt(r.latencyMs.p50)} p95 ${fmt(r.latencyMs.p95)} max ${fmt(r.latencyMs.max)} ms` +
    `, misses ${JSON.stringify(r.misses)}`
  );
}
try {
  for (let i = 0; i < config.runs; i++) {
    if (config.quiet) {
      const r = await once(`quiet-${i}`);
      results.quiet.push(r);
      if (!flags.json) process.stderr.write(`${describe('quiet', i, r)}\n`);
    }
    startBusy(config.busy);
    try {
      // the scheduler spreads the spinners before the app starts
      await new Promise((r) => setTimeout(r, 200));
      const r = await once(`loaded-${i}`);
      results.loaded.push(r);
      if (!flags.json) process.stderr.write(`${describe('loaded', i, r)}\n`);
    } finally {
      await stopBusy();
    }
  }
} finally {
  await stopBusy();
  rmSync(scratch, { recursive: true, force: true });
}

const summary = {};
for (const kind of ['quiet', 'loaded']) {
  const rs = results[kind];
  if (rs.length === 0) continue;
  summary[kind] = {
    rates: rs.map((r) => r.rate),
    medianRate: median(rs.map((r) => r.rate)),
    medianLatencyP50: median(rs.map((r) => r.latencyMs.p50)),
    medianLatencyP95: median(rs.map((r) => r.latencyMs.p95)),
    maxLatency: Math.max(...rs.map((r) => r.latencyMs.max).filter(Number.isFinite)),
  };
}
const met = summary.loaded ? summary.loaded.medianRate >= TARGET : null;

if (flags.json) {
  process.stdout.write(`${JSON.stringify({ config, elapsedMs: Date.now() - started, results, summary, target: TARGET, met }, null, 2)}\n`);
} else {
  const lines = [
    `loopscope capture rate: ${config.runs} runs x ${config.blocks} blocks of ${config.blockMs} ms (${config.gapMs} ms apart), ${config.busy} busy processes on ${config.cores} cores when loaded, node ${config.node}`,
  ];
  for (const [kind, s] of Object.entries(summary)) {
    const verdict = kind === 'loaded' ? (met ? ' ok' : ' MISS') : '';
    lines.push(
      `${kind.padEnd(7)} live stack ${(100 * s.medianRate).toFixed(1)} % (median; runs ${s.rates.map((r) => (100 * r).toFixed(1)).join(', ')})` +
        `${kind === 'loaded' ? `, target >= ${TARGET * 100} %${verdict}` : ''}; latency p50 ${fmt(s.medianLatencyP50)} ms, p95 ${fmt(s.medianLatencyP95)} ms, max ${fmt(s.maxLatency)} ms`,
    );
  }
  lines.push(`${Math.round((Date.now() - started) / 1000)} s`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
