// `npm run bench:idle`: the CPU the agent itself uses, measured where nothing else hides it: an
// app that does nothing for a few seconds. Every wake-up of a thread (the heartbeat, the delay
// histogram's timer, the worker's watchdog, the interval sampling) costs CPU on its own; a
// saturated HTTP benchmark cannot resolve it from its noise. No agent, lite, default, deep and
// default with OTel export, interleaved, medians of per-process CPU ms per second of wall time.
//   node bench/idle-cpu.js [--runs N] [--seconds S]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.js';

const PRELOAD = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'agent', 'preload.js');
const { values: flags } = parseArgs({ options: { runs: { type: 'string' }, seconds: { type: 'string' } } });
const runs = Number(flags.runs ?? 5);
const seconds = Number(flags.seconds ?? 5);
if (!Number.isInteger(runs) || runs < 1 || !(seconds > 0)) {
  process.stderr.write('node bench/idle-cpu.js [--runs N>=1] [--seconds S>0]\n');
  process.exit(2);
}

const collector = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end());
});
await new Promise((r) => collector.listen(0, '127.0.0.1', r));
const scratch = mkdtempSync(join(tmpdir(), 'loopscope-idle-'));

const VARIANTS = {
  'no agent': null,
  lite: { LOOPSCOPE_MODE: 'lite' },
  default: { LOOPSCOPE_MODE: 'default' },
  deep: { LOOPSCOPE_MODE: 'deep' },
  'default + otel': { LOOPSCOPE_MODE: 'default', LOOPSCOPE_OTEL: '1', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}` },
};

// CPU of the whole process (every thread), measured once start-up is over (2 s in: the worker
// has loaded the OTel SDK by then) to the end of the wait; start-up is bench/otel-startup.js's part.
const APP = `setTimeout(() => {
  const t0 = performance.now(), c0 = process.cpuUsage();
  setTimeout(() => { const c = process.cpuUsage(c0); console.log(JSON.stringify({ cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0 })); }, ${seconds * 1000});
}, 2000);`;

function once(name, extra) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('LOOPSCOPE_') || k.startsWith('OTEL_')) delete env[k];
  delete env.NODE_OPTIONS;
  const args = ['-e', APP];
  if (extra) {
    Object.assign(env, extra, { LOOPSCOPE_RECORD: join(scratch, `${name.replace(/\W+/g, '-')}.ndjson`) });
    args.unshift('-r', PRELOAD);
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.on('close', (code) => {
      try {
        const r = JSON.parse(out);
        resolvePromise((r.cpuMs / r.wallMs) * 1000);
      } catch {
        reject(new Error(`${name}: exited ${code} without a result`));
      }
    });
  });
}

const samples = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
const names = Object.keys(VARIANTS);
for (let round = 0; round < runs; round++) {
  const order = names.map((_, i) => names[(i + round) % names.length]);
  for (const name of round % 2 ? order.reverse() : order) samples[name].push(await once(name, VARIANTS[name]));
}
collector.close();
rmSync(scratch, { recursive: true, force: true });

const base = median(samples['no agent']);
console.log(`loopscope idle CPU: ${runs} interleaved runs of ${seconds} s each, node ${process.version}; medians`);
console.log('variant           CPU ms per s   added   share of one core');
for (const name of names) {
  const m = median(samples[name]);
  const added = name === 'no agent' ? '' : `+${(m - base).toFixed(1)}`;
  console.log(`${name.padEnd(16)} ${m.toFixed(1).padStart(14)} ${added.padStart(7)} ${`${((m - base) / 10).toFixed(2)} %`.padStart(19)}`);
}
