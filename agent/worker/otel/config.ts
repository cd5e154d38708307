// The standard OTEL_* variables, checked up front. The SDK would otherwise accept a bad value
// silently (its diag logger is a no-op) and drop every span: we reject it once, clearly, and
// keep export off so the app runs exactly as without it.

export type OtlpProtocol = 'http/json' | 'http/protobuf';

export interface OtlpTarget {
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface OtelSettings {
  serviceName: string | null;
  /** From OTEL_RESOURCE_ATTRIBUTES, already decoded. */
  resourceAttributes: Record<string, string>;
  traces: OtlpTarget | null;
  metrics: {
    otlp: OtlpTarget | null;
    prometheus: { host: string; port: number } | null;
    intervalMs: number;
  };
}

export type OtelSettingsResult = { ok: true; settings: OtelSettings } | { ok: false; error: string };

const DEFAULT_BASE = 'http://localhost:4318';

class Invalid extends Error {}

function fail(message: string): never {
  throw new Invalid(message);
}

/** `key=value,key2=value2`, percent-encoded as the spec says (W3C baggage octets). */
export function parseKeyValueList(name: string, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) fail(`${name}: "${part.trim()}" is not key=value`);
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(part.slice(0, eq).trim());
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      fail(`${name}: "${part.trim()}" has a bad percent-encoding`);
    }
    if (key === '') fail(`${name}: empty key in "${part.trim()}"`);
    out[key] = value;
  }
  return out;
}

function httpUrl(name: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(`${name}="${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`${name}="${raw}" must be an http:// or https:// URL`);
  return url;
}

function signalUrl(env: NodeJS.ProcessEnv, signal: 'TRACES' | 'METRICS', path: string): string {
  const specific = env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]?.trim();
  if (specific) return httpUrl(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`, specific).href;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const url = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base || DEFAULT_BASE);
  // The base endpoint gets the signal's path appended, per the OTLP exporter spec.
  return url.href.replace(/\/?$/, `/${path}`);
}

function protocol(env: NodeJS.ProcessEnv, signal: 'TRACES' | 'METRICS'): OtlpProtocol {
  const name = env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`]?.trim() ? `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL` : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const raw = (env[name] ?? '').trim();
  if (raw === '' || raw === 'http/protobuf') return 'http/protobuf';
  if (raw === 'http/json') return 'http/json';
  if (raw === 'grpc') fail(`${name}=grpc is not supported by loopscope; use http/protobuf or http/json`);
  fail(`${name}="${raw}" is not a protocol (http/protobuf or http/json)`);
}

function headers(env: NodeJS.ProcessEnv, signal: 'TRACES' | 'METRICS'): Record<string, string> {
  const general = env.OTEL_EXPORTER_OTLP_HEADERS ? parseKeyValueList('OTEL_EXPORTER_OTLP_HEADERS', env.OTEL_EXPORTER_OTLP_HEADERS) : {};
  const specificName = `OTEL_EXPORTER_OTLP_${signal}_HEADERS`;
  const specific = env[specificName] ? parseKeyValueList(specificName, env[specificName] as string) : {};
  return { ...general, ...specific };
}

function positiveInt(name: string, raw: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\s*\d+\s*$/.test(raw)) fail(`${name}="${raw}" is not a whole number`);
  const n = Number(raw);
  if (n < 1 || n > max) fail(`${name}=${n} is out of range (1..${max})`);
  return n;
}

function timeout(env: NodeJS.ProcessEnv, signal: 'TRACES' | 'METRICS'): number {
  const specific = `OTEL_EXPORTER_OTLP_${signal}_TIMEOUT`;
  if (env[specific]?.trim()) return positiveInt(specific, env[specific], 10_000);
  return positiveInt('OTEL_EXPORTER_OTLP_TIMEOUT', env.OTEL_EXPORTER_OTLP_TIMEOUT, 10_000);
}

function exporterList(name: string, raw: string | undefined, allowed: readonly string[], fallback: string): Set<string> {
  const values = (raw ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (values.length === 0) values.push(fallback);
  for (const v of values) {
    if (!allowed.includes(v)) fail(`${name}="${raw}": "${v}" is not supported (${allowed.join(', ')})`);
  }
  if (values.includes('none') && values.length > 1) fail(`${name}="${raw}": "none" cannot be combined with other exporters`);
  return new Set(values);
}

function otlpTarget(env: NodeJS.ProcessEnv, signal: 'TRACES' | 'METRICS', path: string): OtlpTarget {
  return { url: signalUrl(env, signal, path), protocol: protocol(env, signal), headers: headers(env, signal), timeoutMs: timeout(env, signal) };
}

/** Reads the OTEL_* variables the export honours; any invalid one turns the whole export off. */
export function readOtelSettings(env: NodeJS.ProcessEnv): OtelSettingsResult {
  try {
    const tracesExporters = exporterList('OTEL_TRACES_EXPORTER', env.OTEL_TRACES_EXPORTER, ['otlp', 'none'], 'otlp');
    const metricsExporters = exporterList('OTEL_METRICS_EXPORTER', env.OTEL_METRICS_EXPORTER, ['otlp', 'prometheus', 'none'], 'otlp');
    const resourceAttributes = env.OTEL_RESOURCE_ATTRIBUTES ? parseKeyValueList('OTEL_RESOURCE_ATTRIBUTES', env.OTEL_RESOURCE_ATTRIBUTES) : {};
    const serviceName = env.OTEL_SERVICE_NAME?.trim() || null;
    const settings: OtelSettings = {
      serviceName,
      resourceAttributes,
      traces: tracesExporters.has('otlp') ? otlpTarget(env, 'TRACES', 'v1/traces') : null,
      metrics: {
        otlp: metricsExporters.has('otlp') ? otlpTarget(env, 'METRICS', 'v1/metrics') : null,
        prometheus: metricsExporters.has('prometheus')
          ? {
              host: env.OTEL_EXPORTER_PROMETHEUS_HOST?.trim() || 'localhost',
              port: positiveInt('OTEL_EXPORTER_PROMETHEUS_PORT', env.OTEL_EXPORTER_PROMETHEUS_PORT, 9464, 65535),
            }
          : null,
        intervalMs: positiveInt('OTEL_METRIC_EXPORT_INTERVAL', env.OTEL_METRIC_EXPORT_INTERVAL, 60_000),
      },
    };
    return { ok: true, settings };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, error: err.message };
    return { ok: false, error: `could not read the OTEL_* settings: ${(err as Error).message}` };
  }
}

/** OTEL_SDK_DISABLED=true is the standard off switch; it wins over LOOPSCOPE_OTEL. */
export function sdkDisabled(env: NodeJS.ProcessEnv): boolean {
  return (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true';
}

/** The warning that turns export off, or null when the settings are usable. Pure: safe on the main thread. */
export function otelConfigProblem(env: NodeJS.ProcessEnv): string | null {
  if (sdkDisabled(env)) return 'OpenTelemetry export is off: OTEL_SDK_DISABLED=true';
  const parsed = readOtelSettings(env);
  return parsed.ok ? null : `OpenTelemetry export is off: ${parsed.error}`;
}
