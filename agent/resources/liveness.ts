// Whether a tracked resource is still open, whether it keeps the loop alive, and the facts that
// identify it, all read from the objects themselves: the tracker installs no destroy hook (it
// costs 10x on await loops), so a handle's JS owner and a timer's own fields are the truth.
//
// Every read is defensive: these are Node internals and another Node version may rename them, in
// which case the resource reads as closed rather than throwing into the agent's sampling.

type Details = Record<string, string | number | boolean>;

interface TimerLike {
  _destroyed?: boolean;
  _idleTimeout?: number;
  _repeat?: number | null;
  hasRef?: () => boolean;
}

interface HandleLike {
  hasRef?: () => boolean;
  threadId?: unknown;
  [key: symbol]: unknown;
}

interface OwnerLike {
  _handle?: unknown;
  address?: () => unknown;
  remoteAddress?: unknown;
  remotePort?: unknown;
  localPort?: unknown;
  pid?: unknown;
  spawnfile?: unknown;
  listen?: unknown;
}

let ownerSymbol: symbol | null = null;

/** Node keeps a handle's JS owner on a private symbol described 'owner_symbol'; found once. */
export function ownerOf(handle: object): OwnerLike | null {
  const h = handle as HandleLike;
  if (ownerSymbol === null) {
    for (const s of Object.getOwnPropertySymbols(handle)) {
      if (s.description === 'owner_symbol') {
        ownerSymbol = s;
        break;
      }
    }
    if (ownerSymbol === null) return null;
  }
  const owner = h[ownerSymbol];
  return owner && typeof owner === 'object' ? (owner as OwnerLike) : null;
}

export function isAlive(hookType: string, resource: object, owned: boolean): boolean {
  if (hookType === 'Timeout') {
    const t = resource as TimerLike;
    return t._destroyed !== true && (t._idleTimeout ?? -1) >= 0;
  }
  if (owned) {
    const owner = ownerOf(resource);
    return owner !== null && owner._handle === resource;
  }
  if (hookType === 'WORKER') {
    // Once the thread is gone, the native handle's hasRef() returns undefined (measured, Node 20).
    const fn = (resource as HandleLike).hasRef;
    return typeof fn === 'function' && typeof fn.call(resource) === 'boolean';
  }
  // Unknown (addon or library) types: alive while reachable; the WeakRef tells the rest.
  return true;
}

export function keepsAlive(resource: object): boolean {
  try {
    const fn = (resource as HandleLike).hasRef;
    return typeof fn === 'function' ? Boolean(fn.call(resource)) : false;
  } catch {
    return false;
  }
}

function addressDetails(out: Details, value: unknown): void {
  if (typeof value === 'string') {
    out.path = value;
  } else if (value && typeof value === 'object') {
    const a = value as { address?: unknown; port?: unknown };
    if (typeof a.address === 'string') out.address = a.address;
    if (typeof a.port === 'number') out.port = a.port;
  }
}

/** Facts that identify a resource: port, remote peer, pid, file, delay. Never throws. */
export function detailsOf(hookType: string, resource: object, owned: boolean): Details | undefined {
  const out: Details = {};
  try {
    if (hookType === 'Timeout') {
      const t = resource as TimerLike;
      if (typeof t._idleTimeout === 'number') out.delayMs = t._idleTimeout;
      out.repeat = t._repeat !== null && t._repeat !== undefined;
    } else if (hookType === 'WORKER') {
      const id = (resource as HandleLike).threadId;
      if (typeof id === 'number') out.threadId = id;
    } else if (owned) {
      const owner = ownerOf(resource);
      if (owner) ownerDetails(out, owner);
    }
  } catch {
    // a detail is a nicety; a getter that throws leaves it out
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function ownerDetails(out: Details, owner: OwnerLike): void {
  if (typeof owner.pid === 'number') out.pid = owner.pid;
  if (typeof owner.spawnfile === 'string') out.file = owner.spawnfile;
  if (typeof owner.remoteAddress === 'string') out.remoteAddress = owner.remoteAddress;
  if (typeof owner.remotePort === 'number') out.remotePort = owner.remotePort;
  if (typeof owner.listen === 'function' && typeof owner.address === 'function') {
    addressDetails(out, owner.address());
  } else if (typeof owner.localPort === 'number') {
    out.localPort = owner.localPort;
  } else if (typeof owner.address === 'function' && owner.constructor?.name === 'Socket' && !('remoteAddress' in out)) {
    // dgram sockets
    try {
      addressDetails(out, owner.address());
    } catch {
      // not bound yet
    }
  }
}
