// Metrics scraped by a real Prometheus server (Debian package `prometheus`, started here on
// loopback with a 1 s scrape interval) from the OTel Prometheus exporter the agent worker serves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FIXTURES, runNode, tempDir } from '../helpers/run-node.js';

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? 'prometheus';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

let prom: ChildProcess | null = null;
let promLog = '';
let promUrl = '';
let targetPort = 0;

async function query(expr: string): Promise<Sample[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data?: { result: Sample[] }; error?: string };
  if (body.status !== 'success') throw new Error(`prometheus query ${expr}: ${body.error}`);
  return body.data!.result;
}

async function until<T>(what: string, fn: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; prometheus log:\n${promLog.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  const probe = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `Prometheus is required for this test and was not found (${probe.error?.message ?? `exit ${probe.status}`}). ` +
        'Install it: apt-get update && apt-get install -y prometheus (or set PROMETHEUS_BIN).',
    );
  }
  const dir = tempDir('loopscope-prom-');
  targetPort = await freePort();
  const webPort = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: loopscope',
      '    scrape_interval: 1s',
      '    scrape_timeout: 900ms',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${targetPort}']`,
      '',
    ].join('\n'),
  );
  prom = spawn(
    PROMETHEUS,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${webPort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prom.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
  prom.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
  promUrl = `http://127.0.0.1:${webPort}`;
  await until('prometheus to be ready', async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : null), 20_000);
});

afterAll(() => {
  prom?.kill('SIGTERM');
});

describe('otel metrics scraped by Prometheus', () => {
  it('serves the semconv loop metrics and counts a known 300 ms block in the blocked-time counter', async () => {
    const app = runNode(join(FIXTURES, 'otel-app.cjs'), {
      agent: 'require',
      args: ['hold'],
      env: {
        LOOPSCOPE_OTEL: '1',
        LOOPSCOPE_INTERVAL_MS: '200',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(targetPort),
        OTEL_SERVICE_NAME: 'prom-app',
        APP_BLOCK_MS: '300',
      },
      timeoutMs: 40_000,
    });
    const port = await new Promise<number>((resolve) => {
      app.child.stdout!.on('data', (d: Buffer) => {
        const m = /ready (\d+)/.exec(d.toString());
        if (m) resolve(Number(m[1]));
      });
    });
    const total = async (expr: string): Promise<number> => (await query(expr)).reduce((sum, s) => sum + Number(s.value[1]), 0);
    try {
      // A baseline first: scraped, with whatever start-up blocks a loaded machine produced.
      await until('the first scrape of the app', async () => ((await query('nodejs_eventloop_utilization{job="loopscope"}')).length > 0 ? true : null), 20_000);
      await new Promise((r) => setTimeout(r, 1500));
      const baseSeconds = await total('loopscope_eventloop_blocked_time_total{job="loopscope"}');
      const baseBlocks = await total('loopscope_eventloop_blocks_total{job="loopscope"}');

      // The known block: one request whose handler busy-loops for 300 ms.
      await fetch(`http://127.0.0.1:${port}/block`).then((r) => r.text());
      const seconds = await until(
        'the known block in the blocked-time counter',
        async () => {
          const v = (await total('loopscope_eventloop_blocked_time_total{job="loopscope"}')) - baseSeconds;
          return v > 0 ? v : null;
        },
        15_000,
      );
      expect(seconds).toBeGreaterThanOrEqual(0.29);
      expect(seconds).toBeLessThan(1.0);
      expect((await total('loopscope_eventloop_blocks_total{job="loopscope"}')) - baseBlocks).toBe(1);

      for (const name of [
        'nodejs_eventloop_delay_min',
        'nodejs_eventloop_delay_max',
        'nodejs_eventloop_delay_mean',
        'nodejs_eventloop_delay_p50',
        'nodejs_eventloop_delay_p90',
        'nodejs_eventloop_delay_p99',
        'nodejs_eventloop_utilization',
      ]) {
        const r = await query(`${name}{job="loopscope"}`);
        expect(r, name).toHaveLength(1);
        const v = Number(r[0]!.value[1]);
        expect(Number.isFinite(v) && v >= 0, `${name}=${v}`).toBe(true);
      }
      // Delays are in seconds, per semconv: an idle loop's median delay is well under a second.
      expect(Number((await query('nodejs_eventloop_delay_p50{job="loopscope"}'))[0]!.value[1])).toBeLessThan(0.5);
      const util = Number((await query('nodejs_eventloop_utilization{job="loopscope"}'))[0]!.value[1]);
      expect(util).toBeLessThanOrEqual(1);

      const server = await query('loopscope_resources_live{job="loopscope",loopscope_resource_type="TCPServerWrap"}');
      expect(Number(server[0]?.value[1])).toBe(1);
      const target = await query('target_info{job="loopscope"}');
      expect(target[0]?.metric.service_name).toBe('prom-app');
    } finally {
      app.child.kill('SIGTERM');
      const res = await app;
      // shutdown.onSignals ran the steps and exited cleanly: the exporter's server held nothing open.
      expect(res.code).toBe(0);
    }
  });
});
