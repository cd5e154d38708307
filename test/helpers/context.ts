// An AgentContext for unit tests of the main-thread recorders: real config resolution and shared
// memory, records collected in an array, no worker.
import { resolveConfig, type AgentOptions } from '../../agent/config.js';
import { createSharedState } from '../../agent/shared-state.js';
import type { AgentContext } from '../../agent/context.js';
import type { Unstamped } from '../../shared/protocol.js';
import type { UserFrameOptions } from '../../shared/stack.js';

export interface TestContextOptions {
  records?: Unstamped[];
  frameOptions?: UserFrameOptions;
  warn?: (message: string) => void;
}

export function testContext(options: AgentOptions = {}, extra: TestContextOptions = {}): AgentContext {
  let depth = 0;
  const records = extra.records;
  return {
    config: resolveConfig(options, {}).config,
    run: 'test',
    shared: createSharedState(),
    frameOptions: extra.frameOptions ?? {},
    record: (m) => {
      records?.push(m);
    },
    flushSync: () => true,
    internal: (fn) => {
      depth++;
      try {
        return fn();
      } finally {
        depth--;
      }
    },
    get inInternal() {
      return depth > 0;
    },
    warn: extra.warn ?? (() => undefined),
  };
}
