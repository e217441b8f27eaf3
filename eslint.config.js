// One flat config for the whole repository, including the layer-boundary rules of
// shared/design/architecture.md §2.
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import importX from 'eslint-plugin-import-x'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'coverage/**',
      'demo/vendor/**',
      '**/*.config.*',
      'bench/results/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    plugins: { 'import-x': importX },
    // Without a TypeScript resolver, `.js`-suffixed imports of .ts files resolve to nothing and the
    // import-x rules below (cycles, layer boundaries) silently check nothing.
    settings: {
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: ['packages/*/tsconfig.json', 'packages/server/tsconfig.test.json', 'e2e/tsconfig.json'],
          noWarnOnMultipleProjects: true,
        }),
      ],
    },
    rules: {
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ignores: ['demo/**'],
    languageOptions: { globals: globals.node },
  },
  {
    // The calling app at / (demo/app): plain browser script on the SDK's window.Parley.
    files: ['demo/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser, Parley: 'readonly' } },
  },
  {
    files: ['packages/server/src/**/*.ts'],
    rules: {
      // Server layers: http/, realtime/ → services/ → store/, bus/ (interfaces) ← adapters.
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './packages/server/src/services', from: './packages/server/src/http' },
            { target: './packages/server/src/services', from: './packages/server/src/realtime' },
            { target: './packages/server/src/store', from: './packages/server/src/services' },
            { target: './packages/server/src/store', from: './packages/server/src/http' },
            { target: './packages/server/src/bus', from: './packages/server/src/services' },
            { target: './packages/server/src/bus', from: './packages/server/src/http' },
          ],
        },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['better-sqlite3', 'pg', 'ioredis'],
              message: 'Only store/ and bus/ adapters talk to databases (architecture §2).',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      'packages/server/src/store/**/*.ts',
      'packages/server/src/bus/**/*.ts',
      'packages/server/src/deps.ts',
    ],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['packages/server/src/services/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'fastify', message: 'services/ never import fastify (architecture §1).' }],
          patterns: [
            {
              group: ['better-sqlite3', 'pg', 'ioredis', 'ws'],
              message: 'services/ stay transport- and storage-free.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/sdk/src/**/*.ts'],
    // Tests drive the SDK through its facade from any folder.
    ignores: ['**/*.test.ts', 'packages/sdk/src/test-support/**'],
    rules: {
      // SDK layers: client (facade) → call → {media, signalling} → core.
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './packages/sdk/src/core', from: './packages/sdk/src/call' },
            { target: './packages/sdk/src/core', from: './packages/sdk/src/media' },
            { target: './packages/sdk/src/core', from: './packages/sdk/src/signalling' },
            { target: './packages/sdk/src/media', from: './packages/sdk/src/signalling' },
            { target: './packages/sdk/src/media', from: './packages/sdk/src/call' },
            { target: './packages/sdk/src/signalling', from: './packages/sdk/src/media' },
            { target: './packages/sdk/src/signalling', from: './packages/sdk/src/call' },
            { target: './packages/sdk/src/call', from: './packages/sdk/src/client.ts' },
          ],
        },
      ],
    },
  },
  prettier,
)
