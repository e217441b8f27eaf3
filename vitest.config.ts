import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url))

/** Tests run against the sources, not the build output. */
export const aliases = [
  {
    find: /^@parley\/protocol\/(.*)$/,
    replacement: fileURLToPath(new URL('./packages/protocol/src/$1.ts', import.meta.url)),
  },
  { find: '@parley/protocol', replacement: src('protocol') },
  { find: '@parley/test-kit', replacement: src('test-kit') },
  { find: '@parley/server', replacement: src('server') },
]

export default defineConfig({
  resolve: { alias: aliases },
  test: {
    include: ['packages/*/src/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Each test file starts its own servers on ephemeral ports; two cores, so keep the pool small.
    maxWorkers: 2,
  },
})
