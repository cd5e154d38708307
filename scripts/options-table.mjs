// Writes the configuration table of README.md from the agent's OPTION_SPECS (run after a build):
// the README can then never document an option the agent does not have, or miss one.
import { readFileSync, writeFileSync } from 'node:fs';
import { OPTION_SPECS } from '../dist/agent/config.js';

export function optionsTable() {
  const rows = OPTION_SPECS.map((s) => `| \`${s.env}\` | \`${s.key}\` | ${s.default === null ? '—' : `\`${s.default}\``} | ${s.doc} |`);
  return [
    '## Configuration',
    '',
    'Every option of `start()` has an environment variable; an option given to `start()` wins. A value that does not parse or is out of range (every duration is at most 2147483647 ms, the longest timer Node has) gives one warning on stderr and its default is used.',
    '',
    '| variable | `start()` option | default | meaning |',
    '|---|---|---|---|',
    ...rows,
    '| `LOOPSCOPE_DISABLE` | — | — | `1` turns the preloaded agent off. |',
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const path = new URL('../README.md', import.meta.url);
  const text = readFileSync(path, 'utf8');
  const out = text.replace(/<!-- options:start -->[\s\S]*<!-- options:end -->/, `<!-- options:start -->\n${optionsTable()}<!-- options:end -->`);
  writeFileSync(path, out);
}
