// The server under load: `node [-r agent] bench/http-server.js sync|async`. Prints its port as
// one JSON line on stdout, answers GET /__stats (alias /__rss) with its resident memory and CPU time so far
// (the whole process: the agent's worker thread counts).
import { createServer } from 'node:http';

const kind = process.argv[2] === 'async' ? 'async' : 'sync';
const BODY = 'hello from the loopscope benchmark\n';

// Three awaits of real async functions: what a handler that calls a cache, a DB driver and a
// serializer looks like to the promise machinery.
async function lookup(n) {
  return n + 1;
}
async function load(n) {
  return (await lookup(n)) * 2;
}
async function render(n) {
  return `${BODY}${n & 0}`.slice(0, BODY.length);
}

function stats() {
  const cpu = process.cpuUsage();
  return JSON.stringify({ rss: process.memoryUsage.rss(), cpuMicros: cpu.user + cpu.system });
}

let n = 0;
const server = createServer(
  kind === 'sync'
    ? (req, res) => {
        if (req.url === '/__stats' || req.url === '/__rss') return void res.end(stats());
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
        res.end(BODY);
      }
    : async (req, res) => {
        if (req.url === '/__stats' || req.url === '/__rss') return void res.end(stats());
        const v = await load(n++);
        const body = await render(v);
        await Promise.resolve();
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        res.end(body);
      },
);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
