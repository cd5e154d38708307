// The store's bounds on a real data folder: field caps, a run's and the store's memory, the data
// folder's bytes and each run's share, a stale .seq sidecar, uploads kept apart from live runs,
// and a real full disk (a tiny tmpfs) where only written batches are acked and nothing written is lost.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../dashboard/server/store.js';
import { boundMessage, FIELD_CAPS, MAX_STORED_MESSAGE_BYTES } from '../../dashboard/server/bounds.js';
import { messageSchema, type Message } from '../../shared/protocol.js';
import { tempDir } from '../helpers/run-node.js';
import { hello, loop, shutdownPair } from '../integration/dashboard-helpers.js';

function newStore(dir: string | null, logs: string[] = [], extra: Partial<ConstructorParameters<typeof Store>[0]> = {}): Store {
  return new Store({ dir, log: (l) => logs.push(l), ...extra });
}

/** Resolves with the write's outcome: 'ok' once on disk, else the error code. */
function written(store: Store, run: string, seq: number, messages: Message[]): Promise<string> {
  return new Promise((resolve) => store.accept(run, seq, messages, (err) => resolve(err ? String(err.code) : 'ok')));
}

function block(run: string, id: number, frames: number, fileChars: number): Message {
  const frame = { functionName: 'f', file: `/app/${'x'.repeat(fileChars)}.js`, line: 1, column: 1 };
  return {
    type: 'block', run, ts: 1000 + id, id, startedAt: 1000 + id, durationMs: 120, ended: true, native: false,
    stackKind: 'live', stack: Array.from({ length: frames }, () => frame), resource: null, syncCall: null, captureMs: 1,
  };
}

describe('field caps', () => {
  it('cuts a 2 MB stack, long strings and a huge snapshot to the caps, keeps the schema, counts the cuts', () => {
    const caps = FIELD_CAPS[0]!;
    const big = block('r', 1, 2000, 1000);
    const b = boundMessage(big);
    expect(messageSchema.safeParse(b.message).success).toBe(true);
    expect(b.message.type === 'block' && b.message.stack.length).toBeLessThanOrEqual(caps.frames);
    expect(b.line.length).toBeLessThanOrEqual(MAX_STORED_MESSAGE_BYTES + 1);
    expect(b.fieldsCut).toBeGreaterThan(0);

    const resources = Array.from({ length: 3000 }, (_, i) => ({ id: i, type: 'Timeout', ageMs: 1, keepsAlive: true, createdAt: null, details: { ['k'.repeat(5000)]: 'v'.repeat(50_000) } }));
    const start = { ...shutdownPair('r')[0]!, resources, snapshotTruncated: 7 } as Message;
    const s = boundMessage(start);
    expect(messageSchema.safeParse(s.message).success).toBe(true);
    if (s.message.type !== 'shutdown.start') throw new Error('type');
    // What the list no longer holds is still counted where the page reads it.
    expect(s.message.resources.length + s.message.snapshotTruncated).toBe(3007);
    expect(s.line.length).toBeLessThanOrEqual(MAX_STORED_MESSAGE_BYTES + 1);

    // A key named __proto__ stays a key, and an untouched message is the same object.
    const h = JSON.parse(JSON.stringify(hello('r')).replace('"config":{}', `"config":{"__proto__":"${'y'.repeat(3000)}"}`)) as Message;
    const bh = boundMessage(h);
    expect(Object.keys((bh.message as { config: object }).config)).toEqual(['__proto__']);
    const small = loop('r');
    expect(boundMessage(small).message).toBe(small);
  });
});

describe('memory bounds', () => {
  it('keeps a run under its byte bound, oldest detail first, and the counters whole', () => {
    const store = newStore(null, [], { maxRunBytes: 256 * 1024 });
    store.accept('m1', 0, [hello('m1', 'mem')], () => undefined);
    for (let i = 0; i < 500; i++) store.accept('m1', i + 1, [block('m1', i, 100, 200)], () => undefined);
    const state = store.state('m1')!;
    expect(JSON.stringify(state).length).toBeLessThanOrEqual(256 * 1024 + MAX_STORED_MESSAGE_BYTES);
    expect(state.blockCount).toBe(500);
    expect(state.blocks.length + state.blocksDropped).toBe(500);
    // The newest blocks are the ones kept.
    expect(state.blocks.at(-1)?.id).toBe(499);
    expect(state.cuts.detailDropped).toBeGreaterThan(0);
  });

  it('keeps the whole store under its bound: oldest finished runs lose their detail, never a connected run its summary', () => {
    const store = newStore(null, [], { maxRunBytes: 512 * 1024, maxMemoryBytes: 2 * 1024 * 1024 });
    store.connect('live-1');
    store.accept('live-1', 0, [hello('live-1', 'live')], () => undefined);
    for (let r = 0; r < 12; r++) {
      const run = `old-${r}`;
      store.accept(run, 0, [hello(run, 'old'), ...shutdownPair(run)], () => undefined);
      for (let i = 0; i < 60; i++) store.accept(run, i + 1, [block(run, i, 50, 100)], () => undefined);
    }
    expect(store.memoryBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    let total = 0;
    for (const s of store.summaries()) total += JSON.stringify(store.state(s.run)).length;
    expect(total).toBeLessThanOrEqual(2 * 1024 * 1024 + 64 * 1024);
    expect(store.state('old-0')?.cuts.evicted).toBe(true);
    expect(store.summary('old-0')).toMatchObject({ phase: 'exited', outcome: 'clean', blockCount: 60 });
    expect(store.summary('live-1')).toMatchObject({ connected: true, app: 'live' });
    expect(store.state('live-1')?.cuts.evicted).toBe(false);
  });
});

describe('data folder bounds', () => {
  it('caps a live run at its share of the folder, acks what it kept off the disk, and keeps writing its shutdown', async () => {
    const dir = tempDir('ls-bounds-share-');
    const maxData = 1024 * 1024;
    const store = newStore(dir, [], { maxDataBytes: maxData });
    const share = maxData / 8;
    expect(await written(store, 'big', 0, [hello('big', 'firehose')])).toBe('ok');
    let seq = 1;
    for (let i = 0; i < 200; i++) expect(await written(store, 'big', seq++, [block('big', i, 20, 40)])).toBe('ok');
    expect(await written(store, 'big', seq++, shutdownPair('big', 9000))).toBe('ok');
    await store.flush();
    const size = statSync(join(dir, 'big.ndjson')).size;
    expect(size).toBeLessThanOrEqual(share);
    const lines = readFileSync(join(dir, 'big.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Message);
    expect(lines.at(-1)?.type).toBe('shutdown.end');
    const cuts = store.state('big')!.cuts;
    expect(cuts.notWritten).toBe(203 - lines.length);
    expect(cuts.notWrittenBytes).toBeGreaterThan(0);
    // The memory side still has every block counted.
    expect(store.state('big')!.blockCount).toBe(200);
  });

  it('keeps the folder under its bound: the oldest finished runs make room, and at start-up too', async () => {
    const dir = tempDir('ls-bounds-folder-');
    const maxData = 512 * 1024;
    const a = newStore(dir, [], { maxDataBytes: maxData });
    for (let r = 0; r < 12; r++) {
      const run = `run-${r}`;
      await written(a, run, 0, [hello(run, 'many')]);
      for (let i = 0; i < 30; i++) await written(a, run, i + 1, [block(run, i, 20, 40)]);
    }
    await a.flush();
    await new Promise((r) => setTimeout(r, 50));
    const bytes = () => readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    expect(bytes()).toBeLessThanOrEqual(maxData);
    expect(a.has('run-0')).toBe(false);
    expect(a.has('run-11')).toBe(true);
    // A smaller bound at the next start: the oldest files go before anything is read.
    const logs: string[] = [];
    const b = newStore(dir, logs, { maxDataBytes: 128 * 1024 });
    const loaded = await b.load();
    expect(loaded.prunedFiles).toBeGreaterThan(0);
    expect(bytes()).toBeLessThanOrEqual(128 * 1024);
    expect(b.has('run-11')).toBe(true);
    expect(logs.join('\n')).toMatch(/deleted at start-up/);
  });

  it('deletes finished runs past the age bound at start-up', async () => {
    const dir = tempDir('ls-bounds-age-');
    const a = newStore(dir);
    await written(a, 'ancient', 0, [hello('ancient', 'aged')]);
    await written(a, 'recent', 0, [hello('recent', 'aged')]);
    await a.flush();
    const old = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    for (const f of ['ancient.ndjson', 'ancient.seq']) utimesSync(join(dir, f), old, old);
    const b = newStore(dir, [], { maxAgeDays: 30 });
    await b.load();
    expect(b.has('ancient')).toBe(false);
    expect(b.has('recent')).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['recent.ndjson', 'recent.seq']);
  });
});

describe('sidecar and uploads', () => {
  it('never extends a data file for a stale .seq sidecar, keeps its data, and takes resends after it', async () => {
    const dir = tempDir('ls-bounds-stale-');
    const a = newStore(dir);
    await written(a, 'st', 0, [hello('st', 'stale')]);
    await written(a, 'st', 1, [loop('st', 1000)]);
    await a.flush();
    const data = join(dir, 'st.ndjson');
    const size = statSync(data).size;
    writeFileSync(join(dir, 'st.seq'), '99 100 600000000 5'.padEnd(79, ' ') + '\n');
    for (let round = 0; round < 2; round++) {
      const logs: string[] = [];
      const b = newStore(dir, logs);
      await b.load();
      expect(statSync(data).size).toBe(size);
      expect(b.state('st')?.loop).toHaveLength(1);
      if (round === 0) expect(logs.join('\n')).toMatch(/\.seq sidecar says offset 600000000 but the file has \d+ bytes; ignored/);
    }
  });

  it('keeps an uploaded recording older than the newest runs of its app, in a file no live run can share', async () => {
    const dir = tempDir('ls-bounds-upload-');
    const store = newStore(dir);
    for (let i = 0; i < 25; i++) {
      const run = `live-${i}`;
      await written(store, run, 0, [hello(run, 'victim-app'), ...shutdownPair(run)]);
    }
    const oldStart = Date.now() - 86_400_000;
    const ids = await store.addRecording([hello('old-upload', 'victim-app', { startedAt: oldStart, ts: oldStart } as Partial<Message>), ...shutdownPair('old-upload', oldStart + 10)]);
    expect(ids).toEqual(['old-upload']);
    expect(store.has('old-upload')).toBe(true);
    expect(store.summaries().filter((s) => s.app === 'victim-app' && s.source === 'live')).toHaveLength(20);

    // A live run named like the old recording file, and an upload of run `victim`.
    await written(store, 'victim.recording', 0, [hello('victim.recording', 'live-victim'), loop('victim.recording', 5)]);
    await store.addRecording([hello('victim', 'uploaded-victim')]);
    await store.flush();
    const b = newStore(dir);
    await b.load();
    expect(b.summary('victim.recording')).toMatchObject({ app: 'live-victim', source: 'live' });
    expect(b.state('victim.recording')?.loop).toHaveLength(1);
    expect(b.summary('victim')).toMatchObject({ app: 'uploaded-victim', source: 'recording' });
    expect(b.has('old-upload')).toBe(true);
  });
});

// A real full disk: root can mount a tiny tmpfs here. Skipped (and said so) where it cannot.
const TMPFS = '/tmp/ls-small-tmpfs';
let mounted = false;
try {
  mkdirSync(TMPFS, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', TMPFS], { stdio: 'ignore' });
  mounted = true;
} catch {
  mounted = false;
}
afterAll(() => {
  if (!mounted) return;
  // Lazy: a descriptor still closing must not leave the mount behind.
  execFileSync('umount', ['-l', TMPFS], { stdio: 'ignore' });
  rmSync(TMPFS, { recursive: true, force: true });
});

describe.skipIf(!mounted)('a real full disk (256 KiB tmpfs)', () => {
  it('acks only batches that were written, keeps every written one across a restart, and takes the resends once there is room', async () => {
    const dir = join(TMPFS, 'data');
    // Room to give back later, as when a user frees space.
    writeFileSync(join(TMPFS, 'filler'), Buffer.alloc(64 * 1024));
    const logs: string[] = [];
    const a = newStore(dir, logs, { maxDataBytes: 64 * 1024 * 1024 });
    a.connect('full');
    const acked: number[] = [];
    let failedAt = -1;
    for (let seq = 0; seq < 2000 && failedAt < 0; seq++) {
      const outcome = await written(a, 'full', seq, seq === 0 ? [hello('full', 'disk')] : [block('full', seq, 10, 60)]);
      if (outcome === 'ok') acked.push(seq);
      else failedAt = seq;
    }
    expect(failedAt).toBeGreaterThan(0);
    expect(logs.join('\n')).toMatch(/ENOSPC/);
    // The rest of that connection is refused: a later ack would cover the failed batch.
    expect(await written(a, 'full', failedAt + 1, [block('full', failedAt + 1, 10, 60)])).toBe('EBLOCKED');
    await a.flush();
    a.close();

    // Restart: every acked batch is there, none that was refused.
    const b = newStore(dir, []);
    await b.load();
    expect(b.state('full')!.blocks.map((x) => x.id)).toEqual(acked.slice(1));
    expect(b.lastSeq('full')).toBe(acked.at(-1));

    // Room again: the agent's next connection resends from the failed batch, and it is taken.
    rmSync(join(TMPFS, 'filler'));
    b.connect('full');
    expect(await written(b, 'full', failedAt, [block('full', failedAt, 10, 60)])).toBe('ok');
    expect(await written(b, 'full', failedAt + 1, [block('full', failedAt + 1, 10, 60)])).toBe('ok');
    await b.flush();
    const ids = readFileSync(join(dir, 'full.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id?: number }).map((m) => m.id);
    expect(ids).toEqual([undefined, ...acked.slice(1), failedAt, failedAt + 1]);
    b.close();
    await new Promise((r) => setTimeout(r, 100));
  });
});
