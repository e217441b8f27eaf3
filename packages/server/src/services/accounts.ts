import { randomBytes, randomUUID } from 'node:crypto'
import { isValidUsername } from '@parley/protocol'
import {
  ActiveCallsError,
  DuplicateError,
  type Account,
  type AccountDeletion,
  type User,
} from '../store/types.js'
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

/** What the CLI shows of an account. */
export interface PublicAccount {
  clientId: string
  id: string
  name: string
  createdAt: string
}

/** Every account, oldest first. */
export async function listAccounts(ctx: ServiceContext): Promise<PublicAccount[]> {
  return (await ctx.store.listAccounts()).map(publicAccount)
}

/**
 * Deletes the account of `clientId` with everything of it (`Store.deleteAccount`). Refused while it has calls in
 * progress, unless `force`: they would vanish under their parties, whose users and tokens go with them.
 */
export async function deleteAccount(
  ctx: ServiceContext,
  clientId: string,
  options: { force?: boolean } = {},
): Promise<{ deleted: PublicAccount } & AccountDeletion> {
  const account = await ctx.store.getAccountByClientId(clientId)
  if (!account) throw new AdminError(`no account with client id "${clientId}"`)
  let removed: AccountDeletion | undefined
  try {
    removed = await ctx.store.deleteAccount(account.id, options)
  } catch (err) {
    if (err instanceof ActiveCallsError) {
      throw new AdminError(
        `account "${clientId}" has ${err.activeCalls} call(s) in progress; end them first, or pass --force`,
      )
    }
    throw err
  }
  // Deleted by another process between the two steps: the same answer as for an unknown id.
  if (!removed) throw new AdminError(`no account with client id "${clientId}"`)
  return { deleted: publicAccount(account), ...removed }
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
  checkPassword(input.password)
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
 * Sets a new password of a user (stored as an scrypt hash only). The user's tokens issued before stop working:
 * each token carries a fingerprint of the password hash it was issued under (TokenService), and a node that
 * verified one recently trusts it for at most VERIFIED_MAX_AGE_MS (60 s) more.
 */
export async function setPassword(
  ctx: ServiceContext,
  input: { clientId: string; login: string; password: string },
): Promise<PublicUser> {
  const account = await ctx.store.getAccountByClientId(input.clientId)
  if (!account) throw new AdminError(`no account with client id "${input.clientId}"`)
  const user = await ctx.store.getUserByLogin(account.id, input.login.trim().toLowerCase())
  if (!user) throw new AdminError(`no user ${input.login} in this account`)
  if (await ctx.store.getAnonymousIdentity(user.id))
    throw new AdminError(`${user.login} is an anonymous identity; it has no password`)
  checkPassword(input.password)
  if (!(await ctx.store.setUserPassword(user.id, await hashPassword(input.password))))
    throw new AdminError(`no user ${input.login} in this account`)
  return publicUser(user, account)
}

/** The rule for a new password (`user create`, `user password`). */
function checkPassword(password: string): void {
  if (password.length < 8) throw new AdminError('password must be at least 8 characters')
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

function publicAccount(account: Account): PublicAccount {
  return {
    clientId: account.clientId,
    id: account.id,
    name: account.name,
    createdAt: new Date(account.createdAt).toISOString(),
  }
}

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
