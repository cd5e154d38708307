// The small, always-loadable half of the app-provider path (agent.ts imports it statically and
// creates it only with export on): it notices the app's global tracer/meter provider the moment
// a block ends, publishes that to the worker at once, and loads the bridge that makes the spans
// only when a provider is there. Records that arrive while the bridge loads are held (bounded).
import type { Message, Unstamped } from '../../shared/protocol.js';
import { appProviders } from '../worker/otel/ownership.js';
import { otelConfigProblem } from '../worker/otel/config.js';
import type { AppOtelBridge, AppOtelBridgeOptions } from './app-bridge.js';

/** Records held while the bridge module loads; a handful of samples and blocks at most in practice. */
const MAX_HELD = 200;

export class AppOtelHook {
  private bits = 0;
  private bridge: AppOtelBridge | null = null;
  private loading = false;
  private held: (Message | Unstamped)[] = [];

  constructor(private readonly options: AppOtelBridgeOptions, env: NodeJS.ProcessEnv = process.env) {
    // Said here, synchronously, as well as by the worker (same words: the agent prints it once):
    // a process that exits within milliseconds would otherwise never hear it.
    const problem = otelConfigProblem(env);
    if (problem) options.warn(problem);
  }

  /** APP_OWNS_* bits published so far. */
  get owns(): number {
    return this.bits;
  }

  /** True once the bridge module is loaded and takes records directly. */
  get ready(): boolean {
    return this.bridge !== null;
  }

  /** Checks for the app's providers now (a global lookup); call it before the worker ends a block. */
  refresh(): void {
    if (this.bits === 3) return;
    const found = appProviders();
    if (found === this.bits) return;
    this.bits |= found;
    this.options.publish(this.bits);
    this.load();
  }

  /** Records of the main thread and blocks forwarded by the worker. Never throws. */
  handle(m: Message | Unstamped): void {
    try {
      this.refresh();
      if (this.bridge) this.bridge.handle(m);
      else if (this.bits !== 0 && this.held.length < MAX_HELD) this.held.push(m);
    } catch {
      // the bridge guards itself; nothing here may reach the app
    }
  }

  private load(): void {
    if (this.loading || this.bits === 0) return;
    this.loading = true;
    import('./app-bridge.js').then(
      ({ AppOtelBridge }) => {
        this.bridge = new AppOtelBridge(this.options);
        const held = this.held;
        this.held = [];
        for (const m of held) this.bridge.handle(m);
      },
      (err: unknown) => {
        this.held = [];
        this.options.warn(`could not load the OpenTelemetry bridge: ${(err as Error).message}`);
      },
    );
  }
}
