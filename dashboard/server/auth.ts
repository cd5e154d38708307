// Who may talk to the dashboard. On loopback with no token anyone local may (but only under a
// loopback Host name, so a DNS-rebound page cannot read the API); with a token, agents send it as
// a Bearer header or ?token=, and a browser brings it once in the URL and then as an HttpOnly
// cookie. /live also checks the Origin, so another site's page cannot subscribe.
//
// Browsers must never be able to write. Any web page the user opens can send requests to
// 127.0.0.1: a WebSocket (which is not subject to CORS) and "simple" POSTs (no-cors, text/plain)
// that go out without asking the server first. So /ingest refuses every request that carries an
// Origin (browsers always send one on a WebSocket, agents never do), and a state-changing HTTP
// request must come from this dashboard's own page (Origin / Sec-Fetch-Site) and carry a header
// or content type a page can only send after a CORS preflight, which this server never approves.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WRITE_HEADER } from '../../shared/dashboard-constants.js';
import { terminalSafeShort } from '../../shared/terminal-text.js';

export const TOKEN_COOKIE = 'loopscope_token';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * The token to require: an empty or blank one (`--token "$UNSET"`) is no token at all, never one
 * that an empty `?token=` or cookie would match. Surrounding blanks are dropped, as they are from
 * a presented Bearer header.
 */
export function usableToken(token: string | null | undefined): string | null {
  const trimmed = token?.trim() ?? '';
  return trimmed === '' ? null : trimmed;
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

/** Constant time in the secret's content and length (digests of equal size); empty never matches. */
function equalSecret(presented: string, secret: string): boolean {
  if (presented.length === 0 || secret.length === 0) return false;
  const x = createHash('sha256').update(presented).digest();
  const y = createHash('sha256').update(secret).digest();
  return timingSafeEqual(x, y);
}

/** Host header or URL authority in the form URL.host gives (lowercase, default port dropped). */
function normalAuthority(authority: string, protocol = 'http:'): string | null {
  if (authority === '' || /[\s/?#@\\]/.test(authority)) return null;
  try {
    return new URL(`${protocol}//${authority}`).host;
  } catch {
    return null;
  }
}

/** Content types a page may send without a preflight (the Fetch standard's CORS-safelisted ones). */
const SIMPLE_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

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
  readonly token: string | null;

  constructor(
    token: string | null,
    private readonly loopbackOnly: boolean,
  ) {
    this.token = usableToken(token);
  }

  /** The token the request carries and where it came from. */
  presented(req: IncomingMessage): { token: string | null; source: AuthSource } {
    const auth = req.headers.authorization;
    if (auth && /^bearer\s+/i.test(auth)) return { token: auth.replace(/^bearer\s+/i, '').trim(), source: 'bearer' };
    let q: string | null = null;
    try {
      q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    } catch {
      // an unparsable request target carries no token
    }
    if (q !== null) return { token: q, source: 'query' };
    const c = cookieValue(req.headers.cookie, TOKEN_COOKIE);
    if (c !== null) return { token: c, source: 'cookie' };
    return { token: null, source: 'none' };
  }

  /** null when allowed, else the reason. */
  check(req: IncomingMessage): string | null {
    if (this.loopbackOnly) {
      // Parsed as a browser would, so that no odd spelling ("127.0.0.1:1@evil") passes for loopback.
      const authority = normalAuthority(req.headers.host ?? '');
      if (authority === null || !isLoopbackHost(hostnameOf(authority))) {
        return `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name`;
      }
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
    const web = parsed.protocol === 'http:' || parsed.protocol === 'https:';
    // Compared as the browser reached us: same scheme's form of host and port (IPv6 in brackets,
    // default port dropped). The Host check above already keeps a DNS-rebound name out.
    if (web && parsed.host !== '' && parsed.host === normalAuthority(host, parsed.protocol)) return null;
    return `Origin ${origin} is not this dashboard (${host})`;
  }

  /** /ingest is for agents only: a request with an Origin header comes from a browser page. */
  checkIngestOrigin(req: IncomingMessage): string | null {
    const origin = req.headers.origin;
    if (origin === undefined) return null;
    return `a browser page (Origin ${terminalSafeShort(origin, 100)}) may not write to /ingest; only agents may`;
  }

  /**
   * A request that changes state (POST and the like). From a browser it must be this dashboard's
   * own page; from any client it must carry a header a cross-site page cannot send without a
   * preflight. null when allowed, else the reason.
   */
  checkWrite(req: IncomingMessage): string | null {
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    if (site !== undefined && site !== 'same-origin') return `a ${site} request may not change the dashboard (Sec-Fetch-Site)`;
    if (origin !== undefined) {
      const bad = this.checkOrigin(req);
      if (bad !== null) return bad;
    }
    if (req.headers[WRITE_HEADER] !== undefined) return null;
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== '' && !SIMPLE_CONTENT_TYPES.has(type)) return null;
    return `send the body as application/x-ndjson (or add the ${WRITE_HEADER} header): a ${type || 'missing'} content type is what a cross-site page can send`;
  }

  setCookieHeader(): string {
    return `${TOKEN_COOKIE}=${encodeURIComponent(this.token ?? '')}; HttpOnly; SameSite=Strict; Path=/`;
  }
}
