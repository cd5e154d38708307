// `loopscope demo`: a dashboard and a demo app that keeps restarting, so a new user sees every
// view (live charts, blocks, sync I/O, a shutdown with a slow step and a straggler) in a minute.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startDashboard } from '../server/main.js';

export interface DemoOptions {
  port?: number;
  /** How long each demo app lives before it shuts itself down (ms). */
  lifetimeMs?: number;
  /** Where to print the URL and progress; default stdout. */
  log?: (line: string) => void;
  /** Resolve once started instead of waiting for Ctrl-C (for tests). */
  detach?: boolean;
}

export interface RunningDemo {
  url: string;
  stop(): Promise<void>;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const PRELOAD = join(here, '..', '..', 'agent', 'preload.js');
const APP = join(here, 'app.js');
const AGENT_API = join(here, '..', '..', 'agent', 'index.js');

/**
 * The agent treats files under its own package as its own and leaves them out of stacks and
 * creation sites, so the demo app runs from a folder of its own, like a user's app would.
 */
function writeDemoApp(root: string): string {
  const dir = join(root, 'demo-shop');
  mkdirSync(dir, { recursive: true });
  const source = readFileSync(APP, 'utf8')
    .replace(/(['"])\.\.\/\.\.\/agent\/index\.js\1/, JSON.stringify(pathToFileURL(AGENT_API).href))
    .replace(/^\/\/# sourceMappingURL=.*$/m, '');
  const file = join(dir, 'server.mjs');
  writeFileSync(file, source);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'demo-shop', private: true, type: 'module' }, null, 2)}\n`);
  return file;
}

export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const root = mkdtempSync(join(tmpdir(), 'loopscope-demo-'));
  const app = writeDemoApp(root);
  const dashboard = await startDashboard({ port: options.port ?? 7777, host: '127.0.0.1', data: join(root, 'data'), log });

  let child: ChildProcess | null = null;
  let stopping = false;
  let generation = 0;

  const launch = () => {
    if (stopping) return;
    generation++;
    const c = spawn(process.execPath, ['--import', PRELOAD, app], {
      cwd: dirname(app),
      env: {
        ...process.env,
        LOOPSCOPE_DASHBOARD: dashboard.ingestUrl,
        LOOPSCOPE_TOKEN: dashboard.token ?? '',
        LOOPSCOPE_APP: 'demo-shop',
        // Before the app's 4 s deadline, so the timeline shows the hang and what caused it.
        LOOPSCOPE_HANG_MS: '2500',
        DEMO_LIFETIME_MS: String(options.lifetimeMs ?? 20_000),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    c.stdout?.setEncoding('utf8').on('data', (d: string) => log(`[demo-shop] ${d.trimEnd()}`));
    // The app's shutdown reports (deadline passed, still open) are part of the show.
    c.stderr?.setEncoding('utf8').on('data', (d: string) => log(`[demo-shop] ${d.trimEnd()}`));
    c.on('exit', (code, signal) => {
      if (child === c) child = null;
      if (stopping) return;
      log(`[demo] app exited (${signal ?? `code ${code}`}); restarting in 2 s (run ${generation + 1})`);
      setTimeout(launch, 2_000).unref();
    });
  };
  launch();
  log(`loopscope demo: open ${dashboard.url}`);
  log('The demo app restarts every ~25 s; press Ctrl-C to stop.');

  return {
    url: dashboard.url,
    async stop() {
      stopping = true;
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 6_000);
        await gone;
        clearTimeout(timer);
      }
      await dashboard.close();
    },
  };
}

/** Runs until Ctrl-C (or SIGTERM), then stops the app and the dashboard. */
export async function runDemo(options: { port?: number } = {}): Promise<void> {
  const demo = await startDemo(options);
  await new Promise<void>((resolve) => {
    let once = false;
    const stop = () => {
      if (once) return;
      once = true;
      process.stdout.write('\nstopping the demo…\n');
      void demo.stop().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
