// The demo app: a small HTTP service that misbehaves on purpose so every view of the dashboard
// has something to show. It calls itself, blocks the loop now and then, reads a file
// synchronously, forgets an interval, and shuts down on a timer with one slow cleanup step.
import { readFileSync } from 'node:fs';
import { createServer, get, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { shutdown } from '../../agent/index.js';

const LIFETIME_MS = Number(process.env.DEMO_LIFETIME_MS ?? 20_000);
const SELF = fileURLToPath(import.meta.url);

/** Deliberately blocks the event loop: the name the blocks view should point at. */
function crunchReportSynchronously(ms: number): number {
  const until = Date.now() + ms;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + 1);
  return x;
}

/** Sync I/O on a request path: shows in the sync I/O table with this function as the caller. */
function loadConfigFromDisk(): number {
  return readFileSync(SELF, 'utf8').length;
}

let served = 0;
const server = createServer((req, res) => {
  served++;
  if (req.url === '/report') {
    // 300-600 ms: long enough that the agent promises a live stack even on a starved machine
    crunchReportSynchronously(300 + Math.round(Math.random() * 300));
    res.end('report\n');
  } else if (req.url === '/config') {
    res.end(`config ${loadConfigFromDisk()}\n`);
  } else {
    setTimeout(() => res.end('ok\n'), 5 + Math.random() * 20);
  }
});

const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

function callSelf(path: string): void {
  const { port } = server.address() as AddressInfo;
  get({ host: '127.0.0.1', port, path, agent: keepAlive }, (res) => res.resume()).on('error', () => undefined);
}

/** The forgotten handle: a poller nobody clears, so the loop cannot drain on its own. */
function startMetricsPoller(): void {
  setInterval(() => {
    served += 0;
  }, 1000);
}

server.listen(0, '127.0.0.1', () => {
  const traffic = setInterval(() => callSelf('/'), 100);
  // the first one early, so the blocks view has its entry within seconds of the start
  const firstReport = setTimeout(() => callSelf('/report'), 1_000);
  const reports = setInterval(() => callSelf('/report'), 3_000);
  const configs = setInterval(() => callSelf('/config'), 2_000);
  startMetricsPoller();

  // Steps run last-registered first: stop the traffic, close the server, then the slow flush.
  // The slow one: a queue flush that takes well over a second.
  shutdown.step('flush analytics queue', () => new Promise<void>((resolve) => setTimeout(resolve, 1_500)), { timeoutMs: 3_000 });
  shutdown.step(
    'close http server',
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        keepAlive.destroy();
      }),
    { timeoutMs: 2_000 },
  );
  shutdown.step('stop traffic', () => {
    clearInterval(traffic);
    clearTimeout(firstReport);
    clearInterval(reports);
    clearInterval(configs);
  });
  // exit: false lets the loop drain on its own, which the forgotten poller prevents; the overall
  // deadline then forces the exit and the timeline shows what was still open.
  shutdown.onSignals({ timeoutMs: 4_000, exit: false });
  setTimeout(() => void shutdown.begin('demo: scheduled restart'), LIFETIME_MS).unref();
  process.stdout.write(`demo app ${process.pid} listening on ${(server.address() as AddressInfo).port}\n`);
});
