// The app of bench/capture-rate.js: BLOCKS busy loops of BLOCK_MS each in setTimeout callbacks,
// GAP_MS apart, then one JSON line with when each one ran as the app saw it (epoch ms).
const blocks = Number(process.env.BLOCKS ?? 200);
const blockMs = Number(process.env.BLOCK_MS ?? 300);
const gapMs = Number(process.env.GAP_MS ?? 150);

function busyBlock(ms) {
  const until = performance.now() + ms;
  let n = 0;
  while (performance.now() < until) n++;
  return n;
}

const seen = [];
function next() {
  if (seen.length === blocks) {
    // a few heartbeats for the agent to see the last block end before the process does
    setTimeout(() => console.log(JSON.stringify({ blocks: seen })), 400);
    return;
  }
  const from = performance.now();
  busyBlock(blockMs);
  seen.push([performance.timeOrigin + from, performance.now() - from]);
  setTimeout(next, gapMs);
}
// past start-up (the worker's modules loaded), as for a service that has been up a while
setTimeout(next, 500);
