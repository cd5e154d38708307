// The package as a user gets it: packed, installed into a fresh project, preloaded with
// `-r loopscope/agent` (CommonJS) and `--import loopscope/agent` (ESM), reported with `npx loopscope`.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, readRecording, tempDir } from '../helpers/run-node.js';

const exec = promisify(execFile);

/** The user's environment: nothing of this repo's npm run or of an agent leaks in. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') || k.startsWith('LOOPSCOPE_') || k === 'NODE_OPTIONS' || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

const project = tempDir('loopscope-pkg-');

async function sh(file: string, args: string[], env: Record<string, string> = {}) {
  return exec(file, args, { cwd: project, env: cleanEnv(env), timeout: 45_000, maxBuffer: 16 * 1024 * 1024 });
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'loopscope.js'))) throw new Error('dist/ is missing: run npm run build first');
  const packDir = tempDir('loopscope-pack-');
  const { stdout } = await exec('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], {
    cwd: ROOT,
    env: cleanEnv(),
    timeout: 45_000,
  });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  const tarball = join(packDir, packed!.filename);

  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pkg-test-app', version: '1.0.0', private: true }));
  writeFileSync(
    join(project, 'app.js'),
    [
      "const { start, shutdown } = require('loopscope');",
      "if (typeof start !== 'function' || typeof shutdown.step !== 'function') { console.log('bad cjs api'); process.exit(5); }",
      "setTimeout(() => console.log('cjs ok'), 300);",
    ].join('\n'),
  );
  writeFileSync(
    join(project, 'app.mjs'),
    [
      "import { start, shutdown } from 'loopscope';",
      "if (typeof start !== 'function' || typeof shutdown.step !== 'function') { console.log('bad esm api'); process.exit(5); }",
      "setTimeout(() => console.log('esm ok'), 300);",
    ].join('\n'),
  );
  // Dependencies come from npm's cache when it has them, from the registry otherwise.
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball]);
}, 60_000);

describe('the installed package', () => {
  it.each([
    ['CommonJS', ['-r', 'loopscope/agent', 'app.js'], 'run-cjs.ndjson', 'cjs ok'],
    ['ESM', ['--import', 'loopscope/agent', 'app.mjs'], 'run-esm.ndjson', 'esm ok'],
  ])('records a %s app preloaded by its package name, and npx loopscope reports it', async (_kind, args, file, expected) => {
    const run = await sh(process.execPath, args, { LOOPSCOPE_RECORD: file });
    expect(run.stdout.trim()).toBe(expected);
    expect(run.stderr).toBe('');
    const messages = readRecording(join(project, file));
    const hello = messages.find((m) => m.type === 'hello');
    expect(hello?.type === 'hello' && hello.argv.some((a) => a.endsWith(args[2]!))).toBe(true);

    const text = await sh('npx', ['--no', 'loopscope', 'report', file]);
    expect(text.stdout).toContain('loopscope report');
    expect(text.stdout).toContain('process');
    const json = await sh('npx', ['--no', 'loopscope', 'report', file, '--json']);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    for (const key of ['process', 'loop', 'blocks', 'syncCalls', 'resources', 'shutdown']) expect(report).toHaveProperty(key);
    expect((report.process as { pid: number }).pid).toBe(hello?.type === 'hello' ? hello.pid : -1);
    expect(report.shutdown).toMatchObject({ outcome: 'clean', exit: { code: 0, signal: null } });
  }, 30_000);
});
