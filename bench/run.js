// `npm run bench`: throughput with the agent in each mode against the same app without it.
// Variants are interleaved in every round (the order rotates, and reverses every other round)
// and each ratio is the median of per-round ratios, so the drift of a noisy machine hits every
// variant alike.
// Two figures per run: throughput (wall clock, what a user sees) and work per CPU-second of the
// app's process (agent worker included), which other load on a shared machine disturbs far less.
//
//   node bench/run.js [--rounds N] [--duration MS] [--warmup MS] [--connections N]
//                     [--workloads http-sync,http-async,await] [--modes lite,default,deep,otel]
//                     [--pin] [--json]
//   --pin: the app on CPU 0 (with its agent worker), the load on CPU 1 (taskset)
//   env: BENCH_ROUNDS, BENCH_DURATION_MS, BENCH_WARMUP_MS, BENCH_CONNECTIONS
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, pairedRatio } from './lib/stats.js';
import { getJson, spawnNode, waitExit } from './lib/proc.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const PRELOAD = resolve(BENCH, '..', 'dist', 'agent', 'preload.js');
const MiB = 1024 * 1024;

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    workloads: { type: 'string' },
    modes: { type: 'string' },
    pin: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write('node bench/run.js [--rounds N] [--duration MS] [--warmup MS] [--connections N] [--workloads http-sync,http-async,await] [--modes lite,default,deep,otel] [--pin] [--json]\n');
  process.exit(0);
}

function intOption(flag, envName, fallback, min) {
  const raw = flag ?? process.env[envName];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: ${envName} / flag value ${JSON.stringify(raw)} is not a whole number >= ${min}\n`);
    process.exit(2);
  }
  return n;
}

const config = {
  rounds: intOption(flags.rounds, 'BENCH_ROUNDS', 5, 1),
  durationMs: intOption(flags.duration, 'BENCH_DURATION_MS', 3000, 200),
  warmupMs: intOption(flags.warmup, 'BENCH_WARMUP_MS', 1000, 0),
  connections: intOption(flags.connections, 'BENCH_CONNECTIONS', 32, 1),
  workloads: (flags.workloads ?? 'http-sync,http-async,await').split(',').map((s) => s.trim()),
  node: process.version,
  // The app on CPU 0 (its agent worker too), the load on CPU 1: far less drift between rounds.
  pin: flags.pin === true,
};
const WORKLOADS = {
  'http-sync': { label: 'HTTP, sync handler', unit: 'req/s', run: (env, pre) => httpOnce('sync', env, pre) },
  'http-async': { label: 'HTTP, 3 awaits', unit: 'req/s', run: (env, pre) => httpOnce('async', env, pre) },
  await: { label: 'tight await loop', unit: 'ops/s', run: (env, pre) => awaitOnce(env, pre) },
};
for (const w of config.workloads) {
  if (!WORKLOADS[w]) {
    process.stderr.write(`bench: unknown workload ${w} (known: ${Object.keys(WORKLOADS).join(', ')})\n`);
    process.exit(2);
  }
}
if (!existsSync(PRELOAD)) {
  process.stderr.write(`bench: ${PRELOAD} is missing: run npm run build first\n`);
  process.exit(1);
}

// otel: the default mode with OpenTelemetry export on, to a collector stand-in in this process
// that accepts and drops, metrics pushed every second (the worst case a user would pick).
const ALL_MODES = ['lite', 'default', 'deep', 'otel'];
// --modes narrows a run (more rounds in the same time for the rows in question); the baseline is always measured.
const MODES = (flags.modes ?? ALL_MODES.join(',')).split(',').map((s) => s.trim());
for (const m of MODES) {
  if (!ALL_MODES.includes(m)) {
    process.stderr.write(`bench: unknown mode ${m} (known: ${ALL_MODES.join(', ')})\n`);
    process.exit(2);
  }
}
const VARIANTS = ['baseline', ...ALL_MODES.filter((m) => MODES.includes(m))];
/** The export's target: within 2 points of the default mode's ratio in the same run. */
const OTEL_MAX_DROP = 0.02;
/** The brief's targets: minimum throughput ratio per workload and mode. */
const TARGETS = {
  'http-sync': { lite: 0.99, default: 0.97 },
  'http-async': { lite: 0.99, default: 0.95 },
  await: { lite: 0.97 },
};
const RSS_BUDGET_MIB = 30;

const scratch = mkdtempSync(join(tmpdir(), 'loopscope-bench-'));

const collector = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end());
});
await new Promise((r) => collector.listen(0, '127.0.0.1', r));
const collectorUrl = `http://127.0.0.1:${collector.address().port}`;

/** A clean environment: no agent settings leak in from the shell that runs the benchmark. */
function envFor(variant, tag) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('LOOPSCOPE_') || k.startsWith('OTEL_')) delete env[k];
  delete env.NODE_OPTIONS;
  if (variant === 'baseline') return { env, preload: [] };
  env.LOOPSCOPE_MODE = variant === 'otel' ? 'default' : variant;
  if (variant === 'otel') {
    env.LOOPSCOPE_OTEL = '1';
    env.OTEL_EXPORTER_OTLP_ENDPOINT = collectorUrl;
    env.OTEL_METRIC_EXPORT_INTERVAL = '1000';
  }
  // Recording to a file: the cost of writing it is part of the agent's cost.
  env.LOOPSCOPE_RECORD = join(scratch, `${tag}-${variant}.ndjson`);
  return { env, preload: ['-r', PRELOAD] };
}

async function httpOnce(kind, env, preload) {
  const server = spawnNode([...preload, join(BENCH, 'http-server.js'), kind], env, config.pin ? '0' : null);
  try {
    const { port } = await server.firstLine;
    const load = spawnNode(
      [join(BENCH, 'http-load.js'), String(port), String(config.connections), String(config.warmupMs), String(config.durationMs)],
      { ...process.env, NODE_OPTIONS: '' },
      config.pin ? '1' : null,
    );
    const before = await getJson(port, '/__stats');
    const result = await load.firstLine;
    const after = await getJson(port, '/__stats');
    if (result.errors > 0) process.stderr.write(`bench: ${result.errors} errors during a ${kind} run\n`);
    const cpuSec = (after.cpuMicros - before.cpuMicros) / 1e6;
    return { value: result.rps, perCpu: cpuSec > 0 ? result.total / cpuSec : NaN, rss: after.rss };
  } finally {
    server.child.kill('SIGTERM');
    await waitExit(server.child);
  }
}

async function awaitOnce(env, preload) {
  const p = spawnNode([...preload, join(BENCH, 'await-loop.js'), String(config.warmupMs), String(config.durationMs)], env);
  const result = await p.firstLine;
  await waitExit(p.child);
  return { value: result.opsPerSec, perCpu: result.opsPerCpuSec, rss: result.rss };
}

const samples = {};
for (const w of config.workloads) {
  samples[w] = {};
  for (const v of VARIANTS) samples[w][v] = { values: [], perCpu: [], rss: [] };
}

const started = Date.now();
for (let round = 0; round < config.rounds; round++) {
  // Rotated each round, and reversed every other round: each variant follows a different one in
  // turn, so what a run leaves behind (sockets in TIME_WAIT, page cache, CPU state) does not always
  // fall on the same successor. Plain rotation kept lite right after the fastest run, the baseline.
  const rotated = VARIANTS.map((_, i) => VARIANTS[(i + Math.floor(round / 2)) % VARIANTS.length]);
  const order = round % 2 === 0 ? rotated : rotated.reverse();
  for (const w of config.workloads) {
    for (const v of order) {
      const { env, preload } = envFor(v, `${w}-${round}`);
      const { value, perCpu, rss } = await WORKLOADS[w].run(env, preload);
      samples[w][v].values.push(value);
      samples[w][v].perCpu.push(perCpu);
      samples[w][v].rss.push(rss);
      if (!flags.json) process.stderr.write(`round ${round + 1}/${config.rounds} ${w} ${v}: ${Math.round(value)} ${WORKLOADS[w].unit}\n`);
    }
  }
}

const results = [];
for (const w of config.workloads) {
  const base = samples[w].baseline;
  const baseRss = median(base.rss) / MiB;
  for (const v of VARIANTS) {
    const s = samples[w][v];
    const ratio = v === 'baseline' ? 1 : pairedRatio(s.values, base.values);
    const cpuRatio = v === 'baseline' ? 1 : pairedRatio(s.perCpu, base.perCpu);
    const rssMiB = median(s.rss) / MiB;
    const target = TARGETS[w][v] ?? null;
    const rssDeltaMiB = v === 'baseline' ? 0 : rssMiB - baseRss;
    results.push({
      workload: w,
      variant: v,
      unit: WORKLOADS[w].unit,
      median: median(s.values),
      ratio,
      perCpuMedian: median(s.perCpu),
      cpuRatio,
      target,
      met: target === null ? null : ratio >= target,
      rssMiB,
      rssDeltaMiB,
      rssMet: v === 'baseline' ? null : rssDeltaMiB <= RSS_BUDGET_MIB,
      samples: s.values,
      perCpuSamples: s.perCpu,
    });
  }
}
for (const r of results) {
  if (r.variant !== 'otel') continue;
  const def = results.find((x) => x.workload === r.workload && x.variant === 'default');
  if (!def) continue;
  r.target = Math.round((def.ratio - OTEL_MAX_DROP) * 1000) / 1000;
  r.met = r.ratio >= r.target;
}
rmSync(scratch, { recursive: true, force: true });
collector.close();

if (flags.json) {
  process.stdout.write(`${JSON.stringify({ config, elapsedMs: Date.now() - started, results }, null, 2)}\n`);
} else {
  const lines = [
    `loopscope bench: ${config.rounds} rounds x ${config.durationMs} ms (+${config.warmupMs} ms warm-up), ${config.connections} connections, node ${config.node}`,
    '',
    `${'workload'.padEnd(20)}${'mode'.padEnd(9)}${'median'.padStart(15)}${'ratio'.padStart(7)}${'perCPU'.padStart(7)}${'target'.padStart(7)}${'RSS MiB'.padStart(8)}${'dRSS'.padStart(6)}`,
  ];
  for (const r of results) {
    const verdict = r.target === null ? '' : r.met ? ' ok' : ' MISS';
    lines.push(
      `${(r.variant === 'baseline' ? WORKLOADS[r.workload].label : '').padEnd(20)}${r.variant.padEnd(9)}` +
        `${`${Math.round(r.median)} ${r.unit}`.padStart(15)}${r.ratio.toFixed(3).padStart(7)}${r.cpuRatio.toFixed(3).padStart(7)}` +
        `${(r.target === null ? '-' : `>=${r.target}`).padStart(7)}${r.rssMiB.toFixed(1).padStart(8)}` +
        `${(r.variant === 'baseline' ? '-' : `${r.rssDeltaMiB >= 0 ? '+' : ''}${r.rssDeltaMiB.toFixed(1)}`).padStart(6)}${verdict}${r.rssMet === false ? ' RSS-MISS' : ''}`,
    );
  }
  lines.push(
    '',
    'ratio: median over rounds of (mode / baseline of the same round), throughput (targets apply to it)',
    `otel: default mode with OpenTelemetry export on (metrics every 1 s); target: within ${OTEL_MAX_DROP * 100} points of default`,
    'perCPU: the same for work per CPU-second of the app process (agent worker included): steadier on a busy machine',
    `RSS budget +${RSS_BUDGET_MIB} MiB; ${Math.round((Date.now() - started) / 1000)} s`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}
