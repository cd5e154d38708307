// INTERFACE STUB: implemented by the dashboard work (WebSocket stream to /ingest).
import type { Sink, WarnFn } from './sink.js';
import type { WorkerInit } from '../worker-messages.js';

export function createDashboardSink(init: WorkerInit, warn: WarnFn): Sink {
  void init;
  warn('dashboard streaming is not implemented yet');
  return { write: () => undefined, flush: async () => undefined, close: () => undefined };
}
