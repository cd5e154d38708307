// The dashboard process: the page and REST API over HTTP, /ingest for agents and /live for
// browsers over WebSocket, and the store behind them.
//
// Defaults: port 7777, host 127.0.0.1 (no token needed on loopback; any other host requires one,
// generated and printed when not given), data folder ~/.loopscope/data (one NDJSON recording per
// run, see store.ts for the prune limits: 20 runs per app, 500 in all).
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE, INGEST_PATH, LIVE_PATH, MAX_FRAME_BYTES } from '../../shared/dashboard-api.js';
import { Auth, generateToken, isLoopbackHost, usableToken } from './auth.js';
import { terminalSafeShort } from '../../shared/terminal-text.js';
import { logOncePer } from './log-once.js';
import { IngestEndpoint } from './ingest.js';
import { LiveHub } from './live.js';
import { Store } from './store.js';
import { loadInBackground, describeBounds } from './startup.js';
import { createHttpApp, withJsonFallback } from './http-app.js';

export const DEFAULT_PORT = 7777;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = join(homedir(), '.loopscope', 'data');
/** Dead peers (a machine gone, a cable pulled) are found by ping within about this long. */
const PING_MS = 30_000;

export interface DashboardOptions {
  port?: number;
  host?: string;
  /** Data folder; null keeps runs in memory only. */
  data?: string | null;
  token?: string;
  /** Recordings to open at start (source 'recording'). */
  open?: string[];
  log?: (line: string) => void;
  /** Folder of the built page (default: dist/dashboard-ui of this package). */
  uiDir?: string;
  /** Ping period that finds dead peers (default 30 s). */
  pingMs?: number;
  /** Bound of the data folder in bytes (default 512 MiB). */
  maxDataBytes?: number;
  /** Finished runs older than this are deleted (default 30). */
  maxAgeDays?: number;
  /** Bound of all runs' states in memory, as JSON bytes (default 128 MiB). */
  maxMemoryBytes?: number;
}

export interface RunningDashboard {
  /** For a browser: carries ?token= when a token is required. */
  url: string;
  token: string | null;
  /** For agents: ws://host:port (they append /ingest). */
  ingestUrl: string;
  port: number;
  close(): Promise<void>;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'loopscope') return dir;
      } catch {
        // keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return hostname();
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function startDashboard(options: DashboardOptions = {}): Promise<RunningDashboard> {
  const host = options.host ?? DEFAULT_HOST;
  const log = options.log ?? ((line: string) => console.log(line));
  const loopback = isLoopbackHost(host);
  // An empty or blank token (`--token "$UNSET"`) counts as none: generated beyond loopback.
  const token = usableToken(options.token) ?? (loopback ? null : generateToken());
  const dataDir = options.data === null ? null : resolve(options.data ?? DEFAULT_DATA_DIR);

  const store = new Store({
    dir: dataDir,
    log,
    ...(options.maxDataBytes !== undefined ? { maxDataBytes: options.maxDataBytes } : {}),
    ...(options.maxAgeDays !== undefined ? { maxAgeDays: options.maxAgeDays } : {}),
    ...(options.maxMemoryBytes !== undefined ? { maxMemoryBytes: options.maxMemoryBytes } : {}),
  });

  const hub = new LiveHub(() => store.summaries(), log);
  store.setListener({ message: (m) => hub.message(m), run: (s) => hub.run(s), runs: () => hub.runsChanged() });
  const auth = new Auth(token, loopback);
  const ingest = new IngestEndpoint(store, log);
  // Any page can open /live sockets in a loop: one line per foreign origin is enough.
  const logLiveRefusal = logOncePer(log, 'live: refused origins');
  const app = createHttpApp({ store, auth, uiDir: options.uiDir ?? join(packageRoot(), 'dist', 'dashboard-ui'), log });
  const server = createServer(withJsonFallback(app, log));

  const wsOptions = { noServer: true, perMessageDeflate: false } as const;
  const ingestWss = new WebSocketServer({ ...wsOptions, maxPayload: MAX_FRAME_BYTES });
  const liveWss = new WebSocketServer({ ...wsOptions, maxPayload: 64 * 1024 });
  let stopping = false;
  // handleUpgrade does not emit 'connection': every socket is marked here, or the first ping
  // round would take it for dead.
  const alive = new WeakSet<WebSocket>();
  const markAlive = (ws: WebSocket): void => {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      socket.destroy();
      return;
    }
    if (stopping) {
      socket.destroy();
      return;
    }
    if (path === INGEST_PATH) {
      const browser = auth.checkIngestOrigin(req);
      if (browser !== null) {
        ingest.refuseBrowser(req, socket, browser);
        return;
      }
      ingestWss.handleUpgrade(req, socket, head, (ws) => {
        markAlive(ws);
        ingest.handle(ws, req, auth.check(req));
      });
    } else if (path === LIVE_PATH) {
      liveWss.handleUpgrade(req, socket, head, (ws) => {
        markAlive(ws);
        const badOrigin = auth.checkOrigin(req);
        const refused = auth.check(req);
        if (badOrigin !== null) {
          logLiveRefusal(String(req.headers.origin), `live: ${terminalSafeShort(badOrigin)}; closing (${CLOSE.forbiddenOrigin}; logged once per origin)`);
          ws.close(CLOSE.forbiddenOrigin, 'forbidden origin');
        } else if (refused !== null) {
          log(`live: unauthorized (${terminalSafeShort(refused)}); closing (${CLOSE.unauthorized})`);
          ws.close(CLOSE.unauthorized, `unauthorized: ${refused}`);
        } else {
          hub.add(ws);
        }
      });
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    }
  });

  const pinger = setInterval(() => {
    for (const wss of [ingestWss, liveWss]) {
      for (const ws of wss.clients) {
        if (!alive.has(ws)) {
          ws.terminate();
          continue;
        }
        alive.delete(ws);
        ws.ping();
      }
    }
  }, options.pingMs ?? PING_MS);
  pinger.unref();

  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? DEFAULT_PORT);
  const base = `http://${urlHost(host)}:${port}`;
  const url = token ? `${base}/?token=${encodeURIComponent(token)}` : `${base}/`;
  log(`loopscope dashboard on ${url}${dataDir ? ` (data: ${dataDir})` : ' (data kept in memory only)'}`);
  log(`bounds: ${describeBounds(store)}`);
  // Old data and --open files are read after listening: the API answers meanwhile, runs appear as they are read.
  const loading = loadInBackground(store, dataDir, options.open ?? [], log);

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping = true;
      ingest.stop();
      store.closed = true;
      await loading;
      // Acks for what was stored go out before the sockets close, so agents resend only the rest.
      await store.flush();
      for (const ws of ingestWss.clients) ws.close(1001, 'dashboard shutting down');
      hub.closeAll(1001, 'dashboard shutting down');
      clearInterval(pinger);
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const force = setTimeout(() => {
        for (const wss of [ingestWss, liveWss]) for (const ws of wss.clients) ws.terminate();
        server.closeAllConnections();
      }, 1000);
      await closed;
      clearTimeout(force);
      ingestWss.close();
      liveWss.close();
      store.close();
      await store.flush();
    })();
    return closing;
  };

  return { url, token, ingestUrl: `ws://${urlHost(host)}:${port}`, port, close };
}
