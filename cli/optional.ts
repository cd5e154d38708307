// The dashboard and the demo load on demand: `report` and `run` must not pay for express, and an
// install without them must still report clearly rather than crash.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CliError } from './errors.js';

export interface DashboardOptions {
  port?: number;
  host?: string;
  data?: string;
  token?: string;
  /** Recordings to open at start. */
  open?: string[];
  /** Bound of the data folder in bytes. */
  maxDataBytes?: number;
  /** Finished runs older than this are deleted. */
  maxAgeDays?: number;
}

export interface RunningDashboard {
  /** For a browser (carries the token when one is required). */
  url: string;
  token: string | null;
  /** For agents, when the dashboard says it. */
  ingestUrl?: string;
  close(): Promise<void>;
}

export interface DashboardModule {
  startDashboard(options: DashboardOptions): Promise<RunningDashboard>;
}

export interface DemoModule {
  runDemo(options: { port?: number }): Promise<void>;
}

const DIST = dirname(dirname(fileURLToPath(import.meta.url)));

async function loadModule(relative: string, what: string, exportName: string): Promise<Record<string, unknown>> {
  const path = join(DIST, relative);
  if (!existsSync(path)) throw new CliError(`${what} is not available in this install (${path} is missing)`);
  // A variable specifier: the module is built separately and may be absent when this compiles.
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  if (typeof mod[exportName] !== 'function') throw new CliError(`${what} is broken in this install (${path} does not export ${exportName})`);
  return mod;
}

export async function loadDashboard(): Promise<DashboardModule> {
  const mod = await loadModule(join('dashboard', 'server', 'main.js'), 'the dashboard', 'startDashboard');
  return mod as unknown as DashboardModule;
}

export async function loadDemo(): Promise<DemoModule> {
  const mod = await loadModule(join('dashboard', 'demo', 'run-demo.js'), 'the demo', 'runDemo');
  return mod as unknown as DemoModule;
}
