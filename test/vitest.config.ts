import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import { aliases } from '../vitest.config.js'

// The README's quickstart, run literally (test/quickstart.test.ts); alone, after every other test, because
// its `npm install && npm start` rebuilds the tree the other tests read.
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  resolve: { alias: aliases },
  test: { include: ['test/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 60_000, maxWorkers: 1 },
})
