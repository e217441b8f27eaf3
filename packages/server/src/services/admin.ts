import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import {
  DuplicateError,
  type Account,
  type Admin,
  type CallOutcome,
  type CallRecord,
  type PhoneNumber,
  type User,
} from '../store/types.js'
import {
  AdminError,
  createUser as createAccountUser,
  setPassword as setUserPassword,
  type PublicUser,
} from './accounts.js'
import type { ServiceContext } from './context.js'
import { apiError } from './errors.js'
import { callerIdFor, isE164 } from './numbers.js'
import { hashPassword, verifyPassword } from './passwords.js'

/**
 * The operator console (issue 12, README "Operator console"): administrators, their sign-in sessions, and what
 * they may see and do. An administrator of an account sees and acts only on that account (another account's
 * users, numbers and calls are 404, indistinguishable from missing ones); an operator (`accountId` null) sees
 * every account. No fastify here: http/routes-admin.ts maps requests onto these methods.
 */

/** Console usernames: short, printable, no spaces (they are typed into a sign-in form). */
const ADMIN_USERNAME = /^[A-Za-z0-9._@-]{1,64}$/

/** What the CLI and API show of an administrator (never the hash). */
export interface PublicAdmin {
  id: string
  username: string
  role: 'operator' | 'admin'
  accountId: string | null
  clientId: string | null
  createdAt: string
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())

function publicAdmin(admin: Admin, account: Account | undefined): PublicAdmin {
  return {
    id: admin.id,
    username: admin.username,
    role: admin.accountId === null ? 'operator' : 'admin',
    accountId: admin.accountId,
    clientId: account?.clientId ?? null,
    createdAt: new Date(admin.createdAt).toISOString(),
  }
}

/** `parley admin create`: an administrator of the account of `clientId`, or an operator (`clientId` undefined). */
export async function createAdmin(
  ctx: ServiceContext,
  input: { clientId?: string; username: string; password: string },
): Promise<PublicAdmin> {
  let account: Account | undefined
  if (input.clientId !== undefined) {
    account = await ctx.store.getAccountByClientId(input.clientId)
    if (!account) throw new AdminError(`no account with client id "${input.clientId}"`)
  }
  const username = input.username.trim()
  if (!ADMIN_USERNAME.test(username))
    throw new AdminError('admin username must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -')
  if (input.password.length < 8) throw new AdminError('password must be at least 8 characters')
  const admin: Admin = {
    id: randomUUID(),
    accountId: account?.id ?? null,
    username,
    passwordHash: await hashPassword(input.password),
    createdAt: ctx.clock.now(),
  }
  try {
    await ctx.store.createAdmin(admin)
  } catch (err) {
    if (err instanceof DuplicateError) throw new AdminError(`admin username "${username}" is already taken`)
    throw err
  }
  return publicAdmin(admin, account)
}

/** `parley admin list`: the administrators of one account, or all of them with the operators. */
export async function listAdmins(ctx: ServiceContext, clientId?: string): Promise<PublicAdmin[]> {
  const accounts = new Map((await ctx.store.listAccounts()).map((a) => [a.id, a]))
  let accountId: string | undefined
  if (clientId !== undefined) {
    accountId = [...accounts.values()].find((a) => a.clientId === clientId)?.id
    if (!accountId) throw new AdminError(`no account with client id "${clientId}"`)
  }
  const admins = await ctx.store.listAdmins(accountId)
  return admins.map((a) => publicAdmin(a, a.accountId === null ? undefined : accounts.get(a.accountId)))
}

/** `parley admin delete`: their console sessions stop working at their next request. */
export async function deleteAdmin(ctx: ServiceContext, username: string): Promise<PublicAdmin> {
  const admin = await ctx.store.getAdminByUsername(username.trim())
  if (!admin) throw new AdminError(`no admin "${username.trim()}"`)
  const account = admin.accountId === null ? undefined : await ctx.store.getAccount(admin.accountId)
  if (!(await ctx.store.deleteAdmin(admin.id))) throw new AdminError(`no admin "${username.trim()}"`)
  return publicAdmin(admin, account)
}

/** The signed-in administrator of a console request. */
export interface AdminActor {
  admin: Admin
  /** The account the actor is limited to, or null for an operator. */
  accountId: string | null
  /** The session's CSRF token: state-changing requests must carry it in a header (double submit). */
  csrf: string
}

/** A console session as the HTTP layer sets it: the cookie's value and when it stops working if idle. */
export interface AdminSession {
  token: string
  csrf: string
  idleExpiresAt: number
  admin: PublicAdmin
}

interface SessionClaims {
  /** Admin id. */
  a: string
  /** Issued at (epoch ms): the session ends `consoleMaxMs` after it, however active. */
  i: number
  /** Last request (epoch ms): the session ends `consoleIdleMs` after it. */
  s: number
  /** CSRF token. */
  c: string
  /** Fingerprint of the password hash the session was opened with: a new password ends older sessions. */
  f: string
}

// Compared against when there is no such admin, so that timing does not reveal which usernames exist.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

const fingerprint = (hash: string) => createHash('sha256').update(hash).digest('base64url').slice(0, 16)

/** Parses a time filter: ISO 8601 or epoch milliseconds. */
function parseTime(part: string, text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined
  const t = /^\d{1,16}$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isFinite(t)) throw apiError('ADMIN_INVALID', part, 'a time: ISO 8601 or epoch milliseconds')
  return t
}

/** A history page cursor: `<createdAt>.<callId>` (base64url), as the previous page's `next` gave it. */
function parseCursor(text: string | undefined): { createdAt: number; id: string } | undefined {
  if (text === undefined || text === '') return undefined
  const raw = Buffer.from(text, 'base64url').toString('utf8')
  const dot = raw.indexOf('.')
  const createdAt = Number(raw.slice(0, dot))
  const id = raw.slice(dot + 1)
  if (dot < 1 || !Number.isInteger(createdAt) || id === '')
    throw apiError('ADMIN_INVALID', 'cursor', 'not a cursor this server gave')
  return { createdAt, id }
}

const cursorOf = (r: CallRecord) => Buffer.from(`${r.createdAt}.${r.id}`, 'utf8').toString('base64url')

/** A call as the console lists it. */
export interface ConsoleCall {
  id: string
  accountId: string
  clientId: string | null
  caller: string
  callee: string
  state: string
  outcome: CallOutcome
  createdAt: string
  answeredAt: string | null
  endedAt: string | null
  endReason: string | null
}

/** A call's latest sample of one leg. */
export interface LegQuality {
  legId: string
  username: string
  role: 'caller' | 'callee'
  sample: Record<string, unknown> | null
}

/** Facts about this node that only the running server knows (the websocket hub's sockets). */
export interface NodeFacts {
  connectedSockets(): number
}

const LIVE_LIMIT = 200

/** How long one readiness probe of `health()` may take. */
const PROBE_MS = 1_000

async function probe(fn: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      fn().then(
        () => 'ok',
        (err: unknown) => `error: ${err instanceof Error ? err.message : String(err)}`,
      ),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`error: no answer within ${PROBE_MS} ms`), PROBE_MS)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** The console's sessions and every action of its admin API. */
export class AdminService {
  readonly #ctx: ServiceContext
  readonly #facts: NodeFacts
  #key: Buffer | undefined

  constructor(ctx: ServiceContext, facts: NodeFacts = { connectedSockets: () => 0 }) {
    this.#ctx = ctx
    this.#facts = facts
  }

  /** The session signing key: one per deployment, kept in the store so that every node shares it. */
  async #signingKey(): Promise<Buffer> {
    this.#key ??= Buffer.from(
      await this.#ctx.store.getOrCreateSecret('console-session-key', () =>
        randomBytes(32).toString('base64url'),
      ),
      'base64url',
    )
    return this.#key
  }

  async #seal(claims: SessionClaims): Promise<string> {
    const body = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url')
    const mac = createHmac('sha256', await this.#signingKey())
      .update(body)
      .digest('base64url')
    return `${body}.${mac}`
  }

  async #open(token: string): Promise<SessionClaims | undefined> {
    const [body, mac] = token.split('.')
    if (!body || !mac || token.split('.').length !== 2) return undefined
    const expected = createHmac('sha256', await this.#signingKey())
      .update(body)
      .digest()
    const given = Buffer.from(mac, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    try {
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as SessionClaims
      if (typeof claims.a !== 'string' || typeof claims.i !== 'number' || typeof claims.s !== 'number')
        return undefined
      return claims
    } catch {
      return undefined
    }
  }

  async #session(admin: Admin, claims: SessionClaims): Promise<AdminSession> {
    const account = admin.accountId === null ? undefined : await this.#ctx.store.getAccount(admin.accountId)
    const { consoleIdleMs, consoleMaxMs } = this.#ctx.config.timings
    return {
      token: await this.#seal(claims),
      csrf: claims.c,
      idleExpiresAt: Math.min(claims.s + consoleIdleMs, claims.i + consoleMaxMs),
      admin: publicAdmin(admin, account),
    }
  }

  /** Checks the credentials and opens a session; 401 for any mismatch, in the same time whether or not the admin exists. */
  async signIn(username: string, password: string): Promise<AdminSession> {
    const admin = await this.#ctx.store.getAdminByUsername(username.trim())
    const ok = await verifyPassword(password, admin?.passwordHash ?? DUMMY_HASH)
    if (!admin || !ok) throw apiError('ADMIN_UNAUTHORIZED', 'wrong username or password')
    const now = this.#ctx.clock.now()
    return this.#session(admin, {
      a: admin.id,
      i: now,
      s: now,
      c: randomBytes(24).toString('base64url'),
      f: fingerprint(admin.passwordHash),
    })
  }

  /**
   * The actor of a session token, and the same session with its idle clock restarted (the HTTP layer sends it
   * back as the new cookie). 401 with the reason: no session, an expired one, or one that is no longer valid.
   */
  async authenticate(token: string | undefined): Promise<{ actor: AdminActor; session: AdminSession }> {
    if (!token) throw apiError('ADMIN_UNAUTHORIZED', 'no session; sign in')
    const claims = await this.#open(token)
    if (!claims) throw apiError('ADMIN_UNAUTHORIZED', 'invalid session; sign in again')
    const now = this.#ctx.clock.now()
    const { consoleIdleMs, consoleMaxMs } = this.#ctx.config.timings
    if (now - claims.s > consoleIdleMs || now - claims.i > consoleMaxMs)
      throw apiError('ADMIN_UNAUTHORIZED', 'session expired; sign in again')
    const admin = await this.#ctx.store.getAdmin(claims.a)
    if (!admin || fingerprint(admin.passwordHash) !== claims.f)
      throw apiError('ADMIN_UNAUTHORIZED', 'session no longer valid; sign in again')
    const session = await this.#session(admin, { ...claims, s: now })
    return { actor: { admin, accountId: admin.accountId, csrf: claims.c }, session }
  }

  /** Whether `given` is the session's CSRF token (constant time). */
  csrfMatches(actor: AdminActor, given: string | undefined): boolean {
    if (!given) return false
    const a = Buffer.from(given)
    const b = Buffer.from(actor.csrf)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  /** Accounts the actor sees: their own, or every one for an operator. */
  async accounts(actor: AdminActor): Promise<Account[]> {
    const all = await this.#ctx.store.listAccounts()
    return actor.accountId === null ? all : all.filter((a) => a.id === actor.accountId)
  }

  /** The account a request names (`clientId`), or the actor's own; 404 for an account the actor does not see. */
  async #targetAccount(actor: AdminActor, clientId: string | undefined): Promise<Account> {
    if (clientId === undefined) {
      if (actor.accountId === null)
        throw apiError('ADMIN_INVALID', 'clientId', 'an operator names the account')
      const own = await this.#ctx.store.getAccount(actor.accountId)
      if (!own) throw apiError('ADMIN_UNAUTHORIZED', 'session no longer valid; sign in again')
      return own
    }
    const account = await this.#ctx.store.getAccountByClientId(clientId)
    if (!account || (actor.accountId !== null && account.id !== actor.accountId))
      throw apiError('NOT_FOUND_INPUT', 'clientId')
    return account
  }

  #sees(actor: AdminActor, accountId: string): boolean {
    return actor.accountId === null || actor.accountId === accountId
  }

  async #user(actor: AdminActor, userId: string): Promise<{ user: User; account: Account }> {
    const user = await this.#ctx.store.getUser(userId)
    const account = user && (await this.#ctx.store.getAccount(user.accountId))
    if (!user || !account || !this.#sees(actor, user.accountId)) throw apiError('UNKNOWN_RESOURCE')
    return { user, account }
  }

  /** Users of the actor's accounts (anonymous identities included, marked). */
  async listUsers(actor: AdminActor): Promise<(PublicUser & { anonymous: boolean })[]> {
    const accounts = new Map((await this.accounts(actor)).map((a) => [a.id, a]))
    const users =
      actor.accountId === null
        ? await this.#ctx.store.listUsers()
        : await this.#ctx.store.listUsers(actor.accountId)
    const out = []
    for (const u of users) {
      const account = accounts.get(u.accountId)
      if (!account) continue
      out.push({
        id: u.id,
        accountId: u.accountId,
        clientId: account.clientId,
        login: u.login,
        username: u.username,
        createdAt: new Date(u.createdAt).toISOString(),
        anonymous: (await this.#ctx.store.getAnonymousIdentity(u.id)) !== undefined,
      })
    }
    return out
  }

  async createUser(
    actor: AdminActor,
    input: { login: string; password: string; clientId?: string },
  ): Promise<PublicUser> {
    const account = await this.#targetAccount(actor, input.clientId)
    return adminErrors('login', () =>
      createAccountUser(this.#ctx, {
        clientId: account.clientId,
        login: input.login,
        password: input.password,
      }),
    )
  }

  async deleteUser(actor: AdminActor, userId: string): Promise<void> {
    const { user } = await this.#user(actor, userId)
    if (!(await this.#ctx.store.deleteUser(user.id))) throw apiError('UNKNOWN_RESOURCE')
  }

  async resetPassword(actor: AdminActor, userId: string, password: string): Promise<void> {
    const { user, account } = await this.#user(actor, userId)
    await adminErrors('password', () =>
      setUserPassword(this.#ctx, { clientId: account.clientId, login: user.login, password }),
    )
  }

  async #presentNumber(n: PhoneNumber, accounts: Map<string, Account>) {
    const user = n.userId === null ? undefined : await this.#ctx.store.getUser(n.userId)
    return {
      number: n.number,
      accountId: n.accountId,
      clientId: accounts.get(n.accountId)?.clientId ?? null,
      userId: user?.id ?? null,
      user: user?.login ?? null,
      callerId: user ? (await callerIdFor(this.#ctx, user.id)) === n.number : false,
      assignedAt: user ? iso(n.assignedAt) : null,
      createdAt: new Date(n.createdAt).toISOString(),
    }
  }

  async listNumbers(actor: AdminActor) {
    const accounts = new Map((await this.accounts(actor)).map((a) => [a.id, a]))
    const numbers =
      actor.accountId === null
        ? await this.#ctx.store.listPhoneNumbers()
        : await this.#ctx.store.listPhoneNumbers(actor.accountId)
    return Promise.all(numbers.map((n) => this.#presentNumber(n, accounts)))
  }

  #e164(text: string): string {
    if (!isE164(text))
      throw apiError('ADMIN_INVALID', 'number', 'an E.164 number: + and 2 to 15 digits, the first not 0')
    return text
  }

  async addNumber(actor: AdminActor, input: { number: string; clientId?: string; userId?: string | null }) {
    const number = this.#e164(input.number)
    const account = await this.#targetAccount(actor, input.clientId)
    let userId: string | null = null
    if (input.userId) {
      const { user } = await this.#user(actor, input.userId).catch(() => {
        throw apiError('NOT_FOUND_INPUT', 'userId')
      })
      if (user.accountId !== account.id) throw apiError('NOT_FOUND_INPUT', 'userId')
      userId = user.id
    }
    const now = this.#ctx.clock.now()
    const record: PhoneNumber = {
      number,
      accountId: account.id,
      userId,
      assignedAt: userId ? now : null,
      createdAt: now,
    }
    try {
      await this.#ctx.store.createPhoneNumber(record)
    } catch (err) {
      if (err instanceof DuplicateError)
        throw apiError('ADMIN_CONFLICT', 'number', 'the number already exists on this server')
      throw err
    }
    return this.#presentNumber(record, new Map([[account.id, account]]))
  }

  async #number(actor: AdminActor, text: string): Promise<PhoneNumber> {
    const found = isE164(text) ? await this.#ctx.store.getPhoneNumber(text) : undefined
    if (!found || !this.#sees(actor, found.accountId)) throw apiError('UNKNOWN_RESOURCE')
    return found
  }

  /** Assigns the number to a user of its account (null: unassigns it). */
  async assignNumber(actor: AdminActor, text: string, userId: string | null) {
    const existing = await this.#number(actor, text)
    if (userId !== null) {
      const user = await this.#ctx.store.getUser(userId)
      if (!user || user.accountId !== existing.accountId) throw apiError('NOT_FOUND_INPUT', 'userId')
    }
    if (existing.userId !== userId) {
      if (!(await this.#ctx.store.assignPhoneNumber(existing.number, userId, this.#ctx.clock.now())))
        throw apiError('UNKNOWN_RESOURCE')
    }
    const updated = (await this.#ctx.store.getPhoneNumber(existing.number)) ?? existing
    return this.#presentNumber(updated, new Map((await this.accounts(actor)).map((a) => [a.id, a])))
  }

  async deleteNumber(actor: AdminActor, text: string): Promise<void> {
    const existing = await this.#number(actor, text)
    if (!(await this.#ctx.store.deletePhoneNumber(existing.number))) throw apiError('UNKNOWN_RESOURCE')
  }

  #present(r: CallRecord, accounts: Map<string, Account>): ConsoleCall {
    return {
      id: r.id,
      accountId: r.accountId,
      clientId: accounts.get(r.accountId)?.clientId ?? null,
      caller: r.caller,
      callee: r.callee,
      state: r.state,
      outcome: r.state !== 'ended' ? 'active' : r.answeredAt !== null ? 'answered' : 'unanswered',
      createdAt: new Date(r.createdAt).toISOString(),
      answeredAt: iso(r.answeredAt),
      endedAt: iso(r.endedAt),
      endReason: r.endReason,
    }
  }

  /** Each leg's latest quality sample of a call. */
  async #latestQuality(callId: string): Promise<LegQuality[]> {
    const legs = await this.#ctx.store.listLegs(callId)
    const samples = await this.#ctx.store.listQualitySamples(callId)
    return legs.map((leg) => {
      let latest: Record<string, unknown> | null = null
      for (const s of samples) if (s.legId === leg.id) latest = s.sample
      return { legId: leg.id, username: leg.username, role: leg.role, sample: latest }
    })
  }

  /** The calls in progress of the actor's accounts, newest first, each with every leg's latest sample. */
  async liveCalls(actor: AdminActor) {
    const accounts = new Map((await this.accounts(actor)).map((a) => [a.id, a]))
    const records = await this.#ctx.store.queryCallRecords({
      ...(actor.accountId === null ? {} : { accountId: actor.accountId }),
      outcome: 'active',
      limit: LIVE_LIMIT,
    })
    const calls = []
    for (const r of records)
      calls.push({ ...this.#present(r, accounts), quality: await this.#latestQuality(r.id) })
    return { calls, at: new Date(this.#ctx.clock.now()).toISOString() }
  }

  /** One page of call history, newest first; `next` is the cursor of the following page (null: the last page). */
  async history(
    actor: AdminActor,
    query: {
      from?: string
      to?: string
      user?: string
      outcome?: CallOutcome
      cursor?: string
      limit?: string
    },
  ) {
    const limit = query.limit === undefined ? 50 : Number(query.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw apiError('ADMIN_INVALID', 'limit', 'an integer from 1 to 500')
    const from = parseTime('from', query.from)
    const to = parseTime('to', query.to)
    const before = parseCursor(query.cursor)
    const accounts = new Map((await this.accounts(actor)).map((a) => [a.id, a]))
    const records = await this.#ctx.store.queryCallRecords({
      ...(actor.accountId === null ? {} : { accountId: actor.accountId }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(query.user ? { username: query.user } : {}),
      ...(query.outcome ? { outcome: query.outcome } : {}),
      ...(before ? { before } : {}),
      limit: limit + 1,
    })
    const page = records.slice(0, limit)
    const last = page.at(-1)
    return {
      calls: page.map((r) => this.#present(r, accounts)),
      next: records.length > limit && last ? cursorOf(last) : null,
    }
  }

  /** One call with its legs and its stored quality samples (the timeline), oldest first. */
  async call(actor: AdminActor, callId: string) {
    const call = await this.#ctx.store.getCall(callId)
    if (!call || !this.#sees(actor, call.accountId)) throw apiError('UNKNOWN_RESOURCE')
    const accounts = new Map((await this.accounts(actor)).map((a) => [a.id, a]))
    const legs = await this.#ctx.store.listLegs(call.id)
    const byLeg = new Map(legs.map((l) => [l.id, l]))
    const samples = (await this.#ctx.store.listQualitySamples(call.id)).map((s) => ({
      ...s.sample,
      legId: s.legId,
      username: byLeg.get(s.legId)?.username ?? '',
      role: byLeg.get(s.legId)?.role ?? 'callee',
    }))
    const base: CallRecord = {
      id: call.id,
      accountId: call.accountId,
      caller: call.callerUsername,
      callee: call.calleeUsername,
      state: call.state,
      createdAt: call.createdAt,
      answeredAt: call.answeredAt,
      endedAt: call.endedAt,
      endReason: call.endReason,
    }
    return {
      call: this.#present(base, accounts),
      legs: legs.map((l) => ({ legId: l.id, username: l.username, role: l.role, state: l.state })),
      samples,
    }
  }

  /** This node: its sockets, the calls in progress it can see, and whether the store and the bus answer. */
  async health(actor: AdminActor) {
    const [store, bus] = await Promise.all([
      probe(() => this.#ctx.store.ping()),
      probe(() => this.#ctx.bus.ping()),
    ])
    const gateway = this.#ctx.mediaGateway
    const rtpengine = gateway ? await probe(() => gateway.ping()) : null
    const active = await this.#ctx.store.queryCallRecords({
      ...(actor.accountId === null ? {} : { accountId: actor.accountId }),
      outcome: 'active',
      limit: 10_000,
    })
    return {
      status:
        store === 'ok' && bus === 'ok' && (rtpengine === null || rtpengine === 'ok') ? 'ok' : 'unavailable',
      checks: { store, bus, ...(rtpengine === null ? {} : { rtpengine }) },
      node: { pid: process.pid, uptimeSeconds: Math.round(process.uptime()) },
      connectedSockets: this.#facts.connectedSockets(),
      activeCalls: active.length,
      at: new Date(this.#ctx.clock.now()).toISOString(),
    }
  }
}

/** Runs an account service call, turning its AdminError (a sentence) into the API's 400 or 409. */
async function adminErrors<T>(part: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof AdminError) {
      if (/already (exists|taken)/.test(err.message)) throw apiError('ADMIN_CONFLICT', part, err.message)
      throw apiError('ADMIN_INVALID', part, err.message)
    }
    throw err
  }
}
