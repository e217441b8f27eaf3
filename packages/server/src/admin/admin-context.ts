import { DEFAULT_DB, makeConfig } from '../config.js'
import { createContext } from '../deps.js'
import type { ServiceContext } from '../services/context.js'

/** The `--db` and `--create` flags every admin command takes. */
export interface AdminStoreFlags {
  db?: string | undefined
  create?: boolean | undefined
}

/**
 * Runs one admin command's work against the store of `--db` (else `PARLEY_DB`, else the default file), opened
 * silently and closed afterwards whatever happens. A missing SQLite directory is an error unless `--create`.
 */
export async function withAdminContext<T>(
  flags: AdminStoreFlags,
  env: NodeJS.ProcessEnv,
  fn: (ctx: ServiceContext) => Promise<T>,
): Promise<T> {
  const db = flags.db ?? env.PARLEY_DB ?? DEFAULT_DB
  const ctx = await createContext(makeConfig({ db, logLevel: 'silent', createDb: flags.create === true }))
  try {
    return await fn(ctx)
  } finally {
    await ctx.store.close()
  }
}
