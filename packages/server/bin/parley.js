#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript (npm install runs the build through `prepare`).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
if (!existsSync(cli)) {
  process.stderr.write('parley: the server is not built yet; run `npm run build` in the repository root\n')
  process.exit(1)
}
const { runCli } = await import(cli)
process.exitCode = await runCli(process.argv.slice(2))
