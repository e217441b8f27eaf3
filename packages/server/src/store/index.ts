import { resolve } from 'node:path'
import { SqliteStore } from './sqlite/sqlite-store.js'
import type { Store } from './types.js'

export * from './types.js'
export { SqliteStore } from './sqlite/sqlite-store.js'

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** Directory that relative `sqlite:` paths are resolved against; defaults to `process.cwd()`. */
  cwd?: string
}

const ACCEPTED_FORMS =
  'sqlite:<relative path> (e.g. sqlite:./data/parley.db, relative to the working directory), ' +
  'sqlite:<absolute path> (e.g. sqlite:/var/lib/parley/parley.db) or sqlite::memory:'

/**
 * Opens the store named by the `--db` URL and applies pending migrations:
 * `sqlite:./data/parley.db` (relative to `cwd`), `sqlite:/abs/path.db` or `sqlite::memory:`.
 * `postgres://` and `postgresql://` URLs are recognised but not supported yet.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const store = createStore(url.trim(), options.cwd ?? process.cwd())
  try {
    await store.migrate()
  } catch (error) {
    await store.close()
    throw error
  }
  return store
}

function createStore(url: string, cwd: string): Store {
  // The URL is not echoed in errors: a database URL may carry a password.
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new Error(
      `--db: the PostgreSQL adapter is not available yet; use ${ACCEPTED_FORMS} until a later release adds it`,
    )
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    if (path === ':memory:') return new SqliteStore(':memory:')
    // `sqlite://…` would read as a host name in URL syntax; refuse it rather than guess what was meant.
    if (path === '' || path.startsWith('//'))
      throw new Error(`--db: bad sqlite URL; expected ${ACCEPTED_FORMS}`)
    return new SqliteStore(resolve(cwd, path))
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]
  throw new Error(
    `--db: unsupported database URL${scheme ? ` (scheme "${scheme}:")` : ''}; expected ${ACCEPTED_FORMS}`,
  )
}
