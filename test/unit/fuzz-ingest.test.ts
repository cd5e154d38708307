// Property-based fuzzing of what a client can send: NDJSON uploads through the streaming reader
// into the store and onto disk, ingest frames into the store, and (fewer cases) frames through a
// real /ingest connection. Valid messages are generated from the shared schemas' shapes, then
// mutated (cut, bytes inserted, invalid UTF-8, huge strings, deep junk, lines joined, CRLF, BOM,
// duplicated seqs, unknown protocol versions). Nothing may throw or crash, everything stored must
// pass the shared schema, and the counts must add up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Store } from '../../dashboard/server/store.js';
import { readNdjsonStream } from '../../dashboard/server/ndjson-reader.js';
import { ingestFrameSchema } from '../../shared/dashboard-api.js';
import { blockSchema, helloSchema, messageSchema, noticeSchema, resourcesSchema, shutdownEndSchema, shutdownHangSchema, shutdownStartSchema, type Message } from '../../shared/protocol.js';
import { PROTOCOL_VERSION } from '../../shared/version.js';
import type { RunState } from '../../shared/run-state.js';
import { startDashboard, type RunningDashboard } from '../../dist/dashboard/server/main.js';
import { tempDir } from '../helpers/run-node.js';
import { connect, waitFor } from '../integration/dashboard-helpers.js';

const RUNS_PER_PROPERTY = Number(process.env.FUZZ_RUNS ?? 2000);
const tried = { upload: 0, ingest: 0, ws: 0 };

// ---- arbitraries of valid messages -----------------------------------------------------------
const text = fc.oneof(fc.string({ maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('', '__proto__', 'constructor', '\u001b[2J', '€'));
const nonneg = fc.double({ min: 0, max: 1e13, noNaN: true, noDefaultInfinity: true });
const nat = fc.nat();
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const frame = fc.record({ functionName: text, file: text, line: fc.integer(), column: fc.integer() });
const run = fc.constantFrom('r1', 'r2', 'run-3', '../escape', 'victim.recording', 'x'.repeat(64));
const env = { run, ts: nonneg };
const details = fc.dictionary(text, fc.oneof(text, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()), { maxKeys: 4 });
const liveResource = fc.record({ id: fc.integer(), type: text, ageMs: fc.option(nonneg), keepsAlive: fc.boolean(), createdAt: fc.option(frame), stack: opt(fc.array(frame, { maxLength: 4 })), details: opt(details) });
const keptAlive = fc.record({ id: fc.integer(), type: text, createdAt: fc.option(frame), details: opt(details) });

const messageArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ type: fc.constant('hello'), ...env, protocol: fc.constant(PROTOCOL_VERSION), agentVersion: text, app: text, pid: fc.integer(), ppid: fc.integer(), parentRun: fc.option(text), hostname: text, argv: fc.array(text, { maxLength: 4 }), execArgv: fc.array(text, { maxLength: 2 }), nodeVersion: text, platform: text, arch: text, startedAt: nonneg, mode: fc.constantFrom('lite', 'default', 'deep'), config: fc.dictionary(text, fc.oneof(text, nonneg, fc.boolean(), fc.constant(null)), { maxKeys: 4 }) }),
  fc.record({ type: fc.constant('loop'), ...env, intervalMs: nonneg, delay: fc.record({ minMs: nonneg, meanMs: nonneg, p50Ms: nonneg, p90Ms: nonneg, p99Ms: nonneg, maxMs: nonneg }), utilization: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ type: fc.constant('resources'), ...env, byType: fc.dictionary(text, nat, { maxKeys: 4 }), created: opt(fc.dictionary(text, nat, { maxKeys: 3 })), pendingPromises: opt(nat), callbacks: opt(fc.dictionary(text, fc.record({ count: nat, totalMs: nonneg, maxMs: nonneg }), { maxKeys: 2 })), oldest: fc.array(liveResource, { maxLength: 3 }), tracked: nat, stacksSkipped: opt(nat) }),
  fc.record({ type: fc.constant('block'), ...env, id: nat, startedAt: nonneg, durationMs: nonneg, ended: fc.boolean(), native: fc.boolean(), stackKind: fc.constantFrom('live', 'none'), stack: fc.array(frame, { maxLength: 6 }), resource: fc.option(fc.record({ type: text, createdAt: fc.option(frame) })), syncCall: fc.option(fc.record({ api: text, createdAt: fc.option(frame) })), captureMs: fc.option(nonneg), appSpan: opt(fc.option(fc.record({ traceId: text, spanId: text }))) }),
  fc.record({ type: fc.constant('syncio'), ...env, calls: fc.array(fc.record({ api: text, count: fc.integer({ min: 1 }), totalMs: nonneg, maxMs: nonneg, createdAt: fc.option(frame) }), { maxLength: 3 }) }),
  fc.record({ type: fc.constant('shutdown.start'), ...env, trigger: fc.constantFrom('SIGTERM', 'SIGINT', 'SIGHUP', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'api'), reason: fc.option(text), startedAt: nonneg, resources: fc.array(liveResource, { maxLength: 3 }), snapshotTruncated: nat }),
  fc.record({ type: fc.constant('shutdown.step'), ...env, name: text, startMs: nonneg, durationMs: fc.option(nonneg), outcome: fc.constantFrom('running', 'ok', 'failed', 'timeout'), error: fc.option(text) }),
  fc.record({ type: fc.constant('shutdown.closed'), ...env, id: fc.integer(), resourceType: text, closedAfterMs: nonneg }),
  fc.record({ type: fc.constant('shutdown.signal'), ...env, signal: text, afterMs: nonneg }),
  fc.record({ type: fc.constant('shutdown.hang'), ...env, afterMs: nonneg, keptAlive: fc.array(keptAlive, { maxLength: 3 }) }),
  fc.record({ type: fc.constant('shutdown.end'), ...env, durationMs: nonneg, outcome: fc.constantFrom('clean', 'error', 'timeout', 'crash', 'killed'), exit: fc.record({ code: fc.option(fc.integer()), signal: fc.option(text) }), exitCaller: fc.option(frame), error: fc.option(text), stillOpen: fc.array(keptAlive, { maxLength: 3 }) }),
  fc.record({ type: fc.constant('notice'), ...env, level: fc.constantFrom('info', 'warn', 'error'), code: text, message: text, count: opt(nat) }),
);

// ---- mutations -------------------------------------------------------------------------------
type ObjectMutation = { kind: 'huge'; which: number; size: number } | { kind: 'junk'; which: number; depth: number } | { kind: 'protocol'; which: number; version: number } | { kind: 'none' };
const objectMutation: fc.Arbitrary<ObjectMutation> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 5 },
  fc.record({ kind: fc.constant('huge' as const), which: nat, size: fc.integer({ min: 5_000, max: 100_000 }) }),
  fc.record({ kind: fc.constant('junk' as const), which: nat, depth: fc.integer({ min: 1, max: 3000 }) }),
  fc.record({ kind: fc.constant('protocol' as const), which: nat, version: fc.oneof(fc.integer({ min: 2, max: 1000 }), fc.constant(0), fc.constant(-1)) }),
);

/** Sets one string somewhere in the message to a huge one (the run id stays what it was). */
function inflate(m: Record<string, unknown>, size: number, pick: number): void {
  const slots: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach((x, i) => (typeof x === 'string' ? slots.push([v, i]) : walk(x)));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) typeof x === 'string' && k !== 'run' && k !== 'type' ? slots.push([v as Record<string, unknown>, k]) : walk(x);
  };
  walk(m);
  if (slots.length === 0) return;
  const [holder, key] = slots[pick % slots.length]!;
  (holder as Record<string | number, unknown>)[key] = '€x'.repeat(size / 2);
}

function mutateObjects(messages: Record<string, unknown>[], mutation: ObjectMutation): void {
  if (mutation.kind === 'none' || messages.length === 0) return;
  const m = messages[mutation.which % messages.length]!;
  if (mutation.kind === 'huge') inflate(m, mutation.size, mutation.which);
  else if (mutation.kind === 'junk') {
    let junk: unknown = 'deep';
    for (let i = 0; i < mutation.depth; i++) junk = i % 2 ? [junk] : { j: junk };
    m.extra = junk;
  } else {
    m.type = 'hello';
    m.protocol = mutation.version;
  }
}

type ByteMutation = { kind: 'cut'; at: number } | { kind: 'insert'; at: number; bytes: number[] } | { kind: 'badUtf8'; at: number } | { kind: 'join'; at: number } | { kind: 'crlf' } | { kind: 'bom' } | { kind: 'blank'; at: number };
const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('cut' as const), at: nat }),
  fc.record({ kind: fc.constant('insert' as const), at: nat, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('badUtf8' as const), at: nat }),
  fc.record({ kind: fc.constant('join' as const), at: nat }),
  fc.constant({ kind: 'crlf' as const }),
  fc.constant({ kind: 'bom' as const }),
  fc.record({ kind: fc.constant('blank' as const), at: nat }),
);

function mutateBytes(buf: Buffer, mutations: readonly ByteMutation[]): Buffer {
  let out = buf;
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : ('at' in m ? m.at % out.length : 0);
    switch (m.kind) {
      case 'cut':
        out = out.subarray(0, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes), out.subarray(at)]);
        break;
      case 'badUtf8':
        out = Buffer.concat([out.subarray(0, at), Buffer.from([0xc3, 0x28, 0xff]), out.subarray(at)]);
        break;
      case 'join': {
        const nl = out.indexOf(0x0a, at);
        if (nl >= 0) out = Buffer.concat([out.subarray(0, nl), out.subarray(nl + 1)]);
        break;
      }
      case 'crlf':
        out = Buffer.from(out.toString('latin1').replaceAll('\n', '\r\n'), 'latin1');
        break;
      case 'bom':
        out = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), out]);
        break;
      case 'blank':
        out = Buffer.concat([out.subarray(0, at), Buffer.from('\n  \n'), out.subarray(at)]);
        break;
    }
  }
  return out;
}

// ---- what stored means valid -----------------------------------------------------------------
function expectValidState(state: RunState): void {
  const ok = (schema: { safeParse(v: unknown): { success: boolean } }, v: unknown): void => {
    if (!schema.safeParse(v).success) throw new Error(`stored value fails the schema: ${JSON.stringify(v).slice(0, 300)}`);
  };
  if (state.hello) ok(helloSchema, state.hello);
  if (state.latestResources) ok(resourcesSchema, state.latestResources);
  for (const b of state.blocks) ok(blockSchema, b);
  for (const n of state.notices) ok(noticeSchema, n);
  for (const sd of state.shutdowns) {
    ok(shutdownStartSchema, sd.start);
    if (sd.hang) ok(shutdownHangSchema, sd.hang);
    if (sd.end) ok(shutdownEndSchema, sd.end);
  }
  // GET /api/runs/:run always answers, and bounded.
  expect(JSON.stringify(state).length).toBeLessThan(4 * 1024 * 1024);
}

function chunked(buf: Buffer, sizes: readonly number[]): Readable {
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < buf.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    parts.push(buf.subarray(at, at + n));
    at += n;
  }
  return Readable.from(parts);
}

describe('fuzzing the upload and ingest paths', () => {
  const dir = tempDir('ls-fuzz-');
  // Small bounds, so that the fuzz reaches them often (and measuring a run stays cheap).
  const store = new Store({ dir, log: () => undefined, maxUploads: 20, maxDataBytes: 64 * 1024 * 1024, maxRunBytes: 128 * 1024, maxMemoryBytes: 8 * 1024 * 1024 });

  it('upload: never throws, counts add up, every message stored (in memory and on disk) passes the schema', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(messageArb, { minLength: 0, maxLength: 12 }), objectMutation, fc.array(byteMutation, { maxLength: 3 }), fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 4 }), async (messages, objMut, byteMuts, sizes) => {
        tried.upload++;
        const copies = structuredClone(messages);
        mutateObjects(copies, objMut);
        const body = mutateBytes(Buffer.from(copies.map((m) => JSON.stringify(m)).join('\n') + '\n'), byteMuts);
        const upload = store.beginUpload();
        let passed = 0;
        const result = await readNdjsonStream(chunked(body, sizes), {
          onMessage: (m) => {
            const refused = upload.add(m);
            if (refused === null) passed++;
            return refused;
          },
        });
        expect(result.accepted + result.skipped).toBe(result.lines);
        expect(result.accepted).toBe(passed);
        expect(result.lines).toBeLessThanOrEqual(body.filter((b) => b === 0x0a).length + 1);
        const { runs } = await upload.finish();
        await store.flush();
        for (const id of runs) expectValidState(store.state(id)!);
        if (runs.length > 0) {
          const lines = readFileSync(join(dir, `${upload.upload.base}.ndjson`), 'utf8').split('\n').filter((l) => l !== '');
          expect(lines.length).toBe(result.accepted);
          for (const line of lines) expect(messageSchema.safeParse(JSON.parse(line)).success).toBe(true);
        }
      }),
      { numRuns: RUNS_PER_PROPERTY },
    );
  }, 300_000);

  it('ingest: frames checked as /ingest does, never throw, what is acked is stored and valid', async () => {
    let seq = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(messageArb, { minLength: 0, maxLength: 8 }), objectMutation, fc.array(byteMutation, { maxLength: 2 }), fc.boolean(), async (messages, objMut, byteMuts, duplicate) => {
        tried.ingest++;
        const copies = structuredClone(messages);
        mutateObjects(copies, objMut);
        // One run per frame, as agents send them.
        for (const m of copies) m.run = copies[0]!.run;
        const thisSeq = duplicate ? Math.max(0, seq - 1) : seq++;
        const raw = mutateBytes(Buffer.from(JSON.stringify({ seq: thisSeq, messages: copies })), byteMuts).toString('utf8');
        let value: unknown;
        try {
          value = JSON.parse(raw);
        } catch {
          return;
        }
        const parsed = ingestFrameSchema.safeParse(value);
        if (!parsed.success || parsed.data.messages.length === 0) return;
        const frameRun = parsed.data.messages[0]!.run;
        if (parsed.data.messages.some((m: Message) => m.run !== frameRun)) return;
        const outcome = await new Promise<string>((resolve) => store.accept(frameRun, parsed.data.seq, parsed.data.messages, (err) => resolve(err ? String(err.code) : 'ok')));
        expect(outcome).toBe('ok');
        expect(store.lastSeq(frameRun)).toBeGreaterThanOrEqual(parsed.data.seq);
        expectValidState(store.state(frameRun)!);
      }),
      { numRuns: RUNS_PER_PROPERTY },
    );
  }, 300_000);

  describe('through a real /ingest connection', () => {
    let dashboard: RunningDashboard;
    const logs: string[] = [];
    beforeAll(async () => {
      dashboard = await startDashboard({ port: 0, data: tempDir('ls-fuzz-ws-'), log: (l) => logs.push(l) });
    });
    afterAll(async () => {
      await dashboard?.close();
      console.log(`fuzz: ${tried.upload} uploads, ${tried.ingest} ingest frames into the store, ${tried.ws} frames over /ingest; nothing threw, nothing invalid stored`);
    });

    it('acks or closes with a code, never crashes, and what it stored is valid', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(messageArb, { minLength: 1, maxLength: 6 }), objectMutation, fc.array(byteMutation, { maxLength: 2 }), async (messages, objMut, byteMuts) => {
          tried.ws++;
          const copies = structuredClone(messages);
          mutateObjects(copies, objMut);
          const runId = `ws-${n++ % 40}`;
          for (const m of copies) m.run = runId;
          const raw = mutateBytes(Buffer.from(JSON.stringify({ seq: n, messages: copies })), byteMuts);
          const client = await connect(`${dashboard.ingestUrl}/ingest`);
          client.ws.send(raw.toString('utf8'));
          const closedCode = client.closed.then((c) => c.code);
          const outcome = await Promise.race([waitFor(() => client.received.length > 0, 20_000, 'reply').then(() => 'ack'), closedCode]);
          if (outcome === 'ack') expect(client.received[0]).toEqual({ kind: 'ack', seq: n });
          else expect([4000, 4002, 1009]).toContain(outcome);
          client.ws.close();
          await client.closed;
        }),
        { numRuns: Math.max(50, Math.floor(RUNS_PER_PROPERTY / 10)) },
      );
      const { runs } = (await (await fetch(`${dashboard.url}api/runs`)).json()) as { runs: { run: string }[] };
      for (const r of runs) {
        const res = await fetch(`${dashboard.url}api/runs/${encodeURIComponent(r.run)}`);
        expect(res.status).toBe(200);
        expectValidState((await res.json()) as RunState);
      }
    }, 300_000);
  });
});
