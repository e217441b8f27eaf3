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

/** What the demo page may know of the demo account: its public client ID and user logins, never passwords. */
export interface DemoDirectory {
  clientId: string
  users: string[]
}

/**
 * With `--demo`: the account `ensureDemoUsers` made (named "Demo", the oldest of that name) and those of its
 * users it made (alice and bob at the configured domain) that still exist; undefined without `--demo` or
 * when there is no such account. Also works on later starts, when the account was made by an earlier one.
 */
export async function findDemoDirectory(ctx: ServiceContext): Promise<DemoDirectory | undefined> {
  if (!ctx.config.demo) return undefined
  const account = (await ctx.store.listAccounts())
    .filter((a) => a.name === 'Demo')
    .sort((a, b) => a.createdAt - b.createdAt)[0]
  if (!account) return undefined
  const users: string[] = []
  for (const name of ['alice', 'bob']) {
    const login = `${name}@${ctx.config.domain}`
    if (await ctx.store.getUserByLogin(account.id, login)) users.push(login)
  }
  return { clientId: account.clientId, users }
}
