// Kept free of dependencies: the agent imports it at start-up, where every module loaded costs the app.
export const PROTOCOL_VERSION = 1;
export const AGENT_VERSION = '0.1.0';
