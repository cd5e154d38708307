// import { start, shutdown } from 'loopscope'
export { start, currentAgent, type RunningAgent } from './agent.js';
export { shutdown } from './shutdown/api.js';
export type { ShutdownOptions, OnSignalsOptions, StepOptions, ShutdownResult, StepResult, StepFn } from './shutdown/api.js';
export type { AgentOptions, AgentConfig } from './config.js';
export { OPTION_SPECS } from './config.js';
export type * from '../shared/protocol.js';
