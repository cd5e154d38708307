// Which async_hooks types the tracker follows, and how resources are named on the wire.
//
// Naming: every type the agent reports (resources.byType, oldest, the shutdown snapshot) uses the
// libuv class names of process.getActiveResourcesInfo() (TCPServerWrap, TCPSocketWrap, PipeWrap,
// Timeout, ProcessWrap...), because byType comes from that call and a user compares the two. Only
// `resources.created` keeps the async_hooks names (TCPSERVERWRAP...), as the protocol says.

/**
 * Created per request, per I/O operation or per promise: counted, never tracked. Node 20 emits
 * these on every await, request, write or fs call; a stack or a WeakRef for each would be the
 * blocked-at cost profile the design rules out.
 */
export const HOT_TYPES: ReadonlySet<string> = new Set([
  'PROMISE',
  'TickObject',
  'Microtask',
  'Immediate',
  'HTTPINCOMINGMESSAGE',
  'HTTPCLIENTREQUEST',
  'HTTPPARSER',
  'FSREQCALLBACK',
  'FSREQPROMISE',
  'FILEHANDLE',
  'FILEHANDLECLOSEREQ',
  'GETADDRINFOREQWRAP',
  'GETNAMEINFOREQWRAP',
  'QUERYWRAP',
  'DNSCHANNEL',
  'WRITEWRAP',
  'SHUTDOWNWRAP',
  'TCPCONNECTWRAP',
  'PIPECONNECTWRAP',
  'UDPSENDWRAP',
  'ZLIB',
  'TLSWRAP',
  'SSLCONNECTION',
  'JSSTREAM',
  'JSUDPWRAP',
  'STREAMPIPE',
  'ELDHISTOGRAM',
  'HEAPSNAPSHOT',
  'WORKERHEAPSNAPSHOT',
  'BLOBREADER',
  'INSPECTORJSBINDING',
  'SIGINTWATCHDOG',
  // A Worker makes five internal ports; the WORKER itself is tracked. Ports left ref'd still show
  // in byType and the shutdown snapshot (counted by getActiveResourcesInfo).
  'MESSAGEPORT',
  // Signal wraps are unref'd and expose no "closed" state, so a tracked one could not be told
  // apart from a removed listener's; they never keep the process alive.
  'SIGNALWRAP',
  // crypto/zlib/fs async requests
  'PBKDF2REQUEST',
  'RANDOMBYTESREQUEST',
  'RANDOMPRIMEREQUEST',
  'CHECKPRIMEREQUEST',
  'SCRYPTREQUEST',
  'HKDFREQUEST',
  'HASHREQUEST',
  'CIPHERREQUEST',
  'SIGNREQUEST',
  'VERIFYREQUEST',
  'KEYGENREQUEST',
  'KEYPAIRGENREQUEST',
  'SECRETKEYGENREQUEST',
  'DERIVEBITSREQUEST',
  'DIFFIEHELLMANREQUEST',
  'ECDHBITSREQUEST',
  'ECDHCONVERTKEYREQUEST',
  'KEYEXPORTREQUEST',
  'HTTP2SESSION',
  'HTTP2STREAM',
  'HTTP2PING',
  'HTTP2SETTINGS',
  'HTTP2INCOMINGMESSAGE',
]);

/** Handle types whose JS owner (net.Server, net.Socket, ChildProcess...) tells whether they live. */
export const OWNED_HANDLE_TYPES: ReadonlySet<string> = new Set([
  'TCPSERVERWRAP',
  'PIPESERVERWRAP',
  'TCPWRAP',
  'PIPEWRAP',
  'PROCESSWRAP',
  'FSEVENTWRAP',
  'STATWATCHER',
  'UDPWRAP',
  'TTYWRAP',
]);

export const SERVER_TYPES: ReadonlySet<string> = new Set(['TCPSERVERWRAP', 'PIPESERVERWRAP']);
export const CONNECTION_TYPES: ReadonlySet<string> = new Set(['TCPWRAP', 'PIPEWRAP']);

/** Types known to be long-lived; anything else not in HOT_TYPES is an unknown (addon or library) type. */
export const KNOWN_LONG_LIVED: ReadonlySet<string> = new Set([...OWNED_HANDLE_TYPES, 'Timeout', 'WORKER']);

const WIRE_NAMES: Readonly<Record<string, string>> = {
  TCPSERVERWRAP: 'TCPServerWrap',
  TCPWRAP: 'TCPSocketWrap',
  // getActiveResourcesInfo names a pipe server PipeWrap as well (measured on Node 20).
  PIPESERVERWRAP: 'PipeWrap',
  PIPEWRAP: 'PipeWrap',
  PROCESSWRAP: 'ProcessWrap',
  FSEVENTWRAP: 'FSEventWrap',
  STATWATCHER: 'StatWatcher',
  UDPWRAP: 'UDPWrap',
  TTYWRAP: 'TTYWrap',
  SIGNALWRAP: 'SignalWrap',
  MESSAGEPORT: 'MessagePort',
  WORKER: 'Worker',
  Timeout: 'Timeout',
  Immediate: 'Immediate',
};

/** async_hooks type -> the getActiveResourcesInfo name (unknown types keep their own name). */
export function wireName(hookType: string): string {
  return WIRE_NAMES[hookType] ?? hookType;
}

/** Native handle class (handle.constructor.name) -> wire name, for handles the tracker did not see. */
export function handleWireName(handleClass: string, isServer: boolean): string {
  switch (handleClass) {
    case 'TCP':
      return isServer ? 'TCPServerWrap' : 'TCPSocketWrap';
    case 'Pipe':
      return 'PipeWrap';
    case 'Process':
      return 'ProcessWrap';
    case 'FSEvent':
      return 'FSEventWrap';
    case 'StatWatcher':
      return 'StatWatcher';
    case 'UDP':
      return 'UDPWrap';
    case 'TTY':
      return 'TTYWrap';
    case 'Signal':
      return 'SignalWrap';
    default:
      return handleClass;
  }
}

/** Constructor name of an execution resource -> the type shown for a blocked callback. */
export function callbackTypeOf(resource: object): string {
  const name = (resource as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name !== 'string' || !name) return 'unknown';
  switch (name) {
    case 'Promise':
      return 'PROMISE';
    case 'HTTPServerAsyncResource':
      return 'HTTPINCOMINGMESSAGE';
    case 'HTTPClientAsyncResource':
      return 'HTTPCLIENTREQUEST';
    case 'TCP':
      return 'TCPSocketWrap';
    case 'Pipe':
      return 'PipeWrap';
    default:
      // Node's internal promise subclasses (SafePromise...) are promises too
      return resource instanceof Promise ? 'PROMISE' : name;
  }
}
