// /live with a browser that stops reading: the dashboard skips its events past the per-client
// buffer limit instead of buffering without bound, keeps serving a healthy browser, and sends the
// slow one a fresh run list once it drains.
import { afterAll, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../shared/dashboard-api.js';
import type { Message } from '../../shared/protocol.js';
import { connect, hello, liveMessages, startDashboardProcess, waitFor, type DashboardProcess } from './dashboard-helpers.js';

function bigBlock(run: string, id: number): Message {
  const now = Date.now();
  return {
    type: 'block',
    run,
    ts: now,
    id,
    startedAt: now - 200,
    durationMs: 200,
    ended: true,
    native: false,
    stackKind: 'live',
    stack: Array.from({ length: 200 }, (_, i) => ({ functionName: `someRatherLongFunctionName${i}`, file: `/srv/app/lib/module-${i}.js`, line: i + 1, column: 5 })),
    resource: null,
    syncCall: null,
    captureMs: 1,
  };
}

describe('/live with a slow browser', () => {
  let dash: DashboardProcess;
  afterAll(async () => {
    await dash?.stop();
  });

  it('skips events for a browser that cannot keep up, and resyncs it when it drains', async () => {
    dash = await startDashboardProcess({});
    const slow = await connect(`ws://127.0.0.1:${dash.port}/live`);
    await waitFor(() => slow.received.length > 0, 5000, 'runs');
    // Stop reading: the kernel buffers fill, then the dashboard's send buffer for this client.
    slow.ws.pause();
    const fast = await connect(`ws://127.0.0.1:${dash.port}/live`);
    const agent = await connect(`ws://127.0.0.1:${dash.port}/ingest`);
    const run = 'flood-run';
    agent.ws.send(JSON.stringify({ seq: 0, messages: [hello(run, 'flood')] }));
    let id = 0;
    const frames = 40;
    for (let seq = 1; seq <= frames; seq++) {
      // ~1 MB of events per frame for each browser.
      agent.ws.send(JSON.stringify({ seq, messages: Array.from({ length: 40 }, () => bigBlock(run, id++)) }));
      await waitFor(() => agent.received.some((r) => (r as { seq: number }).seq === seq), 10_000, `ack ${seq}`);
    }
    const sent = frames * 40;
    await waitFor(() => liveMessages(fast.received).filter((m) => m.type === 'block').length === sent, 20_000, 'fast browser got every block');
    await waitFor(() => dash.logs.some((l) => /live: a browser is not keeping up/.test(l)), 5000, 'lagging log');

    slow.ws.resume();
    await waitFor(() => liveMessages(slow.received).length > 0, 10_000, 'slow browser reads again');
    await new Promise((r) => setTimeout(r, 300));
    // A later event lets the dashboard see the drained client and resync it.
    agent.ws.send(JSON.stringify({ seq: frames + 1, messages: [bigBlock(run, id++)] }));
    const resync = await waitFor(() => (slow.received as LiveEvent[]).slice(1).find((e) => e.kind === 'runs'), 10_000, 'runs resync');
    expect(resync.kind === 'runs' && resync.runs.some((r) => r.run === run)).toBe(true);
    const slowBlocks = liveMessages(slow.received).filter((m) => m.type === 'block').length;
    // What reached it is what the kernel's socket buffers and the 1 MiB limit held (~250 of
    // these 25 KB blocks here), not the 40 MB it was sent.
    expect(slowBlocks).toBeLessThan(sent / 3);
    expect(slowBlocks).toBeGreaterThan(0);
    for (const c of [slow, fast, agent]) c.ws.close();
  });

  it('keeps answering peers connected across ping rounds and drops the ones that stopped answering', async () => {
    const pinging = await startDashboardProcess({ pingMs: 150 });
    try {
      const agent = await connect(`ws://127.0.0.1:${pinging.port}/ingest`);
      const browser = await connect(`ws://127.0.0.1:${pinging.port}/live`);
      // A peer whose machine vanished: its socket stays open but nothing answers a ping.
      const dead = await connect(`ws://127.0.0.1:${pinging.port}/live`, { autoPong: false });
      const deadClosed = await Promise.race([dead.closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      expect(deadClosed?.code).toBe(1006);
      agent.ws.send(JSON.stringify({ seq: 0, messages: [hello('ping-run')] }));
      await waitFor(() => agent.received.length === 1, 5000, 'ack after ping rounds');
      await waitFor(() => liveMessages(browser.received).some((m) => m.run === 'ping-run'), 5000, 'live after ping rounds');
      expect(agent.ws.readyState).toBe(agent.ws.OPEN);
      expect(browser.ws.readyState).toBe(browser.ws.OPEN);
      agent.ws.close();
      browser.ws.close();
    } finally {
      await pinging.stop();
    }
  });
});
