// The HTTP side: the page's static files and the small REST API of shared/dashboard-api.ts.
import express, { type Request, type Response, type NextFunction } from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { API } from '../../shared/dashboard-api.js';
import type { Auth } from './auth.js';
import type { Store } from './store.js';
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

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // The first URL carries the token: it must not leak to other sites through Referer.
    res.setHeader('Referrer-Policy', 'no-referrer');
    const refused = auth.check(req);
    if (refused !== null) {
      res.status(refused.startsWith('Host') ? 403 : 401).type('text/plain').send(
        `${refused}: open the URL that \`loopscope dashboard\` printed (it carries ?token=)\n`,
      );
      return;
    }
    if (auth.token !== null && auth.presented(req).source === 'query') {
      res.setHeader('Set-Cookie', auth.setCookieHeader());
      if (req.method === 'GET' && req.accepts('html') && !req.path.startsWith('/api/')) {
        // Swap the token in the address bar for the cookie just set.
        const url = new URL(req.originalUrl, 'http://x');
        url.searchParams.delete('token');
        res.redirect(302, url.pathname + url.search);
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

  return app;
}
