// The data folder's bound in bytes and its file names. One connected run once wrote 222 MB in
// 10 s and connected runs were never pruned; now every byte the store writes is counted here
// first, each live run may fill at most a share of the folder, and the whole folder stays under
// its bound (the oldest finished runs make room, else the bytes are not written and counted).
//
// Names: a live run is `<base>.ndjson` + `<base>.seq`, where base has no dot (persist.ts); an
// uploaded recording is `u<ms>-<n>.upload.ndjson`. The two can never meet. `<base>.recording.ndjson`
// is the former name of an opened recording, still read.

/** Documented default bound of the data folder. */
export const DEFAULT_MAX_DATA_BYTES = 512 * 1024 * 1024;
/** Documented default: finished runs and uploads older than this are deleted. */
export const DEFAULT_MAX_AGE_DAYS = 30;
/** A live run's file may hold at most this share of the folder's bound... */
export const RUN_FILE_SHARE = 1 / 8;
/** ...and past this part of its share only the messages that end a run are written: its shutdown. */
export const RUN_FILE_ROUTINE_PART = 0.9;

export const UPLOAD_SUFFIX = '.upload';
export const LEGACY_RECORDING_SUFFIX = '.recording';

export type DataFileKind = 'live' | 'upload' | 'legacy-recording';

export function kindOf(base: string): DataFileKind {
  if (base.endsWith(UPLOAD_SUFFIX)) return 'upload';
  if (base.endsWith(LEGACY_RECORDING_SUFFIX)) return 'legacy-recording';
  return 'live';
}

let uploadCounter = 0;

/** A fresh upload's file base; its time orders uploads across restarts. */
export function newUploadBase(now = Date.now()): string {
  uploadCounter = (uploadCounter + 1) % 1_000_000;
  return `u${now}-${uploadCounter}${UPLOAD_SUFFIX}`;
}

/** When an upload arrived, from its name (null: not an upload's name). */
export function uploadTime(base: string): number | null {
  const m = /^u(\d{1,15})-\d+\.upload$/.exec(base);
  return m ? Number(m[1]) : null;
}

/** Bytes per file name; the total is what the bound is checked against. */
export class FolderBytes {
  private readonly sizes = new Map<string, number>();
  private sum = 0;

  constructor(readonly maxBytes: number) {}

  get total(): number {
    return this.sum;
  }

  set(name: string, bytes: number): void {
    this.sum += bytes - (this.sizes.get(name) ?? 0);
    this.sizes.set(name, bytes);
  }

  get(name: string): number {
    return this.sizes.get(name) ?? 0;
  }

  delete(name: string): void {
    this.sum -= this.sizes.get(name) ?? 0;
    this.sizes.delete(name);
  }

  fits(bytes: number): boolean {
    return this.sum + bytes <= this.maxBytes;
  }

  /** A live run's file bound. */
  get runFileBytes(): number {
    return Math.max(64 * 1024, Math.floor(this.maxBytes * RUN_FILE_SHARE));
  }
}
