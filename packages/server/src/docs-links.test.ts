import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// Issue 16: a stranger goes from the README to the SDK reference without leaving the repository, so every
// relative link of the user-facing documents must name a file of this repository.
const root = fileURLToPath(new URL('../../..', import.meta.url))

function markdownFiles(): string[] {
  const files = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'packages/sdk/README.md', 'deploy/README.md']
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.md')) files.push(path)
    }
  }
  walk('docs')
  return files.filter((f) => existsSync(join(root, f)))
}

/** Relative link targets of `[text](target)` in a markdown text, outside code blocks. */
function relativeLinks(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '')
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#'))
}

describe('documentation links', () => {
  const files = markdownFiles()

  it('finds the documents (README, CONTRIBUTING, docs/)', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'CONTRIBUTING.md', join('docs', 'guide.md')]))
  })

  it('every relative link of a document names a file inside the repository', () => {
    const broken: string[] = []
    for (const file of files) {
      for (const target of relativeLinks(readFileSync(join(root, file), 'utf8'))) {
        const resolved = join(root, dirname(file), decodeURIComponent(target.split('#')[0]!))
        const inside = !relative(root, resolved).startsWith('..')
        if (!inside || !existsSync(resolved)) broken.push(`${file}: ${target}`)
      }
    }
    expect(broken).toEqual([])
  })

  it('no document points outside the repository (../shared of the old layout)', () => {
    for (const file of ['README.md', 'CONTRIBUTING.md', 'packages/sdk/README.md'])
      expect(readFileSync(join(root, file), 'utf8'), file).not.toMatch(/\.\.\/shared\//)
  })
})
