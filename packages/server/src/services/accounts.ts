import { randomBytes, randomUUID } from 'node:crypto'
import { isValidUsername } from '@parley/protocol'
import { DuplicateError, type Account, type User } from '../store/types.js'
import type { ServiceContext } from './context.js'
import { hashPassword, verifyPassword } from './passwords.js'

/** An administrative failure (CLI): bad input or a name that is taken. */
export class AdminError extends Error {
  override readonly name = 'AdminError'
}

/** What the API and CLI show of a user: never the password hash. */
export interface PublicUser {
  id: string
  accountId: string
  clientId: string
  login: string
  username: string
  createdAt: string
}

const LOGIN = /^[^\s@]{1,64}@[A-Za-z0-9.-]{1,190}$/

/**
 * The `preferred_username` for a login (protocol §3.1 "Parley's choice"): the local part, with characters
 * outside `[A-Za-z0-9._-]` replaced by `_`.
 */
export function usernameForLogin(login: string): string {
  const local = login.slice(0, login.lastIndexOf('@'))
  return local.replace(/[^A-Za-z0-9._-]/g, '_')
}

/** Creates an account with a fresh client id. */
export async function createAccount(ctx: ServiceContext, name: string): Promise<Account> {
  const trimmed = name.trim()
  if (!trimmed || trimmed.length > 200) throw new AdminError('account name must be 1 to 200 characters')
  const account: Account = {
    id: randomUUID(),
    clientId: `parley-${randomBytes(8).toString('hex')}`,
    name: trimmed,
    createdAt: ctx.clock.now(),
  }
  await ctx.store.createAccount(account)
  return account
}

/** Creates a user `user@domain` in the account of `clientId`; the password is stored as an scrypt hash only. */
export async function createUser(
  ctx: ServiceContext,
  input: { clientId: string; login: string; password: string },
): Promise<PublicUser> {
  const account = await ctx.store.getAccountByClientId(input.clientId)
  if (!account) throw new AdminError(`no account with client id "${input.clientId}"`)
  const login = input.login.trim().toLowerCase()
  if (!LOGIN.test(login)) throw new AdminError('username must have the form user@domain')
  const username = usernameForLogin(login)
  if (!isValidUsername(username)) {
    throw new AdminError(
      `"${username}" cannot be a username: it must be URL-safe and must not end in "sessions"`,
    )
  }
  if (input.password.length < 8) throw new AdminError('password must be at least 8 characters')
  const user: User = {
    id: randomUUID(),
    accountId: account.id,
    login,
    username,
    passwordHash: await hashPassword(input.password),
    createdAt: ctx.clock.now(),
  }
  try {
    await ctx.store.createUser(user)
  } catch (err) {
    if (err instanceof DuplicateError) {
      throw new AdminError(
        err.field === 'login'
          ? `user ${login} already exists in this account`
          : `username "${username}" is already taken in this account (another login has the same local part)`,
      )
    }
    throw err
  }
  return publicUser(user, account)
}

/** Users of one account (by client id), or of every account. */
export async function listUsers(ctx: ServiceContext, clientId?: string): Promise<PublicUser[]> {
  const accounts = await ctx.store.listAccounts()
  const byId = new Map(accounts.map((a) => [a.id, a]))
  let accountId: string | undefined
  if (clientId) {
    const account = accounts.find((a) => a.clientId === clientId)
    if (!account) throw new AdminError(`no account with client id "${clientId}"`)
    accountId = account.id
  }
  const users = await ctx.store.listUsers(accountId)
  return users.map((u) => publicUser(u, byId.get(u.accountId)))
}

/** Deletes a user; their channels and subscriptions go with them. */
export async function deleteUser(ctx: ServiceContext, clientId: string, login: string): Promise<PublicUser> {
  const account = await ctx.store.getAccountByClientId(clientId)
  if (!account) throw new AdminError(`no account with client id "${clientId}"`)
  const user = await ctx.store.getUserByLogin(account.id, login.trim().toLowerCase())
  if (!user) throw new AdminError(`no user ${login} in this account`)
  await ctx.store.deleteUser(user.id)
  return publicUser(user, account)
}

/**
 * Checks a login and password for the token endpoint. A login without `@` gets the deployment's domain
 * (protocol §3.1). Returns undefined for any mismatch, taking the same time whether or not the user exists.
 */
export async function authenticate(
  ctx: ServiceContext,
  account: Account,
  loginInput: string,
  password: string,
): Promise<User | undefined> {
  const raw = loginInput.trim().toLowerCase()
  const login = raw.includes('@') ? raw : `${raw}@${ctx.config.domain}`
  const user =
    (await ctx.store.getUserByLogin(account.id, login)) ??
    (raw.includes('@') ? undefined : await ctx.store.getUserByUsername(account.id, loginInput.trim()))
  const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH)
  return user && ok ? user : undefined
}

// Compared against when the user does not exist, so that timing does not reveal which logins exist.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

function publicUser(user: User, account: Account | undefined): PublicUser {
  return {
    id: user.id,
    accountId: user.accountId,
    clientId: account?.clientId ?? '',
    login: user.login,
    username: user.username,
    createdAt: new Date(user.createdAt).toISOString(),
  }
}
