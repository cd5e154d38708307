// The HTTP side: the page's static files and the small REST API of shared/dashboard-api.ts.
// Every refusal and error is a short JSON `{ error }`: Express's own error pages show stack
// traces and install paths to whoever asks.
import express, { type Request, type Response, type NextFunction } from 'express';
import { existsSync } from 'node:fs';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { API } from '../../shared/dashboard-api.js';
import type { Auth } from './auth.js';
import type { Store } from './store.js';
import { terminalSafeShort } from '../../shared/terminal-text.js';
import { logOncePer } from './log-once.js';
import { readNdjsonStream, TooLargeError } from './ndjson-reader.js';

/** An uploaded recording larger than this is refused (413). */
export const MAX_RECORDING_BYTES = 256 * 1024 * 1024;

export interface HttpAppOptions {
  store: Store;
  auth: Auth;
  uiDir: string;
  log: (line: string) => void;
}

export function createHttpApp({ store, auth, uiDir, log }: HttpAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const logRefusal = logOncePer(log, 'refused writes');

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // The first URL carries the token: it must not leak to other sites through Referer.
    res.setHeader('Referrer-Policy', 'no-referrer');
    const refused = auth.check(req);
    if (refused !== null) {
      const host = refused.startsWith('Host');
      res.status(host ? 403 : 401).json({
        error: host ? refused : `${refused}: open the URL that \`loopscope dashboard\` printed (it carries ?token=)`,
      });
      return;
    }
    if (!SAFE_METHODS.has(req.method)) {
      const forbidden = auth.checkWrite(req);
      if (forbidden !== null) {
        logRefusal(forbidden, `refused ${req.method} ${terminalSafeShort(req.path, 80)}: ${terminalSafeShort(forbidden)} (logged once per reason)`);
        res.status(403).json({ error: forbidden });
        return;
      }
    }
    if (auth.token !== null && auth.presented(req).source === 'query') {
      res.setHeader('Set-Cookie', auth.setCookieHeader());
      if (req.method === 'GET' && req.accepts('html') && !req.path.startsWith('/api/')) {
        // Swap the token in the address bar for the cookie just set. The target is rebuilt as a
        // path on this server: a request target like //other.example/ must not redirect away.
        const url = new URL(req.originalUrl, 'http://x');
        url.searchParams.delete('token');
        res.redirect(302, `/${url.pathname.replace(/^\/+/, '')}${url.search}`);
        return;
      }
    }
    next();
  });

  app.get(API.runs, (_req: Request, res: Response) => {
    res.json({ runs: store.summaries() });
  });

  app.get('/api/runs/:run', (req: Request, res: Response) => {
    const run = String(req.params.run);
    const state = store.state(run);
    if (!state) {
      res.status(404).json({ error: `no run ${run}` });
      return;
    }
    res.json(state);
  });

  app.post(API.recordings, async (req: Request, res: Response) => {
    // Bytes are limited as they arrive and parsed a slice at a time (ndjson-reader.ts); each
    // message is folded as it is read, so an upload costs its runs' bounded state, not its size.
    const refuse = (status: number, error: string): void => {
      // The rest of a refused body is not read: close the connection once the answer is out.
      res.setHeader('Connection', 'close');
      res.status(status).json({ error });
      res.once('finish', () => req.destroy());
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_RECORDING_BYTES) return refuse(413, new TooLargeError(MAX_RECORDING_BYTES).message);
    const upload = store.beginUpload();
    try {
      const result = await readNdjsonStream(req, { maxBytes: MAX_RECORDING_BYTES, onMessage: (m) => upload.add(m), wait: () => upload.backpressure() });
      const { runs, notWritten } = await upload.finish();
      log(
        `recording uploaded: ${runs.length} run(s), ${result.accepted} messages, ${result.skipped} lines skipped${notWritten ? `, ${notWritten} messages not kept on disk (data folder bound)` : ''}`,
      );
      res.json({ runs, lines: result.lines, accepted: result.accepted, skipped: result.skipped, firstError: result.firstError });
    } catch (err) {
      upload.abort();
      if (err instanceof TooLargeError) refuse(413, err.message);
      else if (!res.headersSent && !req.destroyed) res.status(400).json({ error: (err as Error).message });
    }
  });

  app.use('/api', (_req: Request, res: Response) => {
    res.status(404).json({ error: 'no such API route' });
  });

  app.use(express.static(uiDir, { index: 'index.html' }));
  app.get('/', (_req: Request, res: Response) => {
    // Only reached when the page was not built.
    const built = existsSync(join(uiDir, 'index.html'));
    res
      .status(built ? 404 : 503)
      .type('text/plain')
      .send(`loopscope dashboard: the page is not built (expected ${uiDir}); the API is at ${API.runs}\n`);
  });
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(jsonErrors(log));

  return app;
}

/**
 * The server's request listener. A request target the router cannot even parse (`GET http://[`)
 * never reaches a middleware, and Express would answer it with its own HTML page: here it gets the
 * same JSON as everything else.
 */
export function withJsonFallback(app: express.Express, log: (line: string) => void): RequestListener {
  const errors = jsonErrors(log);
  return (req, res) => {
    app(req as Request, res as Response, (err?: unknown) => {
      if (err) errors(err, req, res, () => undefined);
      else if (!res.headersSent) res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ error: 'not found' }));
    });
  };
}

/** Methods that only read; anything else changes the dashboard and must pass Auth.checkWrite. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The last handler: any error a route threw or passed on (a bad %-escape in a parameter, an
 * unreadable body, a bug) becomes `{ error }` with its status. Only a client error's own message
 * is shown; a server error is logged and answered with a fixed text, since its message may carry
 * paths or internals.
 */
export function jsonErrors(log: (line: string) => void) {
  return (err: unknown, req: IncomingMessage, res: ServerResponse, _next: NextFunction): void => {
    const e = (typeof err === 'object' && err !== null ? err : {}) as { status?: unknown; statusCode?: unknown; message?: unknown };
    const raw = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
    const status = raw >= 400 && raw < 600 ? raw : 500;
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (status >= 500) log(`${req.method} ${terminalSafeShort((req.url ?? '').split('?', 1)[0]!, 80)} failed: ${terminalSafeShort(message)}`);
    const shown = status < 500 ? clientMessage(status, message) : 'internal error (logged by the dashboard)';
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({ error: shown }));
  };
}

/** A 4xx error's message, cut to its first line and without anything that looks like a path. */
function clientMessage(status: number, message: string): string {
  if (status === 400 && /decode param/i.test(message)) return 'bad percent-encoding in the URL';
  const line = message.split('\n', 1)[0]!.replace(/(?:[A-Za-z]:)?[\\/][^\s'"]*[\\/][^\s'"]*/g, '(path)');
  return terminalSafeShort(line, 200) || 'bad request';
}
