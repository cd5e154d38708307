// A hostile or runaway client against a real dashboard process: valid blocks with 2 MB stacks
// from three runs at once, an upload of 600 MB without a newline, a large upload while an agent
// streams, and old data with a stale .seq sidecar. The dashboard's memory stays bounded (RSS read
// in the dashboard process), every API call answers, and the loop keeps turning.
import { afterAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSummary } from '../../shared/dashboard-api.js';
import type { Message } from '../../shared/protocol.js';
import { tempDir } from '../helpers/run-node.js';
import { connect, getJson, hello, loop, startDashboardProcess, waitFor, type DashboardProcess } from './dashboard-helpers.js';

const MiB = 1024 * 1024;
/**
 * Blocks per attacking run: 80 x 2 MB is 160 MB per run (480 MB in all), far past the 1 MiB run
 * bound and the 200 MiB the test allows; the 500 (ATTACK_BLOCKS=500, 1.5 GB over
 * loopback) measured the same RSS and takes minutes on a busy machine.
 */
const BLOCKS = Number(process.env.ATTACK_BLOCKS ?? 80);
const started: DashboardProcess[] = [];
afterAll(async () => {
  for (const d of started) await d.stop('SIGKILL');
});

async function dashboard(opts: Parameters<typeof startDashboardProcess>[0]): Promise<DashboardProcess> {
  const d = await startDashboardProcess({ nodeArgs: ['--expose-gc'], ...opts });
  started.push(d);
  return d;
}

/** One frame's text: a valid block whose stack is about 2 MB, built once and stamped per id. */
function hugeBlockFrames(run: string): (seq: number) => string {
  const frame = JSON.stringify({ functionName: 'attack', file: `/app/${'a'.repeat(10_000)}.js`, line: 1, column: 1 });
  const stack = `[${Array.from({ length: 200 }, () => frame).join(',')}]`;
  return (seq) =>
    `{"seq":${seq},"messages":[{"type":"block","run":"${run}","ts":${Date.now()},"id":${seq},"startedAt":${Date.now()},"durationMs":150,"ended":true,"native":false,"stackKind":"live","stack":${stack},"resource":null,"syncCall":null,"captureMs":1}]}`;
}

/** Sends chunks from a generator as one chunked POST; resolves with the status, or the socket error. */
function postChunks(port: number, chunks: () => Generator<Buffer>): Promise<{ status: number | null; body: string; error: string | null }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/recordings', headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? null, body, error: null }));
      res.on('error', (err) => resolve({ status: res.statusCode ?? null, body, error: err.message }));
    });
    req.on('error', (err) => resolve({ status: null, body: '', error: err.message }));
    const it = chunks();
    const pump = (): void => {
      for (;;) {
        const next = it.next();
        if (next.done) return void req.end();
        if (!req.write(next.value)) return void req.once('drain', pump);
      }
    };
    pump();
  });
}

describe('dashboard limits with a real dashboard process', () => {
  it('holds three runs of blocks with 2 MB stacks within its memory bound, and answers for each run', async () => {
    const dash = await dashboard({ data: tempDir('ls-limits-mem-') });
    const before = await dash.memory();
    const runs = ['attack-1', 'attack-2', 'attack-3'];
    await Promise.all(
      runs.map(async (run) => {
        const client = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
        client.ws.send(JSON.stringify({ seq: 0, messages: [hello(run, 'attacker')] }));
        const frame = hugeBlockFrames(run);
        for (let seq = 1; seq <= BLOCKS; seq++) {
          client.ws.send(frame(seq));
          // A window of 8 unacked frames, as an agent keeps.
          await waitFor(() => client.received.length >= seq - 8, 60_000, `ack of ${seq - 8}`);
        }
        await waitFor(() => client.received.length >= BLOCKS + 1, 60_000, 'last ack');
        client.ws.close();
      }),
    );
    const after = await dash.memory();
    const grewMiB = (after.rss - before.rss) / MiB;
    console.log(`2 MB-stack attack, 3 runs x ${BLOCKS} blocks: RSS ${(before.rss / MiB).toFixed(0)} -> ${(after.rss / MiB).toFixed(0)} MiB, heap ${(before.heapUsed / MiB).toFixed(0)} -> ${(after.heapUsed / MiB).toFixed(0)} MiB`);
    // Three runs of at most ~1 MiB of state each, plus the writers' buffers and the allocator's slack.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(40 * MiB);
    expect(grewMiB).toBeLessThan(200);
    for (const run of runs) {
      const res = await fetch(`http://127.0.0.1:${dash.port}/api/runs/${run}`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text.length).toBeLessThan(2 * MiB);
      const state = JSON.parse(text) as { blockCount: number; cuts: { fieldsCut: number; detailDropped: number; notWritten: number } };
      expect(state.blockCount).toBe(BLOCKS);
      expect(state.cuts.fieldsCut).toBeGreaterThanOrEqual(BLOCKS);
    }
  }, 400_000);

  it('refuses an upload of 600 MB without a newline as the bytes arrive, and keeps answering', async () => {
    const dash = await dashboard({});
    const before = await dash.memory();
    const chunk = Buffer.alloc(MiB, 'x'.charCodeAt(0));
    const result = await postChunks(dash.port, function* () {
      for (let i = 0; i < 600; i++) yield chunk;
    });
    // Either the 413 arrived, or the socket was closed under the rest of the body.
    if (result.status !== null) {
      expect(result.status).toBe(413);
      expect(result.body).toMatch(/larger than 268435456 bytes/);
    } else expect(result.error).toMatch(/ECONNRESET|EPIPE|socket hang up/);
    const after = await dash.memory();
    expect((after.heapUsed - before.heapUsed) / MiB).toBeLessThan(30);
    expect((await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${dash.port}/api/runs`)).status).toBe(200);
    // 300 MB of '€' is 900 MB of UTF-8: counted in bytes, so refused too (checked on its declared length here).
    const euro = await fetch(`http://127.0.0.1:${dash.port}/api/recordings`, { method: 'POST', headers: { 'content-length': String(900 * MiB), 'content-type': 'application/x-ndjson' }, body: '' }).catch(() => null);
    if (euro) expect(euro.status).toBe(413);
  }, 120_000);

  it('parses a large upload a slice at a time: an agent streaming meanwhile is acked promptly', async () => {
    const dash = await dashboard({ data: tempDir('ls-limits-upload-') });
    const run = 'up-big';
    const lines = [JSON.stringify(hello(run, 'uploaded-big'))];
    for (let i = 0; i < 1000; i++) lines.push(JSON.stringify(loop(run, 1000 + i)));
    const block = Buffer.from(lines.slice(1).join('\n') + '\n');
    const targetBytes = 60 * MiB;
    await dash.memory();
    const agent = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    agent.ws.send(JSON.stringify({ seq: 0, messages: [hello('beside-upload', 'agent')] }));
    await waitFor(() => agent.received.length === 1, 10_000, 'first ack');
    let uploading = true;
    const ackMs: number[] = [];
    const probe = (async () => {
      for (let seq = 1; uploading; seq++) {
        const t = performance.now();
        agent.ws.send(JSON.stringify({ seq, messages: [loop('beside-upload', Date.now())] }));
        await waitFor(() => agent.received.length > seq, 30_000, `ack ${seq}`);
        ackMs.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = performance.now();
    const result = await postChunks(dash.port, function* () {
      yield Buffer.from(lines[0] + '\n');
      for (let sent = 0; sent < targetBytes; sent += block.length) yield block;
    });
    const uploadMs = performance.now() - t0;
    uploading = false;
    await probe;
    const mem = await dash.memory();
    expect(result.status).toBe(200);
    const body = JSON.parse(result.body) as { runs: string[]; accepted: number; skipped: number; lines: number };
    expect(body.runs).toEqual([run]);
    expect(body.accepted + body.skipped).toBe(body.lines);
    ackMs.sort((a, b) => a - b);
    const p99 = ackMs[Math.floor(ackMs.length * 0.99)] ?? 0;
    console.log(`upload of ${targetBytes / MiB} MiB in ${uploadMs.toFixed(0)} ms; longest loop block ${mem.loopMaxMs.toFixed(0)} ms; agent acks meanwhile: ${ackMs.length}, p99 ${p99.toFixed(0)} ms, max ${ackMs.at(-1)?.toFixed(0)} ms`);
    // Generous for a busy 2-core machine; the readline version blocked for seconds.
    expect(mem.loopMaxMs).toBeLessThan(500);
    expect(ackMs.length).toBeGreaterThan(3);
    agent.ws.close();
  }, 180_000);

  it('listens before old data is read, never extends a file for a stale .seq, and shows the runs once read', async () => {
    const data = tempDir('ls-limits-restart-');
    const first = await dashboard({ data });
    for (let r = 0; r < 4; r++) {
      const run = `old-run-${r}`;
      const c = await connect(`ws://127.0.0.1:${first.port}/ingest`);
      const messages: Message[] = [hello(run, 'restart')];
      for (let i = 0; i < 3000; i++) messages.push(loop(run, 1000 + i));
      c.ws.send(JSON.stringify({ seq: 0, messages }));
      await waitFor(() => c.received.length === 1, 30_000, 'ack');
      c.ws.close();
    }
    await first.stop();
    const victim = join(data, 'old-run-0.ndjson');
    const size = statSync(victim).size;
    writeFileSync(join(data, 'old-run-0.seq'), '99 100 600000000 5'.padEnd(79, ' ') + '\n');
    for (let round = 0; round < 2; round++) {
      const dash = await dashboard({ data });
      // The API answers at once; the runs appear as their files are read.
      expect((await getJson<{ runs: RunSummary[] }>(`http://127.0.0.1:${dash.port}/api/runs`)).status).toBe(200);
      await waitFor(() => dash.logs.some((l) => /4 run\(s\) loaded .* in \d+ ms/.test(l)), 30_000, 'data loaded');
      const readyIndex = dash.logs.findIndex((l) => /loopscope dashboard on/.test(l));
      const loadedIndex = dash.logs.findIndex((l) => /run\(s\) loaded/.test(l));
      expect(readyIndex).toBeLessThan(loadedIndex);
      expect(statSync(victim).size).toBe(size);
      const { body } = await getJson<{ loop: unknown[] }>(`http://127.0.0.1:${dash.port}/api/runs/old-run-0`);
      expect(body.loop).toHaveLength(3000);
      await dash.stop();
    }
  }, 120_000);
});
