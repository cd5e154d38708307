// Each run's memory bound and the whole store's. The shared reducer bounds lists by count (3,600
// chart points, 500 blocks...), which says nothing about bytes: 500 blocks of large stacks were
// 1.27 GB. Here a run's state is measured as JSON (what GET /api/runs/:run sends) and, past its
// bound, its oldest detail goes first, taken from whichever list is largest; the counters that
// summarise the run (blocks seen, time blocked, the last shutdown) are never dropped.
import type { RunState, ShutdownState } from '../../shared/run-state.js';

/** Documented default: a run's state is kept under this many bytes of JSON. */
export const DEFAULT_MAX_RUN_BYTES = 1024 * 1024;
/** Documented default: all runs' states together. */
export const DEFAULT_MAX_MEMORY_BYTES = 128 * 1024 * 1024;
/** A run over its bound is cut to this share of it, so the next measure is some way off. */
export const TRIM_TO = 0.75;

export function stateBytes(state: RunState): number {
  return JSON.stringify(state).length;
}

interface Section {
  size: number;
  length(): number;
  /** Items that must stay (the last shutdown). */
  keep: number;
  itemSize(i: number): number;
  drop(n: number): void;
}

function listSection<T>(list: T[], keep = 0, onDrop?: (n: number) => void): Section {
  return {
    size: JSON.stringify(list).length,
    length: () => list.length,
    keep,
    itemSize: (i) => JSON.stringify(list[i]).length + 1,
    drop: (n) => {
      list.splice(0, n);
      onDrop?.(n);
    },
  };
}

function closedSection(sd: ShutdownState): Section {
  return {
    size: JSON.stringify(sd.closed).length,
    length: () => Object.keys(sd.closed).length,
    keep: 0,
    itemSize: () => 24,
    drop: (n) => {
      const keys = Object.keys(sd.closed);
      for (const k of keys.slice(0, n)) delete sd.closed[Number(k)];
    },
  };
}

function sectionsOf(state: RunState): Section[] {
  const sections = [
    listSection(state.blocks, 0, (n) => (state.blocksDropped += n)),
    listSection(state.loop),
    listSection(state.resourcePoints),
    listSection(state.notices),
    listSection(state.syncSites),
    listSection(state.shutdowns, 1),
  ];
  for (const sd of state.shutdowns) {
    sections.push(listSection(sd.steps), listSection(sd.signals), closedSection(sd));
  }
  return sections;
}

/** Drops the oldest detail until the state's JSON is about `target` bytes; returns items dropped. */
export function trimState(state: RunState, target: number): number {
  let total = stateBytes(state);
  if (total <= target) return 0;
  const sections = sectionsOf(state);
  let dropped = 0;
  while (total > target) {
    let largest: Section | null = null;
    let second = 0;
    for (const s of sections) {
      if (s.length() <= s.keep) continue;
      if (!largest || s.size > largest.size) {
        if (largest) second = Math.max(second, largest.size);
        largest = s;
      } else second = Math.max(second, s.size);
    }
    if (!largest) break;
    // Drop from the largest list until it is no longer the largest or the state fits.
    const removable = largest.length() - largest.keep;
    let n = 0;
    let freed = 0;
    while (n < removable && total - freed > target && largest.size - freed >= second) {
      freed += largest.itemSize(n);
      n++;
    }
    if (n === 0) n = 1;
    largest.drop(n);
    largest.size -= freed;
    total -= freed;
    dropped += n;
  }
  return dropped;
}

/**
 * Drops everything but what the process list and the run's header show: the hello, the counters
 * and the last shutdown's outcome. Returns items dropped.
 */
export function evictDetail(state: RunState): number {
  const dropped = trimState(state, 0);
  state.latestResources = null;
  const sd = state.shutdowns[state.shutdowns.length - 1];
  if (sd && sd.start.resources.length > 0) {
    sd.start = { ...sd.start, resources: [], snapshotTruncated: sd.start.snapshotTruncated + sd.start.resources.length };
  }
  if (sd?.hang) sd.hang = { ...sd.hang, keptAlive: [] };
  if (sd?.end) sd.end = { ...sd.end, stillOpen: [] };
  return dropped;
}
