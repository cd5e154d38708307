// Builds the page into dist/dashboard-ui, which the dashboard server serves at `/`. Relative base so
// the page also works behind a reverse proxy under a path prefix.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  // The page imports shared/run-state.ts from the repo root.
  server: { fs: { allow: [fileURLToPath(new URL('../..', import.meta.url))] } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/dashboard-ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // chart.js is most of the bundle; one file is fine for a local tool.
    chunkSizeWarningLimit: 600,
  },
});
