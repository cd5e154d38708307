// Credentials the agent was given (LOOPSCOPE_TOKEN, a token or user:password inside
// LOOPSCOPE_DASHBOARD's URL) must never reach a recording, the dashboard's run list or the app's
// stderr: recordings are attached to bug reports and stderr goes to shared CI logs. Everything
// that shows the dashboard address or a warning built from it passes through here first.
// Runs in the agent worker: plain string work, no dependencies.

export const REDACTED = '***';

/** Query parameter names that carry credentials by common convention. */
const SECRET_PARAM = /token|secret|passw|pwd|auth|key|sig|credential|session/i;

// In free text (a URL that did not parse, or one quoted inside a message): userinfo before an
// authority, and name=value pairs whose name looks like a credential.
const USERINFO_IN_TEXT = /\/\/([^\s/?#@"']*)@/g;
const SECRET_PAIR_IN_TEXT = /([?&#;][^=&\s#"']*(?:token|secret|passw|pwd|auth|key|sig|credential|session)[^=&\s#"']*=)[^&\s#"']*/gi;

function redactLoose(text: string): string {
  return text
    .replace(USERINFO_IN_TEXT, (_all, info: string) => (info.includes(':') ? `//${REDACTED}:${REDACTED}@` : `//${REDACTED}@`))
    .replace(SECRET_PAIR_IN_TEXT, `$1${REDACTED}`);
}

/** A URL with its username, password and credential-like query parameters replaced by ***. */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return redactLoose(text);
  }
  if (url.username) url.username = REDACTED;
  if (url.password) url.password = REDACTED;
  for (const name of new Set(url.searchParams.keys())) {
    if (SECRET_PARAM.test(name)) url.searchParams.set(name, REDACTED);
  }
  if (url.hash && SECRET_PARAM.test(url.hash)) url.hash = redactLoose(url.hash);
  return url.toString();
}

/**
 * The secret strings among an agent's settings, in every spelling a message might carry them
 * (as given, URL-decoded, URL-encoded), longest first so that no shorter one cuts into a longer.
 */
export function secretValues(settings: { dashboard?: string | null; token?: string | null }): string[] {
  const found = new Set<string>();
  const add = (value: string | null | undefined): void => {
    if (!value) return;
    found.add(value);
    try {
      found.add(decodeURIComponent(value));
    } catch {
      // not encoded: the raw form is enough
    }
    found.add(encodeURIComponent(value));
  };
  add(settings.token);
  if (settings.dashboard) {
    try {
      const url = new URL(settings.dashboard);
      add(url.password);
      for (const [name, value] of url.searchParams) if (SECRET_PARAM.test(name)) add(value);
    } catch {
      // an address that does not parse is redacted by pattern in redactText
    }
  }
  found.delete('');
  return [...found].sort((a, b) => b.length - a.length);
}

/** Free text (a warning) with every known secret and every credential-looking URL part replaced. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return redactLoose(out);
}
