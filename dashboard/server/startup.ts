// What the dashboard does once it listens: read the data folder back and open the recordings
// given with --open, both through the same bounded, streaming reader an upload uses. Never
// throws: a file that cannot be read is logged and the dashboard carries on.
import { terminalSafeShort } from '../../shared/terminal-text.js';
import { resolve } from 'node:path';
import { FIELD_CAPS, MAX_STORED_MESSAGE_BYTES } from './bounds.js';
import { MAX_LINE_BYTES, readNdjsonFile } from './ndjson-reader.js';
import type { Store } from './store.js';

function mib(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}

/** One line for the start-up log: every bound a client's data meets, with its value. */
export function describeBounds(store: Store): string {
  const caps = FIELD_CAPS[0]!;
  const parts = [
    `fields ${caps.chars} chars (text ${caps.textChars}), ${caps.frames} frames per stack, ${caps.items} items per list, ${caps.keys} keys per map, ${MAX_STORED_MESSAGE_BYTES / 1024} KiB per message`,
    `${mib(store.maxRunBytes)} per run and ${mib(store.maxMemoryBytes)} for all runs in memory`,
    `${store.maxRunsPerApp} live runs per app, ${store.maxUploads} uploads, ${store.maxRuns} runs in all`,
  ];
  if (store.folder) {
    parts.push(`data folder ${mib(store.folder.maxBytes)} (${mib(store.folder.runFileBytes)} per run), runs older than ${store.maxAgeMs / 86_400_000} days deleted`);
  }
  parts.push(`lines of ${mib(MAX_LINE_BYTES)} at most`);
  return parts.join('; ');
}

export async function loadInBackground(store: Store, dataDir: string | null, open: readonly string[], log: (line: string) => void): Promise<void> {
  try {
    const loaded = await store.load();
    if (loaded.files > 0) log(`data: ${loaded.runs} run(s) loaded from ${dataDir} in ${loaded.ms} ms${loaded.skippedLines ? ` (${loaded.skippedLines} invalid lines skipped)` : ''}`);
  } catch (err) {
    log(`data: loading ${dataDir} stopped: ${(err as Error).message}`);
  }
  for (const file of open) {
    if (store.closed) return;
    const upload = store.beginUpload();
    try {
      const result = await readNdjsonFile(resolve(file), { onMessage: (m) => upload.add(m), wait: () => upload.backpressure() });
      const { runs } = await upload.finish();
      log(`opened ${file}: ${runs.length} run(s)${result.skipped ? `, ${result.skipped} invalid lines skipped (${terminalSafeShort(String(result.firstError))})` : ''}`);
    } catch (err) {
      upload.abort();
      log(`cannot open ${file}: ${(err as Error).message}`);
    }
  }
}
