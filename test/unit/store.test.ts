// The dashboard store on a real data folder: folding with the shared reducer, dedup of resent
// batches (also across a restart), pruning limits, a partial last line, a failing disk.
import { describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../dashboard/server/store.js';
import { runFileBase } from '../../dashboard/server/persist.js';
import { foldMessages } from '../../shared/run-state.js';
import type { Message } from '../../shared/protocol.js';
import { tempDir } from '../helpers/run-node.js';
import { hello, loop, shutdownPair } from '../integration/dashboard-helpers.js';

function accept(store: Store, run: string, seq: number, messages: Message[]): Promise<boolean> {
  return new Promise((resolve) => {
    let stored = false;
    stored = store.accept(run, seq, messages, () => resolve(stored));
  });
}

function newStore(dir: string | null, logs: string[] = [], extra: Partial<ConstructorParameters<typeof Store>[0]> = {}): Store {
  return new Store({ dir, log: (l) => logs.push(l), ...extra });
}

describe('dashboard store', () => {
  it('folds with the shared reducer, persists a recording, and ignores a resent batch', async () => {
    const dir = tempDir('ls-store-');
    const store = newStore(dir);
    const msgs = [hello('r1', 'app-a'), loop('r1', 1000), loop('r1', 2000)];
    expect(await accept(store, 'r1', 0, msgs.slice(0, 2))).toBe(true);
    expect(await accept(store, 'r1', 1, msgs.slice(2))).toBe(true);
    expect(await accept(store, 'r1', 1, msgs.slice(2))).toBe(false);
    const { cuts, ...state } = store.state('r1')!;
    expect(state).toEqual(foldMessages(msgs).get('r1'));
    expect(cuts).toMatchObject({ fieldsCut: 0, detailDropped: 0, notWritten: 0 });
    await store.flush();
    const lines = readFileSync(join(dir, 'r1.ndjson'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual(msgs);
    expect(readFileSync(join(dir, 'r1.seq'), 'utf8').trim()).toMatch(/^1 1 \d+ \d+$/);
  });

  it('reloads runs after a restart as disconnected, with their shutdown, and keeps deduplicating', async () => {
    const dir = tempDir('ls-store-reload-');
    const a = newStore(dir);
    a.connect('r2');
    await accept(a, 'r2', 0, [hello('r2', 'app-b'), ...shutdownPair('r2', 5000)]);
    await a.flush();
    // Killed mid-write: half a line at the end.
    appendFileSync(join(dir, 'r2.ndjson'), '{"type":"loop","run":"r2"');
    const logs: string[] = [];
    const b = newStore(dir, logs);
    expect(await b.load()).toMatchObject({ runs: 1, skippedLines: 0 });
    expect(logs.join("\n")).toMatch(/cut off a partial last line/);
    expect(b.summary('r2')).toMatchObject({ app: 'app-b', connected: false, phase: 'exited', outcome: 'clean', exitCode: 0 });
    expect(await accept(b, 'r2', 0, [loop('r2', 6000)])).toBe(false);
    expect(await accept(b, 'r2', 1, [loop('r2', 7000)])).toBe(true);
    await b.flush();
    const lines = readFileSync(join(dir, 'r2.ndjson'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).type)).toEqual(['hello', 'shutdown.start', 'shutdown.end', 'loop']);
  });

  it('keeps an opened recording in the data folder: a restart shows it again, beside the live run it shares an id with', async () => {
    const dir = tempDir('ls-store-rec-');
    const a = newStore(dir);
    a.connect('r9');
    await accept(a, 'r9', 0, [hello('r9', 'app-live')]);
    await a.flush();
    const ids = await a.addRecording([hello('r9', 'app-rec'), ...shutdownPair('r9', 5000), hello('r10', 'app-rec')]);
    expect(ids.sort()).toEqual(['r10', 'r9~rec']);
    await a.flush();
    const b = newStore(dir);
    expect(await b.load()).toMatchObject({ runs: 3, skippedLines: 0 });
    expect(b.summary('r9')).toMatchObject({ source: 'live', app: 'app-live' });
    expect(b.summary('r9~rec')).toMatchObject({ source: 'recording', app: 'app-rec', phase: 'exited', outcome: 'clean' });
    expect(b.summary('r10')).toMatchObject({ source: 'recording', app: 'app-rec' });
  });

  it('after a crash mid-batch, cuts the batch off and takes its resend; a batch that landed is not taken twice', async () => {
    const dir = tempDir('ls-store-crash-');
    const a = newStore(dir);
    await accept(a, 'r3', 0, [hello('r3', 'app-c')]);
    await accept(a, 'r3', 1, [loop('r3', 1000)]);
    await a.flush();
    const data = join(dir, 'r3.ndjson');
    const size = readFileSync(data).length;
    // What a dashboard killed while writing batch 2..3 leaves: the intent, and half the bytes.
    writeFileSync(join(dir, 'r3.seq'), `2 3 ${size} 400`.padEnd(79, ' ') + '\n');
    appendFileSync(data, JSON.stringify(loop('r3', 2000)) + '\n{"type":"loop","ru');
    const logs: string[] = [];
    const b = newStore(dir, logs);
    await b.load();
    expect(logs.join('\n')).toMatch(/cut off batch 2\.\.3/);
    expect(readFileSync(data).length).toBe(size);
    expect(await accept(b, 'r3', 1, [loop('r3', 1000)])).toBe(false);
    expect(await accept(b, 'r3', 2, [loop('r3', 2000)])).toBe(true);
    await b.flush();
    const c = newStore(dir);
    await c.load();
    expect(c.state('r3')?.loop.map((p) => p.ts)).toEqual([1000, 2000]);
    expect(await accept(c, 'r3', 2, [loop('r3', 2000)])).toBe(false);
  });

  it('prunes the oldest finished runs past the per-app and total limits, files included', async () => {
    const dir = tempDir('ls-store-prune-');
    const store = newStore(dir, [], { maxRunsPerApp: 3, maxRuns: 5 });
    for (let i = 0; i < 5; i++) await accept(store, `a${i}`, 0, [hello(`a${i}`, 'app-a', { startedAt: 1000 + i } as Partial<Message>)]);
    expect(store.summaries().map((s) => s.run).sort()).toEqual(['a2', 'a3', 'a4']);
    store.connect('b0');
    for (let i = 0; i < 3; i++) await accept(store, `b${i}`, 0, [hello(`b${i}`, 'app-b', { startedAt: 2000 + i } as Partial<Message>)]);
    // Total limit 5: the oldest app-a run goes; the connected b0 is never pruned.
    expect(store.summaries().map((s) => s.run).sort()).toEqual(['a3', 'a4', 'b0', 'b1', 'b2']);
    await store.flush();
    await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson')).sort()).toEqual(['a3.ndjson', 'a4.ndjson', 'b0.ndjson', 'b1.ndjson', 'b2.ndjson']);
  });

  it('never uses a hostile run id as a path', async () => {
    const dir = tempDir('ls-store-path-');
    const store = newStore(dir);
    const run = '../../escape';
    await accept(store, run, 0, [hello(run)]);
    await store.flush();
    expect(readdirSync(dir).sort()).toEqual([`${runFileBase(run)}.ndjson`, `${runFileBase(run)}.seq`]);
    expect(existsSync(join(dir, '..', '..', 'escape.ndjson'))).toBe(false);
  });

  it('does not ack a batch the disk refused, logs once, and carries on in memory', async () => {
    const dir = tempDir('ls-store-full-');
    for (const run of ['f1', 'f2']) symlinkSync('/dev/full', join(dir, `${run}.ndjson`));
    const logs: string[] = [];
    const store = newStore(dir, logs);
    expect(await written(store, 'f1', 0, [hello('f1', 'full')])).toBe('ENOSPC');
    // The rest of that connection is refused too: a later ack would cover the lost batch.
    expect(await written(store, 'f1', 1, [loop('f1', 1)])).toBe('EBLOCKED');
    expect(await written(store, 'f2', 0, [hello('f2', 'full')])).toBe('ENOSPC');
    expect(logs.filter((l) => /data: .* failed/.test(l))).toEqual([expect.stringMatching(/write .*f1\.ndjson failed \(ENOSPC\); batches not written are not acknowledged/)]);
    expect(store.diskErrorCount).toBe(2);
    expect(store.state('f1')?.loop).toHaveLength(1);
    expect(store.summary('f2')?.app).toBe('full');
  });
});

/** The error code a batch's write ended with ('ok' once on disk). */
function written(store: Store, run: string, seq: number, messages: Message[]): Promise<string> {
  return new Promise((resolve) => store.accept(run, seq, messages, (err) => resolve(err ? String(err.code) : 'ok')));
}
