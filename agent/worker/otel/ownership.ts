// Which parts of the export the app's own OpenTelemetry providers took over (see
// agent/otel/app-bridge.ts): bits the main thread publishes and the worker sink reads.
export const APP_OWNS_BLOCKS = 1;
export const APP_OWNS_METRICS = 2;
