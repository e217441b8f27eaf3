import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url))

export default defineConfig({
  resolve: {
    // Tests run against the sources, not the build output.
    alias: {
      '@parley/protocol': src('protocol'),
      '@parley/test-kit': src('test-kit'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Each test file starts its own servers on ephemeral ports; two cores, so keep the pool small.
    maxWorkers: 2,
  },
})
