// Refusals a hostile page or client can trigger at will (a browser Origin on /ingest, a
// cross-site POST) are logged once per distinct key, and the set of keys is bounded, so that a
// page in a loop can neither flood the dashboard's log nor grow its memory.

/** Distinct keys remembered at most; past it one line says that further ones are not logged. */
const MAX_KEYS = 100;

export function logOncePer(log: (line: string) => void, what: string): (key: string, line: string) => void {
  const seen = new Set<string>();
  let full = false;
  return (key, line) => {
    if (seen.has(key) || full) return;
    if (seen.size >= MAX_KEYS) {
      full = true;
      log(`${what}: ${MAX_KEYS} distinct cases logged; further ones are refused without a log line`);
      return;
    }
    seen.add(key);
    log(line);
  };
}
