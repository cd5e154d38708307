// The names loopscope exports are the semantic-convention ones where OTel defines them: checked
// against the constants of @opentelemetry/semantic-conventions, not against our own copies.
import { describe, expect, it } from 'vitest';
import {
  ATTR_CODE_COLUMN_NUMBER,
  ATTR_CODE_FILE_PATH,
  ATTR_CODE_FUNCTION_NAME,
  ATTR_CODE_LINE_NUMBER,
  ATTR_CODE_STACKTRACE,
} from '@opentelemetry/semantic-conventions';
import {
  METRIC_NODEJS_EVENTLOOP_DELAY_MAX,
  METRIC_NODEJS_EVENTLOOP_DELAY_MEAN,
  METRIC_NODEJS_EVENTLOOP_DELAY_MIN,
  METRIC_NODEJS_EVENTLOOP_DELAY_P50,
  METRIC_NODEJS_EVENTLOOP_DELAY_P90,
  METRIC_NODEJS_EVENTLOOP_DELAY_P99,
  METRIC_NODEJS_EVENTLOOP_UTILIZATION,
} from '@opentelemetry/semantic-conventions/incubating';
import { METRIC_NAMES } from '../../agent/worker/otel/metrics.js';
import { blockAttributes } from '../../agent/worker/otel/spans.js';

describe('otel names follow the semantic conventions', () => {
  it('event-loop metrics', () => {
    expect(METRIC_NAMES.delayMin).toBe(METRIC_NODEJS_EVENTLOOP_DELAY_MIN);
    expect(METRIC_NAMES.delayMax).toBe(METRIC_NODEJS_EVENTLOOP_DELAY_MAX);
    expect(METRIC_NAMES.delayMean).toBe(METRIC_NODEJS_EVENTLOOP_DELAY_MEAN);
    expect(METRIC_NAMES.delayP50).toBe(METRIC_NODEJS_EVENTLOOP_DELAY_P50);
    expect(METRIC_NAMES.delayP90).toBe(METRIC_NODEJS_EVENTLOOP_DELAY_P90);
    expect(METRIC_NAMES.delayP99).toBe(METRIC_NODEJS_EVENTLOOP_DELAY_P99);
    expect(METRIC_NAMES.utilization).toBe(METRIC_NODEJS_EVENTLOOP_UTILIZATION);
    const own = Object.values(METRIC_NAMES).filter((n) => !n.startsWith('nodejs.'));
    expect(own.every((n) => n.startsWith('loopscope.'))).toBe(true);
  });

  it('code.* attributes of a block span', () => {
    const frame = { functionName: 'spin', file: '/app/a.js', line: 3, column: 7 };
    const attrs = blockAttributes(
      { type: 'block', id: 1, startedAt: 1, durationMs: 150, ended: true, native: false, stackKind: 'live', stack: [frame], resource: null, syncCall: null, captureMs: 1, appSpan: null },
      10,
    );
    expect(attrs[ATTR_CODE_FUNCTION_NAME]).toBe('spin');
    expect(attrs[ATTR_CODE_FILE_PATH]).toBe('/app/a.js');
    expect(attrs[ATTR_CODE_LINE_NUMBER]).toBe(3);
    expect(attrs[ATTR_CODE_COLUMN_NUMBER]).toBe(7);
    expect(attrs[ATTR_CODE_STACKTRACE]).toBe('    at spin (/app/a.js:3:7)');
  });

});
