// A tight await loop: `node [-r agent] bench/await-loop.js WARMUP_MS DURATION_MS`. Measures the
// promise-hook floor that async_hooks adds to every await. Prints {ops, opsPerSec, opsPerCpuSec,
// rss} as JSON; CPU time is the whole process's, so the agent's worker thread counts.
const [warmupMs, durationMs] = process.argv.slice(2).map(Number);

async function step(i) {
  return i + 1;
}

async function spin(ms) {
  let ops = 0;
  const until = performance.now() + ms;
  for (;;) {
    for (let i = 0; i < 1024; i++) ops = await step(ops);
    if (performance.now() >= until) return ops;
  }
}

await spin(warmupMs);
const started = performance.now();
const cpu0 = process.cpuUsage();
const ops = await spin(durationMs);
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSec = (cpu.user + cpu.system) / 1e6;
process.stdout.write(`${JSON.stringify({ ops, opsPerSec: ops / elapsed, opsPerCpuSec: ops / cpuSec, rss: process.memoryUsage.rss() })}\n`);
