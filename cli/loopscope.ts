#!/usr/bin/env node
// The `loopscope` command: report, run, dashboard, demo.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { AGENT_VERSION } from '../shared/version.js';
import { CliError, errorLine } from './errors.js';
import { terminalSafe } from '../shared/terminal-text.js';
import { reportCommand } from './report/command.js';
import { KEPT_RUNS } from './report/run-keeper.js';
import { runCommand } from './run.js';
import { loadDashboard, loadDemo, type DashboardOptions } from './optional.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

/** Keeps a server command in the foreground until SIGINT/SIGTERM, then closes it once. */
function untilSignal(close: () => Promise<void>): Promise<void> {
  return new Promise((done) => {
    let closing = false;
    const stop = (): void => {
      if (closing) process.exit(130); // a second Ctrl-C: do not wait any longer
      closing = true;
      close().then(done, (err: unknown) => {
        process.stderr.write(`loopscope: error while closing: ${(err as Error).message}\n`);
        process.exitCode = 1;
        done();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function buildProgram(): Command {
  const program = new Command('loopscope')
    .description('See what keeps a Node.js process alive, what blocks its event loop, and how its shutdown goes.')
    .version(AGENT_VERSION, '-v, --version')
    .enablePositionalOptions()
    .showHelpAfterError('(run loopscope help for usage)')
    // Before the subcommands are added, so that they inherit it: usage errors exit with 2.
    .exitOverride();

  program
    .command('report')
    .description('summarise a recording (NDJSON written with LOOPSCOPE_RECORD or --record)')
    .argument('<file>', 'the recording (- for standard input)')
    .option('--json', 'print one JSON object (for CI) instead of the text report')
    .addOption(new Option('--frames <n>', 'stack frames shown per block').argParser(positiveInt).default(5))
    .option('--run <id>', 'report this run and its child processes (ids are in each run\'s hello line and in --json)')
    .addHelpText(
      'after',
      `\nA file of many runs: the first top-level run and the ${KEPT_RUNS - 1} most recent others are shown, the rest counted.`,
    )
    .action(async (file: string, opts: { json?: boolean; frames: number; run?: string }) => {
      await reportCommand(file, { json: opts.json, frames: opts.frames, run: opts.run });
    });

  program
    .command('run')
    .description('run a command with the agent preloaded in every node process it starts (give --record or --dashboard)')
    .argument('<command...>', 'the command and its arguments (put them after --)')
    .option('--dashboard <url>', 'stream to a dashboard, e.g. ws://127.0.0.1:7777 (LOOPSCOPE_DASHBOARD)')
    .option('--record <file>', 'write an NDJSON recording; %p is replaced by the pid (LOOPSCOPE_RECORD)')
    .option('--token <token>', 'token for a dashboard that listens beyond loopback (LOOPSCOPE_TOKEN)')
    .addOption(new Option('--mode <mode>', 'agent mode (LOOPSCOPE_MODE)').choices(['lite', 'default', 'deep']))
    .passThroughOptions()
    .addHelpText('after', '\nExample:\n  loopscope run --record run.ndjson -- node server.js\n  loopscope run --dashboard ws://127.0.0.1:7777 -- npm test')
    .action(async (command: string[], opts: { dashboard?: string; record?: string; mode?: string; token?: string }) => {
      await runCommand(command, opts);
    });

  program
    .command('dashboard')
    .description('start the dashboard (127.0.0.1 by default; any other host requires a token)')
    .addOption(new Option('--port <n>', 'port to listen on').argParser(port).default(7777))
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--data <dir>', 'directory where runs are kept as NDJSON')
    .option('--token <token>', 'token agents and browsers must present (an empty one counts as none: generated beyond loopback)')
    .option('--open <file>', 'open a recording at start (repeatable)', (file: string, prev: string[] = []) => [...prev, file])
    .addOption(new Option('--max-data <MiB>', 'bound of the data folder; the oldest finished runs go first').argParser(positiveInt).default(512))
    .addOption(new Option('--max-age <days>', 'finished runs older than this are deleted').argParser(positiveInt).default(30))
    .action(async (opts: DashboardOptions & { maxData: number; maxAge: number }) => {
      const { startDashboard } = await loadDashboard();
      const options: DashboardOptions = { maxDataBytes: opts.maxData * 1024 * 1024, maxAgeDays: opts.maxAge };
      for (const key of ['port', 'host', 'data', 'token', 'open'] as const) {
        if (opts[key] !== undefined) (options as Record<string, unknown>)[key] = opts[key];
      }
      const dash = await startDashboard(options);
      const ingest = dash.ingestUrl ?? new URL(dash.url).origin.replace(/^http/, 'ws');
      // The dashboard prints its own address; what it cannot know is how to point agents at it.
      if (dash.token) process.stdout.write(`token: ${dash.token} (agents: LOOPSCOPE_TOKEN=${dash.token})\n`);
      process.stdout.write(`agents: LOOPSCOPE_DASHBOARD=${ingest} loopscope run -- node app.js (Ctrl-C to stop)\n`);
      await untilSignal(() => dash.close());
    });

  program
    .command('demo')
    .description('the dashboard plus a demo app that blocks, leaks a handle and shuts down')
    .addOption(new Option('--port <n>', 'dashboard port').argParser(port))
    .action(async (opts: { port?: number }) => {
      const { runDemo } = await loadDemo();
      await runDemo(opts.port !== undefined ? { port: opts.port } : {});
    });

  return program;
}

async function main(argv: string[] = process.argv): Promise<void> {
  // `loopscope report run.ndjson | head`: a reader that leaves early is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = buildProgram();
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      process.exitCode = 2;
      return;
    }
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed the message (or the help/version) already.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(errorLine(err.message));
      process.exitCode = err.exitCode;
      return;
    }
    // A stack keeps its lines; each is made terminal-safe (a message may quote the input).
    const text = (err as Error)?.stack ?? String(err);
    process.stderr.write(text.split('\n').map((line, i) => (i === 0 ? errorLine(line) : `${terminalSafe(line)}\n`)).join(''));
    process.exitCode = 1;
  }
}

await main();
