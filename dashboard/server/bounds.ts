// What the dashboard keeps of any one message. The schema says what a field is, not how big it
// may be: a valid block with a 2 MB stack is still valid. Every message is cut to these caps as
// it enters the store, before it is folded, written or forwarded to browsers, so memory, disk and
// the page only ever see bounded messages. Cutting never breaks the schema (no field has a
// maximum length there, and a cut string keeps at least one character).
import type { Message } from '../../shared/protocol.js';

export interface FieldCaps {
  /** Characters kept of an ordinary string (names, paths, types). */
  chars: number;
  /** Characters kept of a free-text field: an error with its stack, a notice, a reason. */
  textChars: number;
  /** Frames kept per stack, innermost first (the agent itself captures at most 100). */
  frames: number;
  /** Items kept per list (argv, resources, sync call sites...). */
  items: number;
  /** Keys kept per map (config, counts by type, details). */
  keys: number;
}

/**
 * Documented defaults, then tighter sets tried in turn while a message is still larger than
 * MAX_STORED_MESSAGE_BYTES (a shutdown snapshot of 500 resources each with a long stack).
 */
export const FIELD_CAPS: readonly FieldCaps[] = [
  { chars: 2048, textChars: 16 * 1024, frames: 100, items: 500, keys: 200 },
  { chars: 512, textChars: 4096, frames: 30, items: 100, keys: 50 },
  { chars: 128, textChars: 1024, frames: 10, items: 20, keys: 20 },
  { chars: 64, textChars: 256, frames: 3, items: 5, keys: 10 },
];

/** A stored message is at most this large as JSON; its fields are cut further until it fits. */
export const MAX_STORED_MESSAGE_BYTES = 256 * 1024;

/** Fields whose strings are free text and get textChars. */
const TEXT_KEYS = new Set(['error', 'message', 'reason']);
/** Lists of frames, capped by frames rather than items. */
const STACK_KEYS = new Set(['stack']);

/** What was cut, per run; the page and GET /api/runs/:run show it. */
export interface RunCuts {
  /** Strings, stacks, lists and maps cut short as messages entered the store. */
  fieldsCut: number;
  /** Older detail (blocks, chart points, notices, shutdown steps) dropped to keep the run under its memory bound. */
  detailDropped: number;
  /** The run's detail was dropped from memory to keep the whole store under its bound (its summary stays). */
  evicted: boolean;
  /** Messages acknowledged but not written to the data folder (the run's or the folder's disk bound). */
  notWritten: number;
  notWrittenBytes: number;
  /** Messages of an uploaded recording left out (invalid lines are counted by the upload's answer). */
  uploadLeftOut: number;
}

export function createCuts(): RunCuts {
  return { fieldsCut: 0, detailDropped: 0, evicted: false, notWritten: 0, notWrittenBytes: 0, uploadLeftOut: 0 };
}

export interface BoundedMessage {
  message: Message;
  /** The stored message as one NDJSON line (with its newline): what is written and counted. */
  line: string;
  fieldsCut: number;
}

/** Cuts one validated message to the caps; returns the message itself when nothing was cut. */
export function boundMessage(m: Message): BoundedMessage {
  let fieldsCut = 0;
  let message = m;
  for (let level = 0; level < FIELD_CAPS.length; level++) {
    const counter = { cut: 0 };
    const bounded = capValue(m, '', FIELD_CAPS[level]!, counter) as Message;
    const json = JSON.stringify(bounded);
    if (counter.cut > 0) message = fixCounts(m, bounded);
    else message = m;
    fieldsCut = counter.cut;
    if (json.length <= MAX_STORED_MESSAGE_BYTES || level === FIELD_CAPS.length - 1) {
      return { message, line: (message === bounded ? json : JSON.stringify(message)) + '\n', fieldsCut };
    }
  }
  /* c8 ignore next: the loop always returns at its last level */
  return { message, line: JSON.stringify(message) + '\n', fieldsCut };
}

/** Keeps counts that say how much a list held true after the list was cut. */
function fixCounts(original: Message, bounded: Message): Message {
  if (original.type === 'shutdown.start' && bounded.type === 'shutdown.start') {
    const left = original.resources.length - bounded.resources.length;
    if (left > 0) return { ...bounded, snapshotTruncated: original.snapshotTruncated + left };
  }
  return bounded;
}

function cutString(s: string, max: number): string {
  let end = max - 1;
  // Never split a surrogate pair: a lone half is not text.
  const code = s.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${s.slice(0, Math.max(1, end))}…`;
}

function capValue(value: unknown, key: string, caps: FieldCaps, counter: { cut: number }): unknown {
  if (typeof value === 'string') {
    const max = TEXT_KEYS.has(key) ? caps.textChars : caps.chars;
    if (value.length <= max) return value;
    counter.cut++;
    return cutString(value, max);
  }
  if (Array.isArray(value)) {
    const max = STACK_KEYS.has(key) ? caps.frames : caps.items;
    let list = value;
    if (list.length > max) {
      counter.cut++;
      list = list.slice(0, max);
    }
    let changed = list !== value;
    const out = list.map((item) => {
      const capped = capValue(item, '', caps, counter);
      if (capped !== item) changed = true;
      return capped;
    });
    return changed ? out : value;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    let kept = entries;
    if (entries.length > caps.keys) {
      counter.cut++;
      kept = entries.slice(0, caps.keys);
    }
    let changed = kept !== entries;
    const out: [string, unknown][] = [];
    for (const [k, v] of kept) {
      // Keys of maps (config names, resource types) are strings from the network too.
      let name = k;
      if (name.length > caps.chars) {
        counter.cut++;
        name = cutString(name, caps.chars);
        changed = true;
      }
      const capped = capValue(v, k, caps, counter);
      if (capped !== v) changed = true;
      out.push([name, capped]);
    }
    // fromEntries defines own properties: a key named __proto__ stays a key.
    return changed ? Object.fromEntries(out) : value;
  }
  return value;
}
