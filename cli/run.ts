// `loopscope run -- <command...>`: the command with the agent preloaded in every node process it
// starts (NODE_OPTIONS reaches the whole tree), transparent about signals and exit status.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CliError } from './errors.js';

export interface RunCommandOptions {
  dashboard?: string;
  record?: string;
  mode?: string;
  token?: string;
}

export const PRELOAD_PATH = join(dirname(dirname(fileURLToPath(import.meta.url))), 'agent', 'preload.js');

const MODES = new Set(['lite', 'default', 'deep']);

/** Appends the preload to NODE_OPTIONS, quoted so that a path with spaces survives. */
export function withPreload(nodeOptions: string | undefined, preloadPath: string): string {
  // --import (not -r) loads the ESM agent before CommonJS and ESM apps alike; a file URL is the
  // one form --import takes on every platform.
  const flag = `--import=${JSON.stringify(pathToFileURL(preloadPath).href)}`;
  const current = (nodeOptions ?? '').trim();
  return current ? `${current} ${flag}` : flag;
}

export function buildEnv(options: RunCommandOptions, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (options.mode !== undefined && !MODES.has(options.mode)) {
    throw new CliError(`--mode must be lite, default or deep (got ${JSON.stringify(options.mode)})`, 2);
  }
  if (options.dashboard !== undefined && !/^wss?:\/\//.test(options.dashboard)) {
    throw new CliError(`--dashboard must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:7777 (got ${JSON.stringify(options.dashboard)})`, 2);
  }
  const env: NodeJS.ProcessEnv = { ...base, NODE_OPTIONS: withPreload(base.NODE_OPTIONS, PRELOAD_PATH) };
  // Absolute: the command may change directory before a child process starts recording.
  if (options.record !== undefined) env.LOOPSCOPE_RECORD = resolve(options.record);
  if (options.dashboard !== undefined) env.LOOPSCOPE_DASHBOARD = options.dashboard;
  if (options.token !== undefined) env.LOOPSCOPE_TOKEN = options.token;
  if (options.mode !== undefined) env.LOOPSCOPE_MODE = options.mode;
  return env;
}

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];
/** Signals a terminal sends to its whole foreground process group: the child already has them. */
const TERMINAL_SIGNALS = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT']);

export function runCommand(command: string[], options: RunCommandOptions): Promise<never> {
  if (command.length === 0) throw new CliError('nothing to run: give the command after --, e.g. loopscope run -- node app.js', 2);
  if (!existsSync(PRELOAD_PATH)) throw new CliError(`the agent is not built: ${PRELOAD_PATH} is missing`);
  const env = buildEnv(options);
  // Without a destination the agent stays off (and says so in every process): refuse up front.
  const otel = (env.LOOPSCOPE_OTEL ?? '').trim().toLowerCase();
  if (!env.LOOPSCOPE_RECORD && !env.LOOPSCOPE_DASHBOARD && !['1', 'true', 'yes', 'on'].includes(otel)) {
    throw new CliError('nowhere to send what the agent sees: give --record FILE or --dashboard URL (or set LOOPSCOPE_OTEL=1)', 2);
  }
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, { stdio: 'inherit', env, shell: process.platform === 'win32' });

  // Forwarding a Ctrl-C that the terminal already delivered to the child would make it a second
  // signal, which a graceful shutdown treats as "force exit now". With a terminal attached only
  // signals aimed at this process alone (kill, docker stop) are forwarded.
  const interactive = Boolean(process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY);
  const listeners = new Map<NodeJS.Signals, () => void>();
  for (const sig of FORWARDED) {
    const fn = (): void => {
      if (interactive && TERMINAL_SIGNALS.has(sig)) return;
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    listeners.set(sig, fn);
    process.on(sig, fn);
  }

  return new Promise<never>((_, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      for (const [sig, fn] of listeners) process.off(sig, fn);
      if (err.code === 'ENOENT') reject(new CliError(`cannot run ${JSON.stringify(file)}: command not found`, 127));
      else if (err.code === 'EACCES') reject(new CliError(`cannot run ${JSON.stringify(file)}: permission denied`, 126));
      else reject(new CliError(`cannot run ${JSON.stringify(file)}: ${err.message}`, 1));
    });
    child.on('exit', (code, signal) => {
      for (const [sig, fn] of listeners) process.off(sig, fn);
      if (signal) {
        // Die by the same signal, so whoever started us sees what they would have seen.
        process.kill(process.pid, signal);
        // Still here (the signal is ignored or caught elsewhere): the shell convention.
        const num = (constants.signals as Record<string, number>)[signal] ?? 0;
        process.exit(128 + num);
      }
      process.exit(code ?? 1);
    });
  });
}
