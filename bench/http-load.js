// The load generator: `node bench/http-load.js PORT CONNECTIONS WARMUP_MS DURATION_MS`.
// Raw keep-alive sockets, one request in flight per connection, responses counted by parsing
// just enough HTTP (headers end, content-length): cheap enough that the server, not this
// process, is the bottleneck on a 2-core machine. Prints {requests, rps, total, errors} as JSON
// (total: every response, warm-up included).
import { connect } from 'node:net';

const [port, connections, warmupMs, durationMs] = process.argv.slice(2).map(Number);
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`);
const HEADER_END = Buffer.from('\r\n\r\n');

let counting = false;
let done = false;
let requests = 0;
let total = 0;
let errors = 0;
const sockets = [];

function open() {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  let buf = Buffer.alloc(0);
  socket.on('connect', () => socket.write(REQUEST));
  socket.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const end = buf.indexOf(HEADER_END);
      if (end === -1) return;
      const head = buf.toString('latin1', 0, end);
      const m = /content-length:\s*(\d+)/i.exec(head);
      const size = end + 4 + (m ? Number(m[1]) : 0);
      if (buf.length < size) return;
      buf = buf.subarray(size);
      if (!head.startsWith('HTTP/1.1 200')) errors++;
      else {
        total++;
        if (counting) requests++;
      }
      if (done) return;
      socket.write(REQUEST);
    }
  });
  socket.on('error', () => {
    errors++;
  });
  sockets.push(socket);
}

for (let i = 0; i < connections; i++) open();
setTimeout(() => {
  counting = true;
  const started = performance.now();
  setTimeout(() => {
    counting = false;
    done = true;
    const elapsed = (performance.now() - started) / 1000;
    process.stdout.write(`${JSON.stringify({ requests, rps: requests / elapsed, total, errors })}\n`);
    for (const s of sockets) s.destroy();
  }, durationMs);
}, warmupMs);
