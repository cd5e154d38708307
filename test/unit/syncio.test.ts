// The *Sync wrappers in this process: same behaviour as the originals, the shared slot during the
// call, grouping by caller, slow calls for block attribution, ESM named exports, uninstall.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';
import { SyncioRecorder, SYNC_API_NAMES } from '../../agent/syncio.js';
import type { AgentOptions } from '../../agent/config.js';
import { I, F, epochNow } from '../../agent/shared-state.js';
import type { AgentContext } from '../../agent/context.js';
import { testContext } from '../helpers/context.js';

const require = createRequire(import.meta.url);
const fs = require('node:fs') as typeof import('node:fs');
const zlib = require('node:zlib') as typeof import('node:zlib');
const cp = require('node:child_process') as typeof import('node:child_process');
const THIS_FILE = import.meta.filename;

function context(options: AgentOptions): AgentContext {
  return testContext(options);
}

const installed: SyncioRecorder[] = [];
afterEach(() => {
  for (const r of installed.splice(0)) r.uninstall();
});

async function installed_(options: AgentOptions = {}): Promise<{ rec: SyncioRecorder; ctx: AgentContext }> {
  const ctx = context(options);
  const rec = new SyncioRecorder(ctx);
  const original = fs.readFileSync;
  rec.install();
  installed.push(rec);
  expect(fs.readFileSync).not.toBe(original);
  // start-up ends at a setImmediate (this test process is no ES module main being loaded)
  await new Promise((r) => setTimeout(r, 30));
  return { rec, ctx };
}

describe('SyncioRecorder wrappers', () => {
  it('lists the *Sync APIs of the four modules', () => {
    for (const name of ['fs.readFileSync', 'fs.writeFileSync', 'child_process.execSync', 'zlib.gzipSync', 'crypto.pbkdf2Sync']) {
      expect(SYNC_API_NAMES).toContain(name);
    }
    expect(SYNC_API_NAMES.every((n) => /^(fs|child_process|zlib|crypto)\.\w+Sync$/.test(n))).toBe(true);
  });

  it('keeps name, length, this, arguments, return values and thrown errors', async () => {
    const before = { name: fs.readFileSync.name, length: fs.readFileSync.length, gz: zlib.gzipSync.length };
    let expected: unknown;
    try {
      fs.readFileSync('/no/such/file');
    } catch (err) {
      expected = err;
    }
    await installed_();
    expect(fs.readFileSync.name).toBe(before.name);
    expect(fs.readFileSync.length).toBe(before.length);
    expect(zlib.gzipSync.length).toBe(before.gz);
    expect(fs.readFileSync(THIS_FILE, 'utf8')).toContain('keeps name, length');
    expect(zlib.gunzipSync(zlib.gzipSync(Buffer.from('abc'))).toString()).toBe('abc');
    const thisSeen: unknown[] = [];
    const obj = { f: fs.existsSync, marker: 1 };
    expect(obj.f(THIS_FILE)).toBe(true);
    const wrapped = fs.statSync;
    expect(wrapped.call(thisSeen, THIS_FILE).isFile()).toBe(true);
    let thrown: unknown;
    try {
      fs.readFileSync('/no/such/file');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as NodeJS.ErrnoException).code).toBe((expected as NodeJS.ErrnoException).code);
    expect((thrown as Error).message).toBe((expected as Error).message);
  });

  it('names the API in the shared state during the call and clears it after, even on a throw', async () => {
    const { ctx } = await installed_();
    let during = 0;
    let startedAt = 0;
    const t0 = epochNow();
    fs.readFileSync(THIS_FILE, {
      get encoding(): BufferEncoding {
        during = ctx.shared.i32[I.syncApi]!;
        startedAt = ctx.shared.f64[F.syncStartedAt]!;
        return 'utf8';
      },
    });
    expect(SYNC_API_NAMES[during - 1]).toBe('fs.readFileSync');
    expect(startedAt).toBeGreaterThanOrEqual(t0);
    expect(ctx.shared.i32[I.syncApi]).toBe(0);
    expect(() => fs.readFileSync('/no/such/file')).toThrow();
    expect(ctx.shared.i32[I.syncApi]).toBe(0);
  });

  it('groups calls by api and caller line since the last drain', async () => {
    const { rec } = await installed_();
    rec.drain();
    for (let i = 0; i < 3; i++) fs.readFileSync(THIS_FILE);
    fs.readFileSync(THIS_FILE);
    const out = rec.drain();
    const calls = out!.calls.filter((c) => c.api === 'fs.readFileSync');
    expect(calls).toHaveLength(2);
    expect(calls.map((c) => c.count).sort()).toEqual([1, 3]);
    for (const c of calls) {
      expect(c.createdAt?.file).toBe(THIS_FILE);
      expect(c.maxMs).toBeLessThanOrEqual(c.totalMs);
    }
    expect(rec.drain()).toBeNull();
  });

  it('does not count console output (fs.writeSync to fd 1 and 2), but counts writes to files', async () => {
    const { rec } = await installed_();
    rec.drain();
    fs.writeSync(1, '');
    fs.writeSync(2, '');
    const path = join(tmpdir(), `loopscope-syncio-${process.pid}.txt`);
    const fd = fs.openSync(path, 'w');
    rec.drain();
    fs.writeSync(fd, 'x');
    fs.closeSync(fd);
    fs.unlinkSync(path);
    const calls = rec.drain()!.calls;
    expect(calls.filter((c) => c.api === 'fs.writeSync').map((c) => c.count)).toEqual([1]);
  });

  it('counts only the app\'s call when Node nests *Sync calls inside it', async () => {
    const { rec } = await installed_();
    rec.drain();
    // with a URL, readFileSync goes through fs.openSync/readSync/closeSync on the module object
    fs.readFileSync(new URL(import.meta.url));
    const out = rec.drain();
    expect(out!.calls.map((c) => [c.api, c.count])).toEqual([['fs.readFileSync', 1]]);
  });

  it('returns a slow call in its window for block attribution', async () => {
    const { rec } = await installed_({ blockThresholdMs: 50 });
    const from = epochNow();
    cp.execSync('sleep 0.12');
    const to = epochNow();
    const slow = rec.slowCallWithin(from, to);
    expect(slow?.api).toBe('child_process.execSync');
    expect(slow?.createdAt?.file).toBe(THIS_FILE);
    expect(rec.slowCallWithin(to + 1000, to + 2000)).toBeNull();
    fs.readFileSync(THIS_FILE);
    expect(rec.slowCallWithin(to, epochNow())).toBeNull();
  });

  it('reaches ESM named imports and restores the originals on uninstall', async () => {
    const original = fs.readFileSync;
    const { rec } = await installed_();
    const esm = await import('node:fs');
    expect(esm.readFileSync).toBe(fs.readFileSync);
    expect(esm.readFileSync).not.toBe(original);
    // the named binding this file imported at link time follows too
    expect(execSync).toBe(cp.execSync);
    rec.uninstall();
    expect(fs.readFileSync).toBe(original);
    expect((await import('node:fs')).readFileSync).toBe(original);
  });

  it('does not record the agent\'s own calls', async () => {
    const { rec, ctx } = await installed_();
    rec.drain();
    ctx.internal(() => fs.readFileSync(THIS_FILE));
    expect(rec.drain()).toBeNull();
  });
});
