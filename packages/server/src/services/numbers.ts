import { DuplicateError, type Account, type PhoneNumber, type User } from '../store/types.js'
import { AdminError } from './accounts.js'
import type { ServiceContext } from './context.js'

/**
 * Telephone numbers (issue 11): a number belongs to one account and to at most one user of it, and is unique
 * across the server. Inbound PSTN calls find their account and user by the dialled number
 * (`lookupInboundNumber`); outbound ones send the caller's first number as caller ID (`callerIdFor`).
 */

/**
 * E.164 (ITU-T E.164 §6: at most 15 digits, the country code never starts with 0) as SIP carries it: `+`, then
 * 2 to 15 digits, the first not 0.
 */
export const E164 = /^\+[1-9]\d{1,14}$/

/** Whether `text` is an E.164 number in the `+` form. */
export function isE164(text: string): boolean {
  return E164.test(text)
}

/** A number as the CLI shows it. */
export interface PublicNumber {
  number: string
  clientId: string
  accountId: string
  /** The login of the user it is assigned to, or null. */
  user: string | null
  userId: string | null
  assignedAt: string | null
  /** Whether it is its user's caller ID (their first assigned number). */
  callerId: boolean
  createdAt: string
}

/** Where an inbound call to a number goes. */
export interface InboundTarget {
  accountId: string
  /** The user it is assigned to; absent when the number is the account's but nobody's. */
  userId?: string
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())

/** The number given on a command line, checked; a one-line error naming the flag otherwise. */
export function parseNumber(text: string): string {
  const number = text.trim()
  if (!isE164(number)) {
    throw new AdminError(
      `--number must be an E.164 number: + and 2 to 15 digits, the first not 0 (got "${text}")`,
    )
  }
  return number
}

async function accountOf(ctx: ServiceContext, clientId: string): Promise<Account> {
  const account = await ctx.store.getAccountByClientId(clientId)
  if (!account) throw new AdminError(`no account with client id "${clientId}"`)
  return account
}

async function userOf(ctx: ServiceContext, account: Account, login: string): Promise<User> {
  const user = await ctx.store.getUserByLogin(account.id, login.trim().toLowerCase())
  if (!user) throw new AdminError(`no user ${login.trim()} in the account of client id "${account.clientId}"`)
  return user
}

async function present(ctx: ServiceContext, n: PhoneNumber, account?: Account): Promise<PublicNumber> {
  const owner = account ?? (await ctx.store.getAccount(n.accountId))
  const user = n.userId === null ? undefined : await ctx.store.getUser(n.userId)
  const callerId = user ? (await callerIdFor(ctx, user.id)) === n.number : false
  return {
    number: n.number,
    clientId: owner?.clientId ?? '',
    accountId: n.accountId,
    user: user?.login ?? null,
    userId: user?.id ?? null,
    assignedAt: user ? iso(n.assignedAt) : null,
    callerId,
    createdAt: new Date(n.createdAt).toISOString(),
  }
}

/** Adds a number to the account of `clientId`, assigned to `user` (a login of that account) when given. */
export async function addNumber(
  ctx: ServiceContext,
  input: { clientId: string; number: string; user?: string },
): Promise<PublicNumber> {
  const number = parseNumber(input.number)
  const account = await accountOf(ctx, input.clientId)
  const user = input.user === undefined ? undefined : await userOf(ctx, account, input.user)
  const now = ctx.clock.now()
  const record: PhoneNumber = {
    number,
    accountId: account.id,
    userId: user?.id ?? null,
    assignedAt: user ? now : null,
    createdAt: now,
  }
  try {
    await ctx.store.createPhoneNumber(record)
  } catch (err) {
    if (err instanceof DuplicateError) throw new AdminError(`number ${number} already exists on this server`)
    throw err
  }
  return present(ctx, record, account)
}

/**
 * Assigns a number to a user of the number's account. Assigning it to the user who has it changes nothing (their
 * caller ID stays); assigning it to another user moves it, and it becomes the last of that user's numbers.
 */
export async function assignNumber(
  ctx: ServiceContext,
  input: { number: string; user: string },
): Promise<PublicNumber> {
  const number = parseNumber(input.number)
  const existing = await ctx.store.getPhoneNumber(number)
  if (!existing) throw new AdminError(`no number ${number} on this server`)
  const account = await ctx.store.getAccount(existing.accountId)
  if (!account) throw new AdminError(`the account of ${number} is gone`)
  const user = await userOf(ctx, account, input.user)
  if (existing.userId === user.id) return present(ctx, existing, account)
  if (!(await ctx.store.assignPhoneNumber(number, user.id, ctx.clock.now()))) {
    // Deleted (number or user) between the reads and the write.
    throw new AdminError(`number ${number} could not be assigned to ${user.login}; try again`)
  }
  const updated = await ctx.store.getPhoneNumber(number)
  return present(ctx, updated ?? existing, account)
}

/** Numbers of the account of `clientId`, or of every account. */
export async function listNumbers(ctx: ServiceContext, clientId?: string): Promise<PublicNumber[]> {
  const account = clientId === undefined ? undefined : await accountOf(ctx, clientId)
  const accounts = new Map((await ctx.store.listAccounts()).map((a) => [a.id, a]))
  const numbers = await ctx.store.listPhoneNumbers(account?.id)
  return Promise.all(numbers.map((n) => present(ctx, n, accounts.get(n.accountId))))
}

/** Deletes a number; a call in progress to or from it is not touched. */
export async function deleteNumber(
  ctx: ServiceContext,
  input: string,
): Promise<PublicNumber & { deleted: true }> {
  const number = parseNumber(input)
  const existing = await ctx.store.getPhoneNumber(number)
  if (!existing) throw new AdminError(`no number ${number} on this server`)
  const shown = await present(ctx, existing)
  if (!(await ctx.store.deletePhoneNumber(number))) throw new AdminError(`no number ${number} on this server`)
  return { ...shown, deleted: true }
}

/**
 * Where an inbound call to `e164` goes (the SIP layer's INVITE to an assigned number): the number's account and
 * user, or only its account when it is nobody's; undefined when the number is not on this server (or not E.164).
 */
export async function lookupInboundNumber(
  ctx: Pick<ServiceContext, 'store'>,
  e164: string,
): Promise<InboundTarget | undefined> {
  if (!isE164(e164)) return undefined
  const found = await ctx.store.getPhoneNumber(e164)
  if (!found) return undefined
  return found.userId === null
    ? { accountId: found.accountId }
    : { accountId: found.accountId, userId: found.userId }
}

/**
 * The caller ID of a user toward the PSTN: their first assigned number (issue 11), or undefined for a user with
 * none (who then cannot call phone numbers).
 */
export async function callerIdFor(
  ctx: Pick<ServiceContext, 'store'>,
  userId: string,
): Promise<string | undefined> {
  return (await ctx.store.listPhoneNumbersByUser(userId))[0]?.number
}

/** The routing lookups bound to one context, for the SIP and call layers (`Services.numbers`). */
export class NumberService {
  readonly #ctx: Pick<ServiceContext, 'store'>

  constructor(ctx: Pick<ServiceContext, 'store'>) {
    this.#ctx = ctx
  }

  /** See `lookupInboundNumber`. */
  lookupInboundNumber(e164: string): Promise<InboundTarget | undefined> {
    return lookupInboundNumber(this.#ctx, e164)
  }

  /** See `callerIdFor`. */
  callerIdFor(userId: string): Promise<string | undefined> {
    return callerIdFor(this.#ctx, userId)
  }
}
