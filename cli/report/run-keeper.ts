// Which runs of a recording the report keeps in full. A recording may hold any number of runs
// (a CI job appending to one file for months: 822,000 runs in 250 MB), and a run's folded state
// is tens of kilobytes at least, so only a bounded number is kept: the process the user started
// (the first top-level run, the report's root) and the runs most recently heard from; or, with
// --run, the one asked for and its descendants. Every other run is counted, not kept.
import { createRunState, type RunState } from '../../shared/run-state.js';
import { LoopAccumulator } from '../../shared/report-json.js';

/** Runs kept in full unless the caller says otherwise. */
export const KEPT_RUNS = 20;
/**
 * Ids of runs not kept, remembered so that their later lines are known to be theirs and not a
 * new run whose hello is missing (~150 bytes each with the map's growth). Past this many, a run
 * is known by its hello: a line of an unknown run without one counts as a line of a run left out.
 */
export const MAX_REMEMBERED_IDS = 100_000;

/** Why a run is not kept. */
type Fate = 'omitted' | 'refused';

export interface KeptRun {
  state: RunState;
  loop: LoopAccumulator;
  /** Order of first appearance in the file: children are listed in it. */
  seq: number;
}

export interface KeeperOptions {
  maxKept?: number;
  /** Show this run and its descendants only. */
  run?: string;
  maxRememberedIds?: number;
}

export class RunKeeper {
  /** Kept runs, least recently heard from first (a Map keeps insertion order: re-inserted on each message). */
  private readonly kept = new Map<string, KeptRun>();
  private readonly fates = new Map<string, Fate>();
  private readonly maxKept: number;
  private readonly maxIds: number;
  /** The run never evicted: the selected one, or the first top-level run. */
  private rootId: string | null;
  /** With --run: the selected run and the descendants found so far. */
  private readonly wanted: Set<string> | null;
  private seq = 0;
  /** Runs first seen after the id memory was full (their later lines cannot be told apart). */
  private unremembered = 0;
  omittedMessages = 0;
  refusedMessages = 0;

  constructor(options: KeeperOptions = {}) {
    this.maxKept = Math.max(1, options.maxKept ?? KEPT_RUNS);
    this.maxIds = options.maxRememberedIds ?? MAX_REMEMBERED_IDS;
    this.rootId = options.run ?? null;
    this.wanted = options.run !== undefined ? new Set([options.run]) : null;
  }

  /** Whether the id memory overflowed: runs were then counted by their hellos. */
  get countsApproximate(): boolean {
    return this.unremembered > 0;
  }

  get root(): string | null {
    return this.rootId;
  }

  /** Every run seen: kept, omitted and refused. */
  get runsSeen(): number {
    return this.kept.size + this.fates.size + this.unremembered;
  }

  get runsOmitted(): number {
    let n = this.unremembered;
    for (const fate of this.fates.values()) if (fate === 'omitted') n++;
    return n;
  }

  isRefused(run: string): boolean {
    return this.fates.get(run) === 'refused';
  }

  /**
   * The state to fold a message of `run` into, or null when the run is not kept (the message is
   * counted). `hello` carries the parent, which decides membership under --run.
   */
  stateFor(run: string, hello: { parentRun: string | null } | null): KeptRun | null {
    const found = this.kept.get(run);
    if (found) {
      this.kept.delete(run);
      this.kept.set(run, found);
      return found;
    }
    const fate = this.fates.get(run);
    if (fate !== undefined) {
      if (fate === 'refused') this.refusedMessages++;
      else this.omittedMessages++;
      return null;
    }
    if (this.fates.size >= this.maxIds && hello === null) {
      // The id memory is full: a line of an unknown run without a hello most likely belongs to
      // a run already left out; counting it as one more run would inflate the counts.
      this.omittedMessages++;
      return null;
    }
    if (this.wanted) {
      const isWanted = this.wanted.has(run) || (hello?.parentRun != null && this.wanted.has(hello.parentRun));
      if (!isWanted) {
        this.settle(run, 'omitted');
        this.omittedMessages++;
        return null;
      }
      this.wanted.add(run);
    } else if (this.rootId === null && hello !== null && hello.parentRun === null) {
      this.rootId = run;
    }
    const entry: KeptRun = { state: createRunState(run), loop: new LoopAccumulator(), seq: this.seq++ };
    this.kept.set(run, entry);
    this.evictBeyondLimit();
    return entry;
  }

  /** A run whose hello names a protocol this reader does not know: its state is dropped, its lines counted. */
  refuse(run: string): void {
    const had = this.kept.get(run);
    if (had) {
      this.kept.delete(run);
      // Lines read before the hello belong to the refused run too.
      this.refusedMessages += had.state.messages;
      if (this.rootId === run && !this.wanted) this.rootId = null;
    }
    this.fates.delete(run);
    this.settle(run, 'refused');
  }

  /** The kept runs in the order they first appeared in the file. */
  keptInFileOrder(): [string, KeptRun][] {
    return [...this.kept].sort((a, b) => a[1].seq - b[1].seq);
  }

  private evictBeyondLimit(): void {
    if (this.kept.size <= this.maxKept) return;
    for (const [id, entry] of this.kept) {
      if (id === this.rootId) continue;
      this.kept.delete(id);
      this.omittedMessages += entry.state.messages;
      this.settle(id, 'omitted');
      return;
    }
  }

  private settle(run: string, fate: Fate): void {
    if (this.fates.size < this.maxIds) this.fates.set(run, fate);
    else this.unremembered++;
  }
}
