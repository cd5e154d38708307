// Which parts of the export the app's own OpenTelemetry providers took over (see
// agent/otel/app-bridge.ts): bits the main thread publishes and the worker sink reads.
export const APP_OWNS_BLOCKS = 1;
export const APP_OWNS_METRICS = 2;

/** The global under which @opentelemetry/api 1.x registers providers (any copy of the API). */
export const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** Which of the app's providers are registered right now (0, or APP_OWNS_* bits). No imports, no allocation. */
export function appProviders(): number {
  try {
    const api = (globalThis as Record<symbol, { trace?: unknown; metrics?: unknown } | undefined>)[API_GLOBAL];
    if (!api) return 0;
    return (api.trace ? APP_OWNS_BLOCKS : 0) | (api.metrics ? APP_OWNS_METRICS : 0);
  } catch {
    return 0;
  }
}
