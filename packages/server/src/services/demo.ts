import { randomBytes } from 'node:crypto'
import { createAccount, createUser } from './accounts.js'
import type { ServiceContext } from './context.js'

/** Credentials created by `--demo`, shown to the operator once. */
export interface DemoCredentials {
  clientId: string
  users: { login: string; password: string }[]
}

/**
 * `parley serve --demo`: on an empty database, one account with users alice and bob and generated
 * passwords. Returns undefined when the database already has accounts (nothing is created twice).
 */
export async function ensureDemoUsers(ctx: ServiceContext): Promise<DemoCredentials | undefined> {
  if ((await ctx.store.listAccounts()).length > 0) return undefined
  const account = await createAccount(ctx, 'Demo')
  const users = []
  for (const name of ['alice', 'bob']) {
    const login = `${name}@${ctx.config.domain}`
    const password = randomBytes(9).toString('base64url')
    await createUser(ctx, { clientId: account.clientId, login, password })
    users.push({ login, password })
  }
  return { clientId: account.clientId, users }
}
