// What the agent adds to a clean shutdown. `node bench/shutdown.js [RUNS] [SETTLE_MS]` (defaults
// 9 and 1500). An app with an HTTP server (and one keep-alive client connection) and an interval
// is started; SETTLE_MS after it is ready (by default past the agent's first 1 s sample, as for a
// service that has been up a while; 150 shows a process that ends right after starting, when the
// agent's code and the creation sites are still cold) the parent sends SIGTERM and times until the
// child's exit: with the agent
// (recording to a file, so the final flush really writes) and without it, runs interleaved so
// machine noise hits both alike. Three ways to end: the cleanup API (onSignals + steps), the app's
// own handler calling process.exit(0), and no handler at all (death by the signal; with the agent,
// the re-raise). Prints the medians and the difference per scenario, and a JSON line.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const PRELOAD = resolve(SELF, '..', '..', 'dist', 'agent', 'preload.js');
const SCENARIOS = ['api', 'exit', 'default'];

async function app(scenario) {
  const http = await import('node:http');
  const server = http.createServer((req, res) => res.end('ok'));
  const ticker = setInterval(() => {}, 1000);
  const closeServer = () => new Promise((r) => server.close(r));
  if (scenario === 'api') {
    const { shutdown } = await import('loopscope');
    shutdown.step('http server', () => {
      server.closeAllConnections();
      return closeServer();
    });
    shutdown.step('ticker', () => clearInterval(ticker));
    shutdown.onSignals({ timeoutMs: 5000 });
  } else if (scenario === 'exit') {
    process.on('SIGTERM', () => {
      clearInterval(ticker);
      server.closeAllConnections();
      server.close();
      process.exit(0);
    });
  }
  server.listen(0, '127.0.0.1', () => {
    // One keep-alive connection, so there is a socket to close too.
    const req = http.get({ port: server.address().port, host: '127.0.0.1', agent: new http.Agent({ keepAlive: true }) }, (res) => {
      res.resume();
      res.on('end', () => process.stdout.write('ready\n'));
    });
    req.end();
  });
}

function once(scenario, withAgent, dir, i, settleMs) {
  return new Promise((resolvePromise, reject) => {
    const args = withAgent ? ['--import', PRELOAD, SELF, '--app', scenario] : [SELF, '--app', scenario];
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    if (withAgent) env.LOOPSCOPE_RECORD = join(dir, `${scenario}-${i}.ndjson`);
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let sentAt = 0;
    child.stdout.setEncoding('utf8').on('data', (d) => {
      if (!sentAt && d.includes('ready')) {
        setTimeout(() => {
          sentAt = performance.now();
          child.kill('SIGTERM');
        }, settleMs);
      }
    });
    child.on('exit', (code, signal) => {
      if (!sentAt) return reject(new Error(`${scenario} exited before it was signalled (${code}, ${signal})`));
      const ms = performance.now() - sentAt;
      const expected = scenario === 'default' ? signal === 'SIGTERM' : code === 0;
      if (!expected) return reject(new Error(`${scenario}: unexpected ending ${code} ${signal}`));
      resolvePromise(ms);
    });
  });
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function main() {
  const runs = Math.max(7, Number(process.argv[2]) || 9);
  const settleMs = Number(process.argv[3]) >= 0 && process.argv[3] !== undefined ? Number(process.argv[3]) : 1500;
  const dir = mkdtempSync(join(tmpdir(), 'loopscope-bench-shutdown-'));
  const results = {};
  try {
    for (const scenario of SCENARIOS) {
      const without = [];
      const withAgent = [];
      await once(scenario, false, dir, -1, 0); // warm the disk cache
      for (let i = 0; i < runs; i++) {
        // Alternate which goes first, so neither always runs on a warmer machine.
        if (i % 2 === 0) {
          without.push(await once(scenario, false, dir, i, settleMs));
          withAgent.push(await once(scenario, true, dir, i, settleMs));
        } else {
          withAgent.push(await once(scenario, true, dir, i, settleMs));
          without.push(await once(scenario, false, dir, i, settleMs));
        }
      }
      const m0 = median(without);
      const m1 = median(withAgent);
      // In 'default' the agent alone handles the signal: shutdown.end's durationMs is its own work
      // on the main thread (snapshot, last poll, last sample), before the flush to the worker.
      const own = [];
      for (let i = 0; i < runs; i++) {
        try {
          const end = readFileSync(join(dir, `${scenario}-${i}.ndjson`), 'utf8')
            .split('\n')
            .filter((l) => l.includes('"shutdown.end"'))
            .map((l) => JSON.parse(l))[0];
          if (end) own.push(end.durationMs);
        } catch {
          // a run without a recording is counted in the timing only
        }
      }
      results[scenario] = { runs, withoutMs: round(m0), withMs: round(m1), addedMs: round(m1 - m0), recordedDurationMs: own.length ? round(median(own)) : null };
      console.log(
        `${scenario.padEnd(8)} SIGTERM -> exit (settled ${settleMs} ms), median of ${runs}: without ${m0.toFixed(2)} ms, with agent ${m1.toFixed(2)} ms, added ${(m1 - m0).toFixed(2)} ms` +
          (own.length ? `; recorded shutdown ${median(own).toFixed(2)} ms` : ''),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const worst = Math.max(...Object.values(results).map((r) => r.addedMs));
  console.log(`target: under 10 ms added; worst scenario ${worst.toFixed(2)} ms -> ${worst < 10 ? 'OK' : 'OVER'}`);
  console.log(JSON.stringify({ bench: 'shutdown', settleMs, results }));
}

function round(n) {
  return Math.round(n * 100) / 100;
}

if (process.argv[2] === '--app') await app(process.argv[3]);
else await main();
