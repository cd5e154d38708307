// Child processes for the benchmark: the app under test (with or without the agent) and the load.
import { spawn } from 'node:child_process';
import { get } from 'node:http';

/**
 * Starts node with args; resolves with the first JSON line it prints on stdout. `cpu` (a
 * taskset CPU list) pins the process and all its threads, the agent's worker included.
 */
export function spawnNode(args, env, cpu = null) {
  const [command, argv] = cpu === null ? [process.execPath, args] : ['taskset', ['-c', cpu, process.execPath, ...args]];
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const firstLine = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl !== -1) {
        try {
          resolve(JSON.parse(out.slice(0, nl)));
        } catch (err) {
          reject(err);
        }
      }
    });
    child.on('exit', (code, signal) => reject(new Error(`node ${args.join(' ')} exited (${code ?? signal}) before printing: ${stderr.trim()}`)));
  });
  return { child, firstLine };
}

export function waitExit(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export function getJson(port, path) {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    }).on('error', reject);
  });
}
