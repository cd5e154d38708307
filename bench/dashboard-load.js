// Dashboard load: N simulated agents (real ws clients speaking the real protocol: hello, then
// loop + resources every second, now and then a block) stream into one dashboard running in its
// own process, while a browser-equivalent /live subscriber measures how long each loop message
// takes from the agent's send to its arrival on /live. N steps up; the answer is the largest N
// whose p99 stays under 1 s with nothing lost, with the dashboard's CPU and RSS at that step.
//
//   npm run build && node bench/dashboard-load.js [--steps 50,100,200,500,800,1000,...] [--measure 10] [--json]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '50,100,200,500,800,1000,1500,2000,3000,4000,5000' },
    warmup: { type: 'string', default: '3' },
    measure: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const STEPS = values.steps.split(',').map(Number);
const WARMUP_S = Number(values.warmup);
const MEASURE_S = Number(values.measure);
const TARGET_P99_MS = 1000;
const CLK_TCK = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startDashboard(data) {
  const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'dashboard-server.mjs'), '--port', '0', '--data', data], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const m = /READY (\{.*\})\n/.exec(buf);
      if (m) resolve({ child, port: JSON.parse(m[1]).port });
    });
    child.once('exit', (code) => reject(new Error(`dashboard exited ${code}`)));
  });
}

/** CPU seconds (user+system) and RSS bytes of a process, from /proc. */
function procStats(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  return { cpu, rss: rssKb * 1024 };
}

/** Close codes agents saw: a healthy run has none. */
const closes = new Map();
const frame = (name, file, line) => ({ functionName: name, file, line, column: 7 });

class SimAgent {
  constructor(port, index) {
    this.run = `bench-${process.pid}-${index}`;
    this.index = index;
    this.seq = 0;
    this.acked = -1;
    this.blockId = 0;
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/ingest`, { perMessageDeflate: false });
    this.ws.on('message', (d) => {
      const r = JSON.parse(String(d));
      if (r.kind === 'ack') this.acked = r.seq;
    });
    this.ws.on('error', () => undefined);
    this.ws.on('close', (code, reason) => {
      closes.set(`${code} ${reason}`, (closes.get(`${code} ${reason}`) ?? 0) + 1);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
  }

  send(messages) {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ seq: this.seq++, messages }));
  }

  hello() {
    const now = Date.now();
    this.send([
      {
        type: 'hello', run: this.run, ts: now, protocol: 1, agentVersion: '0.1.0', app: `bench-app-${this.index % 25}`,
        pid: 10_000 + this.index, ppid: 1, parentRun: null, hostname: 'bench', argv: ['node', 'server.js'], execArgv: [],
        nodeVersion: process.version, platform: process.platform, arch: process.arch, startedAt: now, mode: 'default',
        config: { intervalMs: 1000, blockThresholdMs: 100 },
      },
    ]);
  }

  tick() {
    const now = Date.now();
    const p99 = 1 + Math.random() * 20;
    const messages = [
      {
        type: 'loop', run: this.run, ts: now, intervalMs: 1000,
        delay: { minMs: 0.01, meanMs: p99 / 4, p50Ms: p99 / 5, p90Ms: p99 / 2, p99Ms: p99, maxMs: p99 * 1.5 },
        utilization: Math.random() * 0.5,
      },
      {
        type: 'resources', run: this.run, ts: now,
        byType: { TCPServerWrap: 1, TCPSocketWrap: 3 + (this.seq % 5), Timeout: 4, FSReqCallback: this.seq % 3 },
        created: { TCPWRAP: 3, Timeout: 2, HTTPINCOMINGMESSAGE: 40 },
        oldest: Array.from({ length: 5 }, (_, i) => ({
          id: 100 + i, type: i === 0 ? 'TCPServerWrap' : 'Timeout', ageMs: 60_000 - i * 1000, keepsAlive: true,
          createdAt: frame('startServer', '/srv/app/server.js', 10 + i), details: i === 0 ? { port: 8080 } : { delayMs: 5000 },
        })),
        tracked: 12,
      },
    ];
    if (Math.random() < 1 / 30) {
      messages.push({
        type: 'block', run: this.run, ts: now, id: this.blockId++, startedAt: now - 180, durationMs: 180, ended: true,
        native: false, stackKind: 'live',
        stack: Array.from({ length: 10 }, (_, i) => frame(`fn${i}`, '/srv/app/handler.js', 20 + i)),
        resource: { type: 'HTTPINCOMINGMESSAGE', createdAt: frame('handle', '/srv/app/server.js', 44) },
        syncCall: null, captureMs: 1.2,
      });
    }
    this.send(messages);
  }
}

async function main() {
  const data = mkdtempSync(join(tmpdir(), 'loopscope-bench-dash-'));
  const { child, port } = await startDashboard(data);
  const delays = [];
  let measuring = false;
  let loopsSeen = 0;
  const live = new WebSocket(`ws://127.0.0.1:${port}/live`, { perMessageDeflate: false });
  live.on('message', (d) => {
    const event = JSON.parse(String(d));
    if (event.kind !== 'message' || event.message.type !== 'loop') return;
    if (!measuring) return;
    loopsSeen++;
    delays.push(Date.now() - event.message.ts);
  });
  await new Promise((r) => live.once('open', r));

  const agents = [];
  let ticker = null;
  const results = [];
  let best = null;
  for (const n of STEPS) {
    while (agents.length < n) {
      const batch = [];
      for (let i = 0; i < 50 && agents.length < n; i++) {
        const a = new SimAgent(port, agents.length);
        agents.push(a);
        batch.push(a.opened.then(() => a.hello()));
      }
      await Promise.all(batch);
    }
    // Each agent ticks once a second at its own phase, like independent processes.
    if (ticker) clearInterval(ticker);
    const slots = 20;
    let slot = 0;
    ticker = setInterval(() => {
      for (let i = slot; i < agents.length; i += slots) agents[i].tick();
      slot = (slot + 1) % slots;
    }, 1000 / slots);
    await sleep(WARMUP_S * 1000);
    delays.length = 0;
    loopsSeen = 0;
    const sentBefore = agents.reduce((s, a) => s + a.seq, 0);
    const before = procStats(child.pid);
    const benchBefore = process.cpuUsage();
    measuring = true;
    await sleep(MEASURE_S * 1000);
    measuring = false;
    const after = procStats(child.pid);
    const benchCpu = process.cpuUsage(benchBefore);
    const framesSent = agents.reduce((s, a) => s + a.seq, 0) - sentBefore;
    delays.sort((a, b) => a - b);
    const q = (p) => delays[Math.min(delays.length - 1, Math.floor(p * delays.length))] ?? NaN;
    const expected = framesSent; // one loop per tick frame
    const row = {
      agents: n,
      loopsExpected: expected,
      loopsSeen,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      maxMs: delays[delays.length - 1] ?? NaN,
      dashboardCpuPct: Math.round(((after.cpu - before.cpu) / MEASURE_S) * 1000) / 10,
      dashboardRssMiB: Math.round(after.rss / 1048576),
      loadGenCpuPct: Math.round(((benchCpu.user + benchCpu.system) / 1e6 / MEASURE_S) * 1000) / 10,
    };
    if (closes.size > 0) row.agentCloses = Object.fromEntries(closes);
    results.push(row);
    if (!values.json) {
      console.log(
        `N=${String(n).padStart(4)}  /live delay p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms  max ${row.maxMs} ms  ` +
          `loops ${loopsSeen}/${expected}  dashboard CPU ${row.dashboardCpuPct}% RSS ${row.dashboardRssMiB} MiB  (load generator CPU ${row.loadGenCpuPct}%)${row.agentCloses ? ` closes ${JSON.stringify(row.agentCloses)}` : ''}`,
      );
    }
    const ok = row.p99Ms < TARGET_P99_MS && loopsSeen >= expected * 0.99;
    if (!ok) break;
    best = row;
  }
  if (ticker) clearInterval(ticker);
  for (const a of agents) a.ws.terminate();
  live.terminate();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(data, { recursive: true, force: true });
  const summary = { bestAgents: best?.agents ?? 0, targetP99Ms: TARGET_P99_MS, best, steps: results };
  if (values.json) console.log(JSON.stringify(summary, null, 2));
  else console.log(best ? `largest N with p99 < ${TARGET_P99_MS} ms and no loss: ${best.agents} (target 500)` : 'no step met the target');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
