import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { PostgresStore } from './postgres/postgres-store.js'
import { SqliteStore } from './sqlite/sqlite-store.js'
import type { Store } from './types.js'

export * from './types.js'
export { PostgresStore } from './postgres/postgres-store.js'
export { SqliteStore } from './sqlite/sqlite-store.js'

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** Directory that relative `sqlite:` paths are resolved against; defaults to `process.cwd()`. */
  cwd?: string
  /** Called with errors of idle database connections (PostgreSQL), e.g. to log them. */
  onError?: (error: Error) => void
  /**
   * Create the directory of a `sqlite:` file when it is missing (`--create`). Off, a missing directory is an
   * error: a mistyped path must not become a new, empty platform.
   */
  createDirectory?: boolean
}

/** A `--db` URL that cannot be opened as written (the CLI reports it in one line). */
export class StoreUrlError extends Error {
  override readonly name = 'StoreUrlError'
}

const ACCEPTED_FORMS =
  'sqlite:<relative path> (e.g. sqlite:./data/parley.db, relative to the working directory), ' +
  'sqlite:<absolute path> (e.g. sqlite:/var/lib/parley/parley.db), sqlite::memory: or ' +
  'postgres://user:password@host:port/database[?schema=NAME]'

/**
 * Opens the store named by the `--db` URL and applies pending migrations:
 * `sqlite:./data/parley.db` (relative to `cwd`), `sqlite:/abs/path.db`, `sqlite::memory:`, or
 * `postgres://…` / `postgresql://…` (a libpq URL; `?schema=NAME` keeps the tables in that schema).
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const store = createStore(url.trim(), options)
  try {
    await store.migrate()
  } catch (error) {
    await store.close()
    throw error
  }
  return store
}

function createStore(url: string, options: OpenStoreOptions): Store {
  const cwd = options.cwd ?? process.cwd()
  // The URL is not echoed in errors: a database URL may carry a password.
  if (/^postgres(ql)?:\/\//i.test(url)) {
    return new PostgresStore(url, options.onError ? { onError: options.onError } : {})
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    if (path === ':memory:') return new SqliteStore(':memory:')
    // `sqlite://…` would read as a host name in URL syntax; refuse it rather than guess what was meant.
    if (path === '' || path.startsWith('//'))
      throw new StoreUrlError(`--db: bad sqlite URL; expected ${ACCEPTED_FORMS}`)
    const file = resolve(cwd, path)
    if (!options.createDirectory && !existsSync(dirname(file)))
      throw new StoreUrlError(
        `--db: the directory ${dirname(file)} does not exist; create it, or pass --create to have it created`,
      )
    return new SqliteStore(file)
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]
  throw new StoreUrlError(
    `--db: unsupported database URL${scheme ? ` (scheme "${scheme}:")` : ''}; expected ${ACCEPTED_FORMS}`,
  )
}
