// INTERFACE STUB: implemented by the shutdown work.
export const shutdown = {};
