// A real OTLP/HTTP receiver on loopback for the tests: decodes JSON and protobuf export requests
// (protobuf with protobufjs and the OTLP field numbers from opentelemetry-proto) into one shape.
import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';

const OTLP_TRACE_PROTO = `
syntax = "proto3";
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Status { string message = 2; int32 code = 3; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10; repeated Event events = 11;
  uint32 dropped_events_count = 12; repeated Link links = 13; uint32 dropped_links_count = 14; Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
`;

const TraceRequest = protobuf.parse(OTLP_TRACE_PROTO).root.lookupType('ExportTraceServiceRequest');

export type AttrValue = string | number | boolean | AttrValue[] | null;
export type Attrs = Record<string, AttrValue>;

export interface ReceivedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  startMs: number;
  endMs: number;
  attributes: Attrs;
  events: { name: string; timeMs: number; attributes: Attrs }[];
  links: { traceId: string; spanId: string; attributes: Attrs }[];
  status: { code: number; message: string };
  scope: string;
  resource: Attrs;
  /** How it arrived: the request's content type. */
  encoding: 'json' | 'protobuf';
}

interface RawKv {
  key: string;
  value?: RawAny;
}
interface RawAny {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: RawAny[] };
  kvlistValue?: { values?: RawKv[] };
  bytesValue?: string;
}

function anyValue(v: RawAny | undefined): AttrValue {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null;
}

function attrs(list: RawKv[] | undefined): Attrs {
  const out: Attrs = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

const nanosToMs = (n: unknown): number => Number(BigInt(String(n ?? 0)) / 1000n) / 1000;

/** JSON carries ids as hex, protobufjs' toObject as base64: both end as lowercase hex. */
function idFrom(encoding: 'json' | 'protobuf', v: unknown): string {
  if (typeof v !== 'string' || v === '') return '';
  return encoding === 'json' ? v.toLowerCase() : Buffer.from(v, 'base64').toString('hex');
}

interface RawSpan {
  name: string;
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: RawKv[];
  events?: { name: string; timeUnixNano?: string | number; attributes?: RawKv[] }[];
  links?: { traceId?: string; spanId?: string; attributes?: RawKv[] }[];
  status?: { code?: number; message?: string };
}
interface RawRequest {
  resourceSpans?: { resource?: { attributes?: RawKv[] }; scopeSpans?: { scope?: { name?: string }; spans?: RawSpan[] }[] }[];
}

interface RawMetricsRequest {
  resourceMetrics?: { resource?: { attributes?: RawKv[] }; scopeMetrics?: { scope?: { name?: string }; metrics?: { name: string }[] }[] }[];
}

export function normalizeTraceRequest(req: RawRequest, encoding: 'json' | 'protobuf'): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          name: s.name,
          traceId: idFrom(encoding, s.traceId),
          spanId: idFrom(encoding, s.spanId),
          parentSpanId: idFrom(encoding, s.parentSpanId),
          startMs: nanosToMs(s.startTimeUnixNano),
          endMs: nanosToMs(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name, timeMs: nanosToMs(e.timeUnixNano), attributes: attrs(e.attributes) })),
          links: (s.links ?? []).map((l) => ({ traceId: idFrom(encoding, l.traceId), spanId: idFrom(encoding, l.spanId), attributes: attrs(l.attributes) })),
          status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
          scope: ss.scope?.name ?? '',
          resource,
          encoding,
        });
      }
    }
  }
  return out;
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** Raw metric export requests (JSON decoded; protobuf kept as byte counts). */
  metricRequests: number;
  /** Metrics of JSON metric requests, by name, with their raw data points. */
  metrics: { name: string; scope: string; resource: Attrs; data: unknown }[];
  contentTypes: Set<string>;
  errors: string[];
  /** Resolves once `predicate` holds on the spans received so far (or rejects after timeoutMs). */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<OtlpReceiver> {
  const state: OtlpReceiver = {
    url: '',
    spans: [],
    metricRequests: 0,
    metrics: [],
    contentTypes: new Set(),
    errors: [],
    waitFor: (predicate, timeoutMs) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = (): void => {
          if (predicate(state.spans)) return resolve();
          if (Date.now() > deadline) return reject(new Error(`receiver: condition not met in ${timeoutMs} ms; spans: ${state.spans.map((s) => s.name).join(', ')}`));
          setTimeout(check, 25);
        };
        check();
      }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
        state.contentTypes.add(`${req.url} ${type}`);
        if (req.url === '/v1/traces') {
          if (type === 'application/json') {
            state.spans.push(...normalizeTraceRequest(JSON.parse(body.toString('utf8')) as RawRequest, 'json'));
          } else if (type === 'application/x-protobuf') {
            const decoded = TraceRequest.toObject(TraceRequest.decode(body), { longs: String, bytes: String, defaults: false });
            state.spans.push(...normalizeTraceRequest(decoded as RawRequest, 'protobuf'));
          } else {
            state.errors.push(`unexpected content type ${type}`);
          }
        } else if (req.url === '/v1/metrics') {
          state.metricRequests++;
          if (type === 'application/json') {
            const body2 = JSON.parse(body.toString('utf8')) as RawMetricsRequest;
            for (const rm of body2.resourceMetrics ?? []) {
              const resource = attrs(rm.resource?.attributes);
              for (const sm of rm.scopeMetrics ?? []) {
                for (const metric of sm.metrics ?? []) state.metrics.push({ name: metric.name, scope: sm.scope?.name ?? '', resource, data: metric });
              }
            }
          }
        }
        res.writeHead(200, { 'content-type': type || 'application/json' });
        res.end(type === 'application/json' ? '{}' : '');
      } catch (err) {
        state.errors.push((err as Error).message);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** Children of a span, by parent id. */
export function childrenOf(spans: ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);
}
