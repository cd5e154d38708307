// The `require` condition of loopscope/agent: the agent is ESM, loaded with require(esm) (Node 20.19+)
// so that `node -r` installs its hooks before the app's first line runs.
import agent = require('./preload.js');
export = agent;
