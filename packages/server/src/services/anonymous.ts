import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { DuplicateError, type Account, type ProjectKey, type User } from '../store/types.js'
import { AdminError } from './accounts.js'
import type { ServiceContext } from './context.js'
import { apiError, OAuthError } from './errors.js'
import type { Actor } from './tokens.js'

/**
 * Anonymous click-to-call (issue 15): project keys that a website uses in the `client_credentials` grant, the
 * allow-list of destinations anonymous callers may call, and the ephemeral identities the grant creates.
 */

/** What `parley key create` prints: the key and its secret, shown this once. */
export interface CreatedKey extends PublicKey {
  secret: string
}

/** A key as `parley key list` shows it: never its secret or hash. */
export interface PublicKey {
  key: string
  clientId: string
  accountId: string
  name: string
  createdAt: string
  expiresAt: string | null
}

/** An allow-listed destination as the CLI shows it. */
export interface PublicDestination {
  clientId: string
  destination: string
  createdAt: string
}

const LOGIN = /^[^\s@]{1,64}@[A-Za-z0-9.-]{1,190}$/
const E164 = /^\+[1-9]\d{1,14}$/
/** Local parts of anonymous identities: `anon-` and 24 hex digits (96 random bits). */
const ANON_PREFIX = 'anon-'

/** SHA-256 of a secret: the secret is 256 random bits, so a slow hash adds nothing (RFC 6749 §10.3 spirit). */
function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())

async function accountOf(ctx: ServiceContext, clientId: string): Promise<Account> {
  const account = await ctx.store.getAccountByClientId(clientId)
  if (!account) throw new AdminError(`no account with client id "${clientId}"`)
  return account
}

function publicKey(key: ProjectKey, account: Account | undefined): PublicKey {
  return {
    key: key.id,
    clientId: account?.clientId ?? '',
    accountId: key.accountId,
    name: key.name,
    createdAt: new Date(key.createdAt).toISOString(),
    expiresAt: iso(key.expiresAt),
  }
}

/**
 * Creates a project key of the account of `clientId`. `ttlSeconds` limits how long the key itself works
 * (unset: until deleted). Only the secret's SHA-256 is stored.
 */
export async function createProjectKey(
  ctx: ServiceContext,
  input: { clientId: string; name?: string; ttlSeconds?: number },
): Promise<CreatedKey> {
  const account = await accountOf(ctx, input.clientId)
  const name = (input.name ?? 'default').trim()
  if (!name || name.length > 200) throw new AdminError('key name must be 1 to 200 characters')
  if (input.ttlSeconds !== undefined && !(Number.isInteger(input.ttlSeconds) && input.ttlSeconds > 0))
    throw new AdminError('--ttl must be a positive number of seconds')
  const now = ctx.clock.now()
  const secret = randomBytes(32).toString('base64url')
  const key: ProjectKey = {
    id: `pk-${randomBytes(12).toString('hex')}`,
    accountId: account.id,
    name,
    secretHash: hashSecret(secret),
    createdAt: now,
    expiresAt: input.ttlSeconds !== undefined ? now + input.ttlSeconds * 1000 : null,
  }
  await ctx.store.createProjectKey(key)
  return { ...publicKey(key, account), secret }
}

/** Keys of one account (by client id), or of every account. */
export async function listProjectKeys(ctx: ServiceContext, clientId?: string): Promise<PublicKey[]> {
  const accounts = new Map((await ctx.store.listAccounts()).map((a) => [a.id, a]))
  const accountId = clientId ? (await accountOf(ctx, clientId)).id : undefined
  return (await ctx.store.listProjectKeys(accountId)).map((k) => publicKey(k, accounts.get(k.accountId)))
}

/**
 * Deletes a key: no new token is issued with it, and the anonymous identities it issued go too (their
 * channels and subscriptions with them; their tokens stop working within a node's verification cache time).
 */
export async function deleteProjectKey(
  ctx: ServiceContext,
  keyId: string,
): Promise<{ deleted: PublicKey; identitiesRemoved: number }> {
  const key = await ctx.store.getProjectKey(keyId)
  if (!key) throw new AdminError(`no key "${keyId}"`)
  await ctx.store.deleteProjectKey(key.id)
  const identities = await ctx.store.listAnonymousIdentitiesByKey(key.id)
  for (const identity of identities) await ctx.store.deleteUser(identity.userId)
  return {
    deleted: publicKey(key, await ctx.store.getAccount(key.accountId)),
    identitiesRemoved: identities.length,
  }
}

/** `USER@DOMAIN` (lower-cased) or `+E164`; anything else is refused. */
export function normalizeDestination(text: string): string {
  const t = text.trim()
  if (E164.test(t)) return t
  const login = t.replace(/^sips?:/i, '').toLowerCase()
  if (LOGIN.test(login)) return login
  throw new AdminError('--destination must be USER@DOMAIN or a +E164 phone number')
}

/** Adds a destination to the allow-list of the account of `clientId`. */
export async function allowDestination(
  ctx: ServiceContext,
  clientId: string,
  destination: string,
): Promise<PublicDestination & { added: boolean }> {
  const account = await accountOf(ctx, clientId)
  const address = normalizeDestination(destination)
  const now = ctx.clock.now()
  const added = await ctx.store.addAnonymousDestination({ accountId: account.id, address, createdAt: now })
  return { clientId: account.clientId, destination: address, createdAt: new Date(now).toISOString(), added }
}

/** The allow-list of one account, or of all. */
export async function listDestinations(ctx: ServiceContext, clientId?: string): Promise<PublicDestination[]> {
  const accounts = new Map((await ctx.store.listAccounts()).map((a) => [a.id, a]))
  const accountId = clientId ? (await accountOf(ctx, clientId)).id : undefined
  return (await ctx.store.listAnonymousDestinations(accountId)).map((d) => ({
    clientId: accounts.get(d.accountId)?.clientId ?? '',
    destination: d.address,
    createdAt: new Date(d.createdAt).toISOString(),
  }))
}

/** Removes a destination from the allow-list. */
export async function denyDestination(
  ctx: ServiceContext,
  clientId: string,
  destination: string,
): Promise<{ clientId: string; destination: string; removed: boolean }> {
  const account = await accountOf(ctx, clientId)
  const address = normalizeDestination(destination)
  const removed = await ctx.store.removeAnonymousDestination(account.id, address)
  return { clientId: account.clientId, destination: address, removed }
}

/**
 * Checks the `client_credentials` of a token request (RFC 6749 §4.4, §2.3.1): the key must exist and be
 * unexpired, and the secret's hash must match (compared in constant time). Any failure is 401 `invalid_client`.
 */
export async function authenticateProjectKey(
  ctx: ServiceContext,
  keyId: string,
  secret: string,
): Promise<{ key: ProjectKey; account: Account }> {
  const key = keyId.length <= 100 ? await ctx.store.getProjectKey(keyId) : undefined
  const given = Buffer.from(hashSecret(secret), 'hex')
  const stored = Buffer.from(key?.secretHash ?? '0'.repeat(64), 'hex')
  const match = stored.length === given.length && timingSafeEqual(stored, given)
  const account = key && match ? await ctx.store.getAccount(key.accountId) : undefined
  if (!key || !match || !account || (key.expiresAt !== null && key.expiresAt <= ctx.clock.now()))
    throw new OAuthError(401, 'invalid_client', 'Invalid client credentials')
  return { key, account }
}

/** Creates the ephemeral identity `anon-<random>@<domain>` of one grant, living until `expiresAt`. */
export async function createAnonymousIdentity(
  ctx: ServiceContext,
  key: ProjectKey,
  expiresAt: number,
): Promise<User> {
  for (;;) {
    const local = ANON_PREFIX + randomBytes(12).toString('hex')
    const now = ctx.clock.now()
    const user: User = {
      id: randomUUID(),
      accountId: key.accountId,
      login: `${local}@${ctx.config.domain}`,
      username: local,
      // Not a hash of any password: the password grant can never log in as this user.
      passwordHash: '!anonymous',
      createdAt: now,
    }
    try {
      await ctx.store.createAnonymousUser(user, {
        userId: user.id,
        accountId: key.accountId,
        keyId: key.id,
        expiresAt,
        createdAt: now,
      })
      return user
    } catch (err) {
      // 96 random bits collide only with a real user who chose the same name: draw again.
      if (!(err instanceof DuplicateError)) throw err
    }
  }
}

/** Whether a user is an anonymous identity (which can never be called, forwarded or transferred to). */
export async function isAnonymousUser(ctx: ServiceContext, user: User): Promise<boolean> {
  return (await ctx.store.getAnonymousIdentity(user.id)) !== undefined
}

/**
 * The rules of an anonymous caller's `POST …/sessions`: its account's concurrent anonymous calls under the
 * cap (429 otherwise), and a destination on the account's allow-list (403 otherwise, whether or not it
 * exists). `callee` is the user the address resolved to, if any.
 */
export async function checkAnonymousCall(
  ctx: ServiceContext,
  actor: Actor,
  address: string,
  callee: User | undefined,
): Promise<void> {
  const allowed = new Set((await ctx.store.listAnonymousDestinations(actor.accountId)).map((d) => d.address))
  const bare = address.trim().replace(/^[a-z][a-z0-9+.-]*:/i, '')
  const local = bare.includes('@') ? bare.slice(0, bare.lastIndexOf('@')) : bare
  const ok = (callee !== undefined && allowed.has(callee.login)) || (E164.test(local) && allowed.has(local))
  if (!ok) throw apiError('FORBIDDEN')
  if ((await ctx.store.countActiveAnonymousLegs(actor.accountId)) >= ctx.config.anonymous.maxCallsPerAccount)
    throw apiError('TOO_MANY_CALLS')
}

/** Refuses an operation an anonymous identity may not do (protocol's 403 body). */
export function forbidAnonymous(actor: Actor): void {
  if (actor.anonymous) throw apiError('FORBIDDEN')
}

/** Identities removed per sweep round. */
const SWEEP_BATCH = 100

/**
 * Removes anonymous identities whose tokens have expired and that are in no active call, with their channels
 * (sockets closed) and subscriptions; call records keep their names. Returns how many went.
 */
export async function sweepExpiredIdentities(
  ctx: ServiceContext,
  removeChannel: (actor: Actor, channelId: string) => Promise<void>,
): Promise<number> {
  const expired = await ctx.store.listExpiredAnonymousIdentities(ctx.clock.now(), SWEEP_BATCH)
  for (const identity of expired) {
    const user = await ctx.store.getUser(identity.userId)
    if (user) {
      const actor: Actor = {
        userId: user.id,
        accountId: user.accountId,
        username: user.username,
        login: user.login,
        anonymous: true,
      }
      for (const channel of await ctx.store.listChannelsByUser(user.id))
        await removeChannel(actor, channel.id)
    }
    await ctx.store.deleteUser(identity.userId)
    ctx.log.info({ userId: identity.userId }, 'expired anonymous identity removed')
  }
  return expired.length
}
