// A wrapper the app cannot tell from the function it replaces: same name, length and own
// properties (util.promisify.custom on setTimeout, for one).
export function mirrorFunction(wrapper: object, original: object): void {
  for (const key of Reflect.ownKeys(original)) {
    if (key === 'prototype') continue;
    const d = Object.getOwnPropertyDescriptor(original, key);
    if (!d) continue;
    try {
      Object.defineProperty(wrapper, key, d);
    } catch {
      // a non-configurable property of the wrapper stays its own
    }
  }
}
