// The moment the process starts to exit by process.exit() or by an uncaught error: both set
// `process._exiting` (an accessor Node keeps on process) just before they emit 'exit'. A hook on
// that setter sees it without a wrapper around process.exit (which would add a frame to the
// errors it throws) or around process.emit (a frame in the stack of every process listener that
// throws). A loop that drains sets the flag from C++ without the setter: that way out is seen at
// 'beforeExit', which Node always emits first.
export interface ExitingHook {
  uninstall(): void;
}

export function watchExiting(onExiting: () => void): ExitingHook {
  const descriptor = Object.getOwnPropertyDescriptor(process, '_exiting');
  if (!descriptor || !descriptor.configurable) return { uninstall(): void {} };
  let active = true;
  // A data property on a Node that has no accessor there: keep its value here.
  let value: unknown = descriptor.value;
  const read = descriptor.get ?? ((): unknown => value);
  const write =
    descriptor.set ??
    ((v: unknown): void => {
      value = v;
    });

  const hook: PropertyDescriptor = {
    get: function get(this: unknown): unknown {
      return Reflect.apply(read, this, []);
    },
    set: function set(this: unknown, next: unknown): void {
      let starting = false;
      try {
        starting = active && this === process && Boolean(next) && !Reflect.apply(read, this, []);
      } catch {
        starting = false;
      }
      Reflect.apply(write, this, [next]);
      if (!starting) return;
      try {
        onExiting();
      } catch {
        // never into the app
      }
    },
    enumerable: descriptor.enumerable ?? true,
    configurable: true,
  };
  Object.defineProperty(process, '_exiting', hook);

  return {
    uninstall(): void {
      active = false;
      const now = Object.getOwnPropertyDescriptor(process, '_exiting');
      if (now?.set !== hook.set) return;
      if (descriptor.get || descriptor.set) Object.defineProperty(process, '_exiting', descriptor);
      else Object.defineProperty(process, '_exiting', { ...descriptor, value: Reflect.apply(read, process, []) });
    },
  };
}
