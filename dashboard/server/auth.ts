// Who may talk to the dashboard. On loopback with no token anyone local may (but only under a
// loopback Host name, so a DNS-rebound page cannot read the API); with a token, agents send it as
// a Bearer header or ?token=, and a browser brings it once in the URL and then as an HttpOnly
// cookie. /live also checks the Origin, so another site's page cannot subscribe.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_COOKIE = 'loopscope_token';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Host part of a Host header or URL authority, without the port. */
export function hostnameOf(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end > 0 ? authority.slice(0, end + 1) : authority;
  }
  const colon = authority.lastIndexOf(':');
  return colon >= 0 ? authority.slice(0, colon) : authority;
}

function equalSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

export type AuthSource = 'none' | 'bearer' | 'query' | 'cookie';

export class Auth {
  constructor(
    readonly token: string | null,
    private readonly loopbackOnly: boolean,
  ) {}

  /** The token the request carries and where it came from. */
  presented(req: IncomingMessage): { token: string | null; source: AuthSource } {
    const auth = req.headers.authorization;
    if (auth && /^bearer\s+/i.test(auth)) return { token: auth.replace(/^bearer\s+/i, '').trim(), source: 'bearer' };
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams.get('token');
    if (q !== null) return { token: q, source: 'query' };
    const c = cookieValue(req.headers.cookie, TOKEN_COOKIE);
    if (c !== null) return { token: c, source: 'cookie' };
    return { token: null, source: 'none' };
  }

  /** null when allowed, else the reason. */
  check(req: IncomingMessage): string | null {
    if (this.loopbackOnly) {
      const host = hostnameOf(req.headers.host ?? '');
      if (!isLoopbackHost(host)) return `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name`;
    }
    if (this.token === null) return null;
    const { token } = this.presented(req);
    if (token === null) return 'token required';
    return equalSecret(token, this.token) ? null : 'wrong token';
  }

  /**
   * A browser's WebSocket always sends Origin; it must be this server as the browser reached it.
   * Non-browser clients (agents, tools) send none and are governed by the token alone.
   */
  checkOrigin(req: IncomingMessage): string | null {
    const origin = req.headers.origin;
    if (origin === undefined) return null;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      return `Origin ${JSON.stringify(origin)} is not a URL`;
    }
    const host = req.headers.host ?? '';
    if ((parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.host === host.toLowerCase()) return null;
    return `Origin ${origin} is not this dashboard (${host})`;
  }

  setCookieHeader(): string {
    return `${TOKEN_COOKIE}=${encodeURIComponent(this.token ?? '')}; HttpOnly; SameSite=Strict; Path=/`;
  }
}
