// `node -r loopscope/agent` / `node --import loopscope/agent`: starts the agent from LOOPSCOPE_*
// variables. NODE_OPTIONS carries the preload into worker threads too; there the agent stays off
// (the agent's own worker, and the app's workers: one agent per process watches the main thread).
import { isMainThread } from 'node:worker_threads';
import { start } from './agent.js';

const disabled = process.env.LOOPSCOPE_DISABLE;
if (isMainThread && !(disabled && disabled !== '0' && disabled !== 'false')) {
  start();
}
