// Start-up time and memory of a trivial app: no agent, agent without export, agent with OTel
// export (OTLP/protobuf to a local receiver, and Prometheus). Interleaved runs, medians.
//   node bench/otel-startup.js [runs=9]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PRELOAD = join(ROOT, 'dist', 'agent', 'preload.js');
const runs = Number(process.argv[2] ?? 9);
const dir = mkdtempSync(join(tmpdir(), 'loopscope-otel-bench-'));
// Exits at once: wall time is start-up plus the exit flush. Or idles 2 s, then reports RSS.
writeFileSync(join(dir, 'quick.cjs'), 'console.log(performance.now());\n');
writeFileSync(join(dir, 'idle.cjs'), 'setTimeout(() => { console.log(process.memoryUsage().rss); }, 2000);\n');

const receiver = createServer((req, res) => { req.resume(); req.on('end', () => res.end()); });
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${receiver.address().port}`;
const free = createServer();
await new Promise((r) => free.listen(0, '127.0.0.1', r));
const promPort = String(free.address().port);
await new Promise((r) => free.close(r));

const configs = {
  'no agent': { preload: false, env: {} },
  'agent, export off': { preload: true, env: {} },
  'agent, OTLP export': { preload: true, env: { LOOPSCOPE_OTEL: '1', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } },
  'agent, Prometheus': { preload: true, env: { LOOPSCOPE_OTEL: '1', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: promPort } },
};

function once(script, cfg) {
  return new Promise((resolve) => {
    const args = cfg.preload ? ['-r', PRELOAD, script] : [script];
    const env = { ...process.env, ...cfg.env };
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ ms: performance.now() - t0, out, err, code }));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const wall = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
const first = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
const idleWall = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
const rss = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [name, cfg] of Object.entries(configs)) {
    const q = await once(join(dir, 'quick.cjs'), cfg);
    if (q.err.trim()) process.stderr.write(`[${name}] ${q.err}`);
    wall[name].push(q.ms);
    first[name].push(Number(q.out.trim()));
    const idle = await once(join(dir, 'idle.cjs'), cfg);
    rss[name].push(Number(idle.out.trim()) / 1048576);
    idleWall[name].push(idle.ms - 2000);
  }
}
receiver.close();
console.log(`node ${process.version}, ${runs} interleaved runs each, medians`);
console.log('config                 | app first line at (ms) | start+exit wall (ms) | 2 s app: wall - 2000 (ms) | RSS after 2 s (MiB)');
for (const name of Object.keys(configs)) {
  console.log(
    `${name.padEnd(22)} | ${median(first[name]).toFixed(0).padStart(22)} | ${median(wall[name]).toFixed(0).padStart(20)} | ${median(idleWall[name]).toFixed(0).padStart(25)} | ${median(rss[name]).toFixed(1).padStart(8)}`,
  );
}
