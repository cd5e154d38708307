// The `require` condition of loopscope: the same module instance as the ESM entry (require(esm)),
// so an app that mixes require and import still has one agent.
import api = require('./index.js');
export = api;
