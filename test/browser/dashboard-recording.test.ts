/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// A recording opened from the page shows like a live run, and the page finds its way back to a
// dashboard that restarted (reconnecting /live with backoff) and reloads the run on screen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startDashboard, type RunningDashboard } from '../../dist/dashboard/server/main.js';
import { readRecording, runNode, tempDir } from '../helpers/run-node.js';
import { assertBuilt, launchBrowser, screenshot, watchErrors } from './browser.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'watched-app.mjs');
const APP = 'recorded-fixture';

let dashboard: RunningDashboard;
let browser: Browser;
let page: Page;
let errors: string[];
let recording: string;
let dataDir: string;

beforeAll(async () => {
  assertBuilt();
  recording = join(tempDir('loopscope-rec-'), 'run.ndjson');
  // Recorded without any dashboard: blocks twice, then stops itself with SIGTERM.
  const result = await runNode(FIXTURE, {
    agent: 'import',
    timeoutMs: 20_000,
    env: {
      LOOPSCOPE_RECORD: recording,
      LOOPSCOPE_APP: APP,
      LOOPSCOPE_INTERVAL_MS: '250',
      FIXTURE_BLOCK_EVERY_MS: '500',
      FIXTURE_BLOCK_MS: '200',
      FIXTURE_SELF_SIGTERM_MS: '1400',
      FIXTURE_DEADLINE_MS: '600',
    },
  });
  expect(result.code).toBe(1);
  dataDir = tempDir('loopscope-browser-data-');
  dashboard = await startDashboard({ port: 0, host: '127.0.0.1', data: dataDir, log: () => undefined });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  errors = watchErrors(page);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
});

describe('recordings and restarts', () => {
  it('opens an uploaded recording like a live run', async () => {
    const messages = readRecording(recording);
    const run = messages[0]!.run;
    await page.goto(dashboard.url);
    await page.locator('#conn[data-state="open"]').waitFor({ timeout: 5_000 });
    await page.setInputFiles('#upload-input', recording);
    await expect.poll(async () => page.locator('#upload-status').textContent(), { timeout: 5_000 }).toMatch(/run\.ndjson: 1 run/);
    await expect.poll(() => page.evaluate(() => window.location.hash), { timeout: 5_000 }).toBe(`#/run/${run}`);
    await page.locator('.run-head', { hasText: 'from a recording' }).waitFor({ timeout: 5_000 });
    const item = page.locator('.process', { hasText: APP });
    expect(await item.textContent()).toContain('recording');
    expect(await item.textContent()).toContain('exited · timeout');

    const blocksInFile = new Set(messages.flatMap((m) => (m.type === 'block' ? [m.id] : []))).size;
    expect(blocksInFile).toBeGreaterThan(0);
    await expect.poll(async () => page.locator('#blocks tr[data-block]').count(), { timeout: 5_000 }).toBe(blocksInFile);
    expect(await page.locator('#blocks tr[data-block]', { hasText: 'spinTheWheelsSynchronously' }).count()).toBeGreaterThan(0);
    const points = messages.filter((m) => m.type === 'loop').length;
    expect(Number(await page.locator('#delay canvas').getAttribute('data-points'))).toBe(points);
    const timeline = (await page.locator('#shutdown').textContent()) ?? '';
    expect(timeline).toContain('close the fixture server');
    expect(timeline).toContain('forgetToClearThisInterval');
    await screenshot(page, 'recording');
  });

  it('reconnects to a restarted dashboard and shows the run it opened', async () => {
    const port = dashboard.port;
    await dashboard.close();
    await page.locator('#conn[data-state="closed"]').waitFor({ timeout: 5_000 });
    expect(await page.locator('#conn').textContent()).toMatch(/disconnected · retrying in \d+ s/);
    await screenshot(page, 'disconnected', false);
    // Uploaded recordings live in memory; the restarted dashboard opens the file at start instead.
    dashboard = await startDashboard({ port, host: '127.0.0.1', data: dataDir, open: [recording], log: () => undefined });
    await page.locator('#conn[data-state="open"]').waitFor({ timeout: 15_000 });
    await page.locator('.process', { hasText: APP }).waitFor({ timeout: 5_000 });
    expect(await page.locator('#shutdown').textContent()).toContain('close the fixture server');
    expect(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e))).toEqual([]);
  });

  it('with a token, needs only the printed URL once; the cookie does the rest', async () => {
    const secured = await startDashboard({ port: 0, host: '127.0.0.1', data: null, token: 'browser-test-token', log: () => undefined });
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    try {
      const p = await context.newPage();
      const pageErrors = watchErrors(p);
      expect(secured.url).toContain('?token=browser-test-token');
      await p.goto(secured.url);
      await p.locator('#conn[data-state="open"]').waitFor({ timeout: 5_000 });
      // The token left the address bar for a cookie, and REST, /live and the upload all pass.
      expect(p.url()).not.toContain('token');
      await p.setInputFiles('#upload-input', recording);
      await p.locator('.process', { hasText: APP }).waitFor({ timeout: 5_000 });
      await p.locator('#blocks tr[data-block]').first().waitFor({ timeout: 5_000 });
      expect(pageErrors).toEqual([]);

      const stranger = await browser.newContext();
      const q = await stranger.newPage();
      const res = await q.goto(new URL('/', secured.url).href);
      expect(res?.status()).toBe(401);
      await stranger.close();
    } finally {
      await context.close();
      await secured.close();
    }
  });
});
