// Where the app called server.listen(). With a host argument (`listen(3000, '0.0.0.0')`, the
// usual form) Node creates the server handle in a dns.lookup callback, so the init hook's stack
// holds no frame of the app. listen() is called once per server, so wrapping it to keep a lazily
// formatted stack on the side costs nothing that matters, and gives such servers their site back.
import net from 'node:net';
import { captureStack, type StackHolder } from './stack-capture.js';

type Listen = (this: net.Server, ...args: unknown[]) => net.Server;

const sites = new WeakMap<object, StackHolder>();
let original: Listen | null = null;
let wrapper: Listen | null = null;

export function installListenSites(budgetOk: () => boolean): void {
  if (original) return;
  const proto = net.Server.prototype as unknown as { listen: Listen };
  const orig = proto.listen;
  if (typeof orig !== 'function') return;
  const wrapped: Listen = function listen(this: net.Server, ...args: unknown[]): net.Server {
    try {
      if (this && typeof this === 'object' && budgetOk()) {
        sites.set(this, captureStack(wrapped, 12));
      }
    } catch {
      // the site is a nicety; listen() itself must run as before
    }
    return orig.apply(this, args);
  };
  Object.defineProperty(wrapped, 'length', { value: orig.length, configurable: true });
  proto.listen = wrapped;
  original = orig;
  wrapper = wrapped;
}

export function uninstallListenSites(): void {
  const proto = net.Server.prototype as unknown as { listen: Listen };
  if (original && proto.listen === wrapper) proto.listen = original;
  original = null;
  wrapper = null;
}

/** The stack of the listen() call that opened this server, if it was seen. */
export function listenStackOf(server: object): string | undefined {
  return sites.get(server)?.stack;
}
