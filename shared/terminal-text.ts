// Text that came from an app or a client (app names, argv, error messages, stack frames, log
// lines about malformed frames) is shown in terminals: the report and the dashboard's log. Raw,
// an ESC or OSC sequence in it could clear the screen, set the window title or write to the
// clipboard, and a newline could forge a log line. Every such string goes through here first.

// C0 controls (but tab), DEL, and the C1 range (0x80-0x9f: 8-bit CSI/OSC), plus the Unicode
// line and paragraph separators and bidi overrides that reorder what a reader sees.
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escape(ch: string): string {
  switch (ch) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\u001b':
      return '\\e';
    default:
      return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

/** One line of text, safe to print: control and reordering characters made visible as escapes. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** Like terminalSafe, and cut to `max` characters (with an ellipsis) for log lines. */
export function terminalSafeShort(text: string, max = 200): string {
  const safe = terminalSafe(text);
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

/**
 * Every string inside a value (object keys included) made terminal-safe; numbers, booleans and
 * null as they are. For rendering a whole report from untrusted data in one place.
 */
export function terminalSafeDeep<T>(value: T): T {
  if (typeof value === 'string') return terminalSafe(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => terminalSafeDeep(v)) as T;
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[terminalSafe(k)] = terminalSafeDeep(v);
    return out as T;
  }
  return value;
}

// What JSON.stringify leaves raw although a terminal may act on it: DEL, the C1 range (some
// terminals take U+009B as CSI even in UTF-8), the line separators and the bidi controls.
// JSON.stringify already escapes every C0 control (ESC comes out as \u001b).
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text safe to print on a terminal, and still the same JSON: these characters can only
 * occur inside strings, where \uXXXX decodes to the very same character.
 */
export function terminalSafeJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
