// The bounded list of tracked long-lived resources, in creation order (so its head is the oldest
// table). Entries hold a WeakRef to the resource and the captured, not yet formatted, stack; dead
// ones are swept on each sample. Past `max` entries new resources are counted and dropped, so the
// agent's memory stays bounded whatever the app creates.
import { parseStack, firstUserFrame, isInternalFile, isUserFrame, type UserFrameOptions } from '../../shared/stack.js';
import type { Frame } from '../../shared/protocol.js';
import { isAlive, ownerOf } from './liveness.js';
import { listenStackOf } from './listen-site.js';

/** Frames kept per creation stack once parsed. */
const KEPT_FRAMES = 12;

/** Stack text without Node's internal frames, cut to what is kept: parsing is the costly part. */
function relevantLines(stack: string | undefined): string {
  if (!stack) return '';
  const out: string[] = [];
  for (const line of stack.split('\n')) {
    if (!line.startsWith('    at ') || line.includes('(node:') || line.startsWith('    at node:')) continue;
    out.push(line);
    if (out.length >= KEPT_FRAMES) break;
  }
  return out.join('\n');
}

import type { StackHolder } from './stack-capture.js';

export interface Entry {
  readonly id: number;
  /** async_hooks type as init saw it. */
  readonly hookType: string;
  /** Wire name (getActiveResourcesInfo naming). */
  readonly type: string;
  /** Epoch ms of creation. */
  readonly at: number;
  /** Liveness is read from the handle's JS owner. */
  readonly owned: boolean;
  readonly ref: WeakRef<object>;
  /** Captured stack; V8 formats it on first read of .stack. Null when the budget was spent. */
  holder: StackHolder | null;
  /** Parsed frames, cached after the first read. */
  frames?: Frame[];
  /** Created by the agent itself, or by Node for itself (found when the stack is first read). */
  own?: boolean;
  /** First frame in the app's code, cached with the frames. */
  site?: Frame | null;
}

export class Registry {
  readonly entries: Entry[] = [];
  /** Resources not tracked because the registry was full, since the last take. */
  dropped = 0;

  constructor(
    readonly max: number,
    private readonly frameOptions: UserFrameOptions,
  ) {}

  get full(): boolean {
    return this.entries.length >= this.max;
  }

  add(entry: Entry): void {
    this.entries.push(entry);
  }

  /** Removes closed, collected and agent-owned entries; `forget` clears the resource's other records. */
  sweep(forget: (resource: object) => void): void {
    const list = this.entries;
    let w = 0;
    for (let r = 0; r < list.length; r++) {
      const e = list[r]!;
      const res = e.ref.deref();
      let keep = false;
      if (res !== undefined && e.own !== true) {
        try {
          keep = isAlive(e.hookType, res, e.owned);
        } catch {
          keep = false;
        }
        if (!keep) forget(res);
      }
      if (keep) list[w++] = e;
    }
    list.length = w;
  }

  /**
   * Frames of the creation stack, parsed once and kept from the first frame outside Node's
   * internals (at most KEPT_FRAMES, a bound on memory); marks entries the agent created itself.
   */
  framesOf(e: Entry): Frame[] {
    if (e.frames) return e.frames;
    let frames: Frame[] = [];
    const hadStack = e.holder !== null;
    if (e.holder) {
      try {
        frames = parseStack(relevantLines(e.holder.stack));
      } catch {
        frames = [];
      }
    }
    e.holder = null;
    const start = frames.findIndex((f) => !isInternalFile(f.file));
    // A timer whose whole creation stack is Node's own (the HTTP server's connection-checking
    // interval, set up on 'listening') is housekeeping, not the app's: hidden like the agent's.
    if (hadStack && start < 0 && e.hookType === 'Timeout') e.own = true;
    frames = start < 0 ? [] : frames.slice(start, start + KEPT_FRAMES);
    e.frames = frames;
    const prefixes = this.frameOptions.ignorePrefixes ?? [];
    const first = frames[0];
    // The agent's when its code opened it at its own initiative: an agent frame first and no app
    // frame below (an app call through one of the agent's wrappers, e.g. listen(), stays the app's).
    if (first && prefixes.some((p) => first.file.startsWith(p) || first.file.startsWith(`file://${p}`)) && !frames.some((f) => isUserFrame(f, this.frameOptions))) {
      e.own = true;
    }
    return frames;
  }

  siteOf(e: Entry): Frame | null {
    if (e.site !== undefined) return e.site;
    let site = firstUserFrame(this.framesOf(e), this.frameOptions);
    if ((site === null || !isUserFrame(site, this.frameOptions)) && (e.hookType === 'TCPSERVERWRAP' || e.hookType === 'PIPESERVERWRAP')) {
      const res = e.ref.deref();
      const owner = res ? ownerOf(res) : null;
      const stack = owner ? listenStackOf(owner) : undefined;
      if (stack) {
        const frames = parseStack(relevantLines(stack));
        site = firstUserFrame(frames, this.frameOptions) ?? site;
        if (e.frames && e.frames.length === 0) e.frames = frames;
      }
    }
    e.site = site;
    return site;
  }

  /**
   * Turns captured stacks of resources whose liveness depends on garbage collection into text:
   * a structured stack keeps its frames' receivers (often the resource itself) reachable.
   */
  settle(): void {
    for (const e of this.entries) if (e.holder && !e.owned && e.hookType !== 'Timeout') this.siteOf(e);
  }

  /**
   * Reads the stacks of resources that have lived at least `minAgeMs`, at most `max` per call, so
   * a shutdown snapshot finds them parsed. Short-lived resources are swept before their stack is
   * ever formatted, which is the point of capturing it lazily.
   */
  preparse(now: number, minAgeMs: number, max: number): void {
    let left = max;
    for (const e of this.entries) {
      if (left <= 0 || now - e.at < minAgeMs) break;
      if (e.holder) {
        this.siteOf(e);
        left--;
      }
    }
  }
}
