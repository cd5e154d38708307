// `loopscope demo` end to end: the dashboard, the demo app with the agent, and the page showing
// its blocks, its sync I/O and, after the scheduled shutdown, the slow step and the forgotten
// poller; then the app comes back as a new run of the same name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startDemo, type RunningDemo } from '../../dist/dashboard/demo/run-demo.js';
import { assertBuilt, launchBrowser, screenshot, watchErrors } from './browser.js';

let demo: RunningDemo;
let browser: Browser;
let page: Page;
let errors: string[];
const lines: string[] = [];

beforeAll(async () => {
  assertBuilt();
  demo = await startDemo({ port: 0, lifetimeMs: 4_500, log: (line) => lines.push(line) });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  errors = watchErrors(page);
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

describe('loopscope demo', () => {
  it('prints the URL and shows every view within a minute', async () => {
    expect(lines).toContain(`loopscope demo: open ${demo.url}`);
    await page.goto(demo.url);
    await page.locator('.process', { hasText: 'demo-shop' }).first().waitFor({ timeout: 10_000 });
    await page.locator('#blocks tr[data-block]', { hasText: 'crunchReportSynchronously' }).first().waitFor({ timeout: 10_000 });
    await page.locator('#syncio tr', { hasText: 'loadConfigFromDisk' }).first().waitFor({ timeout: 10_000 });
    await screenshot(page, 'demo-live');

    const shutdown = page.locator('#shutdown');
    await expect.poll(async () => shutdown.textContent(), { timeout: 15_000 }).toContain('startMetricsPoller');
    await expect.poll(async () => page.locator('#run-phase').textContent(), { timeout: 10_000 }).toContain('exited · timeout · code 1');
    const text = (await shutdown.textContent()) ?? '';
    expect(text).toContain('flush analytics queue');
    expect(text).toContain('never closed');
    await screenshot(page, 'demo-shutdown');

    // The restarted app is a new run of the same app; the old one stays listed with its outcome.
    await expect.poll(async () => page.locator('.process', { hasText: 'demo-shop' }).count(), { timeout: 10_000 }).toBe(2);
    expect(lines.some((l) => l.includes('restarting in 2 s'))).toBe(true);
    expect(errors).toEqual([]);
  }, 45_000);
});
