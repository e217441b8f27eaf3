/// <reference types="node" />
/**
 * docs/sdk (the API reference committed to the repository) is what typedoc makes from the sources
 * today: regenerate it with `npm run docs` when this fails.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, expect, it } from 'vitest'

const run = promisify(execFile)
const sdkDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const committed = join(sdkDir, '../../docs/sdk')
const out = mkdtempSync(join(tmpdir(), 'parley-sdk-docs-'))

/** Every file under `dir`, relative path → content. */
function tree(dir: string): Map<string, string> {
  const files = new Map<string, string>()
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    files.set(relative(dir, path), readFileSync(path, 'utf8'))
  }
  return files
}

afterAll(() => rmSync(out, { recursive: true, force: true }))

it('the committed SDK reference in docs/sdk is up to date with the sources (npm run docs)', async () => {
  await run(
    process.execPath,
    [
      join(sdkDir, '../../node_modules/typedoc/bin/typedoc'),
      '--options',
      join(sdkDir, 'typedoc.json'),
      '--out',
      out,
      '--logLevel',
      'Error',
    ],
    { cwd: sdkDir },
  )
  const fresh = tree(out)
  const current = tree(committed)
  expect([...current.keys()].sort(), 'files in docs/sdk differ: run npm run docs').toEqual(
    [...fresh.keys()].sort(),
  )
  for (const [path, text] of fresh) {
    expect(current.get(path), `docs/sdk/${path} is stale: run npm run docs`).toBe(text)
  }
}, 60_000)
