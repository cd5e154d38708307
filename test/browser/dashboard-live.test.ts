/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The page against the real dashboard with a real agent streaming into it: the process list, the
// live delay chart, a block named by its function (seen while still in progress, within 1 s of the
// agent sending it), then the shutdown timeline with the cleanup step and the forgotten interval.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startDashboard, type RunningDashboard } from '../../dist/dashboard/server/main.js';
import type { RunSummary } from '../../shared/dashboard-api.js';
import { runNode, tempDir, type RunResult } from '../helpers/run-node.js';
import { assertBuilt, launchBrowser, screenshot, watchErrors } from './browser.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'watched-app.mjs');
const APP = 'browser-fixture';

let dashboard: RunningDashboard;
let browser: Browser;
let page: Page;
let errors: string[];
let fixture: (Promise<RunResult> & { child: import('node:child_process').ChildProcess }) | null = null;
let stdout = '';

async function runs(): Promise<RunSummary[]> {
  const res = await fetch(new URL('api/runs', dashboard.url));
  return ((await res.json()) as { runs: RunSummary[] }).runs;
}

beforeAll(async () => {
  assertBuilt();
  dashboard = await startDashboard({ port: 0, host: '127.0.0.1', data: tempDir('loopscope-browser-'), log: () => undefined });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  errors = watchErrors(page);
  // Record, in the page, when each block row first appears and whether it was in progress then.
  await page.addInitScript(() => {
    const w = window as unknown as { __blocksSeen: { id: string; seenAt: number; ts: number; inProgress: boolean; text: string }[] };
    w.__blocksSeen = [];
    const seen = new Set<string>();
    new MutationObserver(() => {
      for (const row of document.querySelectorAll<HTMLElement>('tr[data-block]')) {
        const id = row.dataset.block ?? '';
        if (seen.has(id)) continue;
        seen.add(id);
        w.__blocksSeen.push({ id, seenAt: Date.now(), ts: Number(row.dataset.ts), inProgress: row.classList.contains('in-progress'), text: row.textContent ?? '' });
      }
    }).observe(document, { childList: true, subtree: true });
  });
  fixture = runNode(FIXTURE, {
    agent: 'import',
    timeoutMs: 60_000,
    env: {
      LOOPSCOPE_DASHBOARD: dashboard.ingestUrl,
      LOOPSCOPE_APP: APP,
      LOOPSCOPE_INTERVAL_MS: '250',
      LOOPSCOPE_BLOCK_MS: '100',
      LOOPSCOPE_HANG_MS: '700',
    },
    onStdout: (d) => (stdout += d),
  });
}, 60_000);

afterAll(async () => {
  fixture?.child.kill('SIGKILL');
  await browser?.close();
  await dashboard?.close();
});

describe('dashboard page with a live agent', () => {
  it('lists the live process with its pid and phase', async () => {
    await page.goto(dashboard.url);
    const item = page.locator('.process', { hasText: APP });
    await item.waitFor({ timeout: 10_000 });
    const pid = fixture!.child.pid!;
    await expect.poll(async () => item.textContent(), { timeout: 5_000 }).toContain(`pid ${pid}`);
    expect(await item.getAttribute('data-phase')).toMatch(/^(running|blocked)$/);
    await item.locator('button').click();
    await page.locator('.run-head h2', { hasText: APP }).waitFor();
    await screenshot(page, 'process-list');
  });

  it('draws points on the delay chart as samples arrive', async () => {
    const canvas = page.locator('#delay canvas');
    const points = async () => Number((await canvas.getAttribute('data-points')) ?? 0);
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    const before = await points();
    await expect.poll(points, { timeout: 5_000 }).toBeGreaterThan(before);
    await expect(page.locator('#delay .card-aside').textContent()).resolves.toMatch(/p50 [\d.]+ ms · p99/);
    await screenshot(page, 'live-charts');
  });

  it('shows a block with its function name, in progress first, within 1 s of the agent sending it', async () => {
    const row = page.locator('#blocks tr[data-block]', { hasText: 'spinTheWheelsSynchronously' });
    await row.first().waitFor({ timeout: 10_000 });
    // Wait for one more block seen from its start, so the page was already open when it was sent.
    const seenCount = await page.evaluate(() => (window as unknown as { __blocksSeen: unknown[] }).__blocksSeen.length);
    await expect
      .poll(async () => page.evaluate(() => (window as unknown as { __blocksSeen: unknown[] }).__blocksSeen.length), { timeout: 10_000 })
      .toBeGreaterThan(seenCount);
    const seen = await page.evaluate(() => (window as unknown as { __blocksSeen: { id: string; seenAt: number; ts: number; inProgress: boolean; text: string }[] }).__blocksSeen);
    const fresh = seen.slice(seenCount);
    const first = fresh[0]!;
    const latency = first.seenAt - first.ts;
    console.log(`block ${first.id}: on screen ${latency} ms after the agent stamped it (in progress: ${first.inProgress})`);
    expect(first.text).toContain('spinTheWheelsSynchronously');
    expect(first.inProgress).toBe(true);
    expect(latency).toBeGreaterThanOrEqual(0);
    expect(latency).toBeLessThan(1000);
    await screenshot(page, 'blocks');
  });

  it('lists the sync I/O call with its caller', async () => {
    const syncRow = page.locator('#syncio tr', { hasText: 'readOwnSourceSynchronously' });
    await syncRow.first().waitFor({ timeout: 10_000 });
    expect(await syncRow.first().textContent()).toContain('readFileSync');
  });

  it('after the shutdown, shows the step, the straggler by name, and the outcome', async () => {
    fixture!.child.kill('SIGTERM');
    const result = await fixture!;
    // The fixture lets the loop drain (exit: false); the forgotten interval keeps it alive until
    // the 1.5 s deadline forces exit code 1.
    expect(result.code).toBe(1);
    const summary = await expect
      .poll(async () => (await runs()).find((r) => r.app === APP && r.phase === 'exited'), { timeout: 10_000 })
      .toBeTruthy()
      .then(async () => (await runs()).find((r) => r.app === APP)!);
    expect(summary.outcome).toBe('timeout');

    const phase = page.locator('#run-phase');
    await expect.poll(async () => phase.textContent(), { timeout: 5_000 }).toContain(`exited · ${summary.outcome} · code 1`);
    const timeline = page.locator('#shutdown');
    await expect.poll(async () => timeline.textContent(), { timeout: 5_000 }).toContain('close the fixture server');
    const text = (await timeline.textContent()) ?? '';
    expect(text).toContain('forgetToClearThisInterval');
    expect(text).toContain('never closed');
    // The fixture's stdout (a pipe to the test) stays open to the end like in every process: drawn
    // grey as such, and not listed with what was left open.
    expect(text).toContain('stdio · stays open');
    const stillOpen = (await page.locator('#shutdown .still-open').textContent()) ?? '';
    expect(stillOpen).toContain('forgetToClearThisInterval');
    expect(stillOpen).not.toContain('stdout');
    expect(text).toContain('exit code 1');
    expect(text).toMatch(/hang · \d+ kept alive/);
    // The total cleanup time, in large type, is the one the agent measured.
    const big = (await page.locator('#shutdown .sd-total .big').textContent()) ?? '';
    expect(big).toMatch(/^[\d.]+ (ms|s)$/);
    expect(await page.locator('.process', { hasText: APP }).textContent()).toContain('exited · timeout');
    await screenshot(page, 'shutdown-timeline');

    await page.setViewportSize({ width: 420, height: 900 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'narrow-window');
    expect(errors).toEqual([]);
  });
});
