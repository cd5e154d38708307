// Reading the data folder back at start-up, after the server listens (461 MB of old data once
// took 19 s before the dashboard answered at all). The folder is first brought under its bounds
// from the listing alone (age, then bytes, oldest first), then live runs are read newest first,
// each shown as soon as its file is read, and a run whose agent reconnects meanwhile jumps the
// queue so its resent batches are deduplicated against what its file holds.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { kindOf, uploadTime, type DataFileKind } from './data-folder.js';
import { readNdjsonFile } from './ndjson-reader.js';
import { listDataFolder, removeFiles, runFileBase, type DataFileInfo } from './persist.js';
import { newEntry, type RunEntry } from './run-entry.js';
import { recoverRunFile } from './seq-file.js';
import type { Store } from './store.js';
import { UploadSession } from './uploads.js';

export interface LoadResult {
  runs: number;
  files: number;
  skippedLines: number;
  /** Files deleted before reading, to bring the folder under its age and byte bounds. */
  prunedFiles: number;
  ms: number;
}

interface Item {
  base: string;
  kind: DataFileKind;
  data: DataFileInfo | null;
  seq: DataFileInfo | null;
  /** Arrival: an upload's time, else the file's last write. */
  time: number;
}

function itemsOf(listing: readonly DataFileInfo[]): Item[] {
  const items = new Map<string, Item>();
  for (const f of listing) {
    const isSeq = f.name.endsWith('.seq');
    const base = f.name.slice(0, isSeq ? -'.seq'.length : -'.ndjson'.length);
    let item = items.get(base);
    if (!item) {
      const kind = kindOf(base);
      item = { base, kind, data: null, seq: null, time: 0 };
      items.set(base, item);
    }
    if (isSeq) item.seq = f;
    else item.data = f;
  }
  for (const item of items.values()) {
    item.time = (item.kind === 'upload' ? uploadTime(item.base) : null) ?? item.data?.mtimeMs ?? item.seq?.mtimeMs ?? 0;
  }
  return [...items.values()];
}

function namesOf(item: Item): string[] {
  return [item.data?.name, item.seq?.name].filter((n): n is string => n !== undefined);
}

export async function loadDataFolder(store: Store): Promise<LoadResult> {
  const started = performance.now();
  const result: LoadResult = { runs: 0, files: 0, skippedLines: 0, prunedFiles: 0, ms: 0 };
  const dir = store.options.dir;
  const folder = store.folder;
  if (!dir || !folder) return result;
  const log = store.options.log;
  const listing = listDataFolder(dir);
  for (const f of listing) folder.set(f.name, f.bytes);

  // Bounds first, from the listing: what would be pruned is never read.
  const now = Date.now();
  const kept: Item[] = [];
  const drop = (item: Item): void => {
    const names = namesOf(item);
    try {
      removeFiles(dir, names);
      for (const n of names) folder.delete(n);
      result.prunedFiles += names.length;
    } catch (err) {
      store.diskError(`delete ${names[0]}`, err as NodeJS.ErrnoException);
    }
  };
  for (const item of itemsOf(listing).sort((a, b) => a.time - b.time)) {
    if (!item.data || item.time < now - store.maxAgeMs) drop(item);
    else kept.push(item);
  }
  for (const item of [...kept]) {
    if (folder.total <= folder.maxBytes) break;
    drop(item);
    kept.splice(kept.indexOf(item), 1);
  }
  if (result.prunedFiles > 0) log(`data: ${result.prunedFiles} file(s) deleted at start-up to keep the folder within ${store.maxAgeMs / 86_400_000} days and ${folder.maxBytes} bytes`);

  const pending = new Map<string, Item>();
  for (const item of kept) if (item.kind === 'live') pending.set(item.base, item);
  const loading = new Map<string, Promise<void>>();
  const loadLive = (item: Item): Promise<void> => {
    let p = loading.get(item.base);
    if (!p) {
      p = readLive(store, dir, item, result).finally(() => pending.delete(item.base));
      loading.set(item.base, p);
    }
    return p;
  };
  store.setLoadGate((run) => {
    const item = pending.get(runFileBase(run));
    return item ? loadLive(item) : null;
  });
  try {
    for (const item of [...pending.values()].reverse()) {
      if (store.closed) break;
      await loadLive(item);
    }
  } finally {
    store.setLoadGate(null);
  }
  // Oldest first, so that a run uploaded twice shows its latest upload.
  for (const item of kept) {
    if (store.closed) break;
    if (item.kind !== 'live') await readUpload(store, dir, item, result);
  }
  store.prune();
  result.runs = store.size;
  result.ms = Math.round(performance.now() - started);
  return result;
}

async function readLive(store: Store, dir: string, item: Item, result: LoadResult): Promise<void> {
  const log = store.options.log;
  const name = `${item.base}.ndjson`;
  const path = join(dir, name);
  const rec = recoverRunFile(path, join(dir, `${item.base}.seq`));
  if (rec.distrusted) log(`data: ${name}: ${rec.distrusted}; ignored (a resent batch may be stored twice)`);
  if (rec.cut) log(`data: ${name} was left mid-write (a crash?): cut off ${rec.cut}`);
  let size = 0;
  try {
    size = statSync(path).size;
  } catch {
    // read below reports it
  }
  store.folder!.set(name, size);
  let e: RunEntry | null = null;
  try {
    const read = await readNdjsonFile(path, {
      onMessage: (m) => {
        if (!e) {
          const existing = store.runs.get(m.run);
          if (existing) return `run ${m.run} is already on the dashboard`;
          e = newEntry(m.run, 'live', item.time);
          e.base = item.base;
          e.appliedSeq = e.writtenSeq = e.queuedSeq = rec.lastSeq;
          e.fileBytes = size;
          store.runs.set(m.run, e);
        } else if (m.run !== e.id) return `a message of run ${m.run} in the file of run ${e.id}`;
        store.fold(e, m, false);
        return null;
      },
    });
    result.files++;
    result.skippedLines += read.skipped;
    if (read.skipped > 0) log(`data: ${name}: ${read.skipped} line(s) skipped (${read.firstError})`);
  } catch (err) {
    log(`data: cannot read ${name}: ${(err as Error).message}`);
  }
  const loaded = e as RunEntry | null;
  if (loaded) {
    const started = loaded.state.hello?.startedAt;
    if (started !== undefined && started <= Date.now()) loaded.arrivedAt = Math.min(loaded.arrivedAt, started);
    store.publishIfChanged(loaded, true);
  }
}

async function readUpload(store: Store, dir: string, item: Item, result: LoadResult): Promise<void> {
  const name = `${item.base}.ndjson`;
  const session = new UploadSession(store, { base: item.base, uploadedAt: item.time, bytes: item.data?.bytes ?? 0 });
  try {
    const read = await readNdjsonFile(join(dir, name), { onMessage: (m) => session.add(m) });
    result.files++;
    result.skippedLines += read.skipped;
  } catch (err) {
    store.options.log(`data: cannot read all of ${name}: ${(err as Error).message}`);
  }
  // What was read shows even when the rest could not be: the file stays as it is.
  await session.finish();
}
