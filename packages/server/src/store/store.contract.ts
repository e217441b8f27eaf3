import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ActiveCallsError, ConflictError, DuplicateError } from './types.js'
import type {
  Account,
  Admin,
  Call,
  PstnCall,
  Channel,
  Leg,
  NewOutboxFrame,
  Store,
  Subscription,
  PhoneNumber,
  ProjectKey,
  Timer,
  User,
} from './types.js'

/** A fixed "now" for records whose times do not matter to the test. */
const NOW = 1_700_000_000_000

/** A unique id; ids are random so that a shared database (PostgreSQL) never needs emptying between tests. */
function uid(prefix: string): string {
  return `${prefix}-${randomUUID()}`
}

let timerWindows = 0

/**
 * The start of a 100 ms window of due times for one test's timers. `claimDueTimers(now)` takes every due
 * timer in the database, so on a shared database the leftovers of earlier tests (or earlier runs) must
 * never be due for a later test: each window lies below every earlier one (windows move down as the wall
 * clock moves up), and far below any real due time. A claim's lease only moves a timer's due time up, so
 * leftovers stay out of later windows as long as every claim's `now` stays inside its test's window.
 */
function timerWindow(): number {
  timerWindows += 1
  return -((Date.now() - 1_600_000_000_000) * 1_000 + timerWindows * 100)
}

function makeAccount(overrides: Partial<Account> = {}): Account {
  return { id: uid('acc'), clientId: uid('client'), name: 'Acme', createdAt: NOW, ...overrides }
}

function makeUser(accountId: string, overrides: Partial<User> = {}): User {
  const username = uid('u')
  return {
    id: uid('user'),
    accountId,
    login: `${username}@example.com`,
    username,
    passwordHash: '$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA',
    createdAt: NOW,
    ...overrides,
  }
}

function makeChannel(user: User, overrides: Partial<Channel> = {}): Channel {
  return {
    id: uid('ch'),
    userId: user.id,
    accountId: user.accountId,
    username: user.username,
    correlator: 'correlator-1',
    lifetime: 3600,
    connCheckRole: 'client',
    createdAt: NOW,
    lastActiveAt: NOW,
    everConnected: false,
    ...overrides,
  }
}

function makeSubscription(channel: Channel, overrides: Partial<Subscription> = {}): Subscription {
  return {
    id: uid('sub'),
    channelId: channel.id,
    userId: channel.userId,
    correlator: 'correlator-2',
    createdAt: NOW,
    ...overrides,
  }
}

function makeCall(accountId: string, overrides: Partial<Call> = {}): Call {
  return {
    id: uid('call'),
    accountId,
    state: 'initiated',
    callerLegId: uid('leg'),
    answeredLegId: null,
    negotiation: { type: 'idle' },
    offerSdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n',
    originatorAddress: 'alice@example.com',
    originatorName: 'Alice',
    tParticipantAddress: 'bob@example.com',
    callerUsername: 'alice',
    calleeUsername: 'bob',
    transfer: null,
    replacesCallIds: [],
    createdAt: NOW,
    answeredAt: null,
    endedAt: null,
    endReason: null,
    version: 0,
    ...overrides,
  }
}

function makeLeg(call: Call, overrides: Partial<Leg> = {}): Leg {
  return {
    id: uid('leg'),
    callId: call.id,
    userId: uid('user'),
    username: 'bob',
    role: 'callee',
    channelId: null,
    state: 'active',
    terminal: null,
    livenessArmed: false,
    lastSeenAt: null,
    acceptancePushedAt: null,
    guardReleased: false,
    held: [],
    createdAt: NOW,
    version: 0,
    ...overrides,
  }
}

function makeFrame(channelId: string, label: string, legId: string | null = null): NewOutboxFrame {
  return {
    channelId,
    id: uid('n'),
    kind: 'wrtcsEventNotification',
    legId,
    frame: JSON.stringify({ notificationMessage: { label } }),
  }
}

/** What a promise rejected with; fails the test when it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  )
}

async function expectDuplicate(promise: Promise<unknown>, field: string): Promise<void> {
  const error = await rejection(promise)
  expect(error).toBeInstanceOf(DuplicateError)
  expect((error as DuplicateError).field).toBe(field)
}

function ids(records: { id: string }[]): string[] {
  return records.map((record) => record.id)
}

/** Only the records whose id is in `mine`, in their order: other tests' rows may share the database. */
function only<T extends { id: string }>(records: T[], mine: { id: string }[]): T[] {
  const wanted = new Set(ids(mine))
  return records.filter((record) => wanted.has(record.id))
}

/**
 * The behaviour every Store adapter must have (architecture §2). `makeStore` returns a fresh, migrated
 * store; each test closes it. Tests use only the interface and random ids, and never assume an empty
 * database, so an adapter over a shared server (PostgreSQL) can run them too.
 */
export function runStoreContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store

    beforeEach(async () => {
      store = await makeStore()
    })

    afterEach(async () => {
      await store.close()
    })

    async function seedAccount(overrides: Partial<Account> = {}): Promise<Account> {
      const account = makeAccount(overrides)
      await store.createAccount(account)
      return account
    }

    async function seedUser(accountId?: string, overrides: Partial<User> = {}): Promise<User> {
      const user = makeUser(accountId ?? (await seedAccount()).id, overrides)
      await store.createUser(user)
      return user
    }

    async function seedChannel(user?: User, overrides: Partial<Channel> = {}): Promise<Channel> {
      const channel = makeChannel(user ?? (await seedUser()), overrides)
      await store.createChannel(channel)
      return channel
    }

    async function seedSubscription(
      channel: Channel,
      overrides: Partial<Subscription> = {},
    ): Promise<Subscription> {
      const sub = makeSubscription(channel, overrides)
      await store.createSubscription(sub)
      return sub
    }

    /** A call with its caller leg, committed. */
    async function seedCall(
      accountId?: string,
      overrides: Partial<Call> = {},
      legOverrides: Partial<Leg> = {},
    ): Promise<{ call: Call; callerLeg: Leg }> {
      const call = makeCall(accountId ?? (await seedAccount()).id, overrides)
      const callerLeg = makeLeg(call, {
        id: call.callerLegId,
        role: 'caller',
        username: 'alice',
        ...legOverrides,
      })
      await store.commit({ newCalls: [call], newLegs: [callerLeg] })
      return { call, callerLeg }
    }

    async function seedLeg(call: Call, overrides: Partial<Leg> = {}): Promise<Leg> {
      const leg = makeLeg(call, overrides)
      await store.commit({ newLegs: [leg] })
      return leg
    }

    describe('lifecycle', () => {
      it('migrate() on a migrated store is harmless and keeps the data', async () => {
        const account = await seedAccount()
        await store.migrate()
        expect(await store.getAccount(account.id)).toStrictEqual(account)
      })

      it('ping() resolves on an open store and rejects once it is closed', async () => {
        await expect(store.ping()).resolves.toBeUndefined()
        await store.close()
        await expect(store.ping()).rejects.toThrow()
      })

      it('close() twice resolves both times', async () => {
        await store.close()
        await expect(store.close()).resolves.toBeUndefined()
      })
    })

    describe('secrets', () => {
      it('getOrCreateSecret() creates the secret once and returns the same value afterwards', async () => {
        const name = uid('secret')
        let created = 0
        const create = () => {
          created += 1
          return `value-${created}`
        }
        expect(await store.getOrCreateSecret(name, create)).toBe('value-1')
        expect(await store.getOrCreateSecret(name, create)).toBe('value-1')
        expect(created).toBe(1)
      })

      it('getOrCreateSecret() keeps secrets of different names apart', async () => {
        const a = await store.getOrCreateSecret(uid('secret'), () => 'a')
        const b = await store.getOrCreateSecret(uid('secret'), () => 'b')
        expect([a, b]).toStrictEqual(['a', 'b'])
      })
    })

    describe('accounts', () => {
      it('createAccount() then getAccount() and getAccountByClientId() return copies of the account', async () => {
        const account = await seedAccount({ name: 'Example Corp' })
        const byId = await store.getAccount(account.id)
        expect(byId).toStrictEqual(account)
        expect(byId).not.toBe(account)
        expect(await store.getAccountByClientId(account.clientId)).toStrictEqual(account)
      })

      it('getAccount() and getAccountByClientId() of unknown keys return undefined', async () => {
        expect(await store.getAccount(uid('acc'))).toBeUndefined()
        expect(await store.getAccountByClientId(uid('client'))).toBeUndefined()
      })

      it('listAccounts() includes every created account', async () => {
        const a = await seedAccount()
        const b = await seedAccount()
        expect(only(await store.listAccounts(), [a, b])).toStrictEqual([a, b])
      })

      it("createAccount() with a taken clientId throws DuplicateError('clientId')", async () => {
        const account = await seedAccount()
        await expectDuplicate(store.createAccount(makeAccount({ clientId: account.clientId })), 'clientId')
      })

      /**
       * An account with one of everything: a user with a channel, subscription and queued frame, an anonymous
       * identity (of a project key), an allow-listed destination, an ended call with a callee leg, and timers
       * (due in this test's window) about the call and about each leg.
       */
      async function seedFullAccount(window: number) {
        const account = await seedAccount()
        const user = await seedUser(account.id)
        const channel = await seedChannel(user)
        const sub = await seedSubscription(channel)
        await store.appendFrames([makeFrame(channel.id, 'queued')])
        const key: ProjectKey = {
          id: uid('pk'),
          accountId: account.id,
          name: 'website',
          secretHash: 'b'.repeat(64),
          createdAt: NOW,
          expiresAt: null,
        }
        await store.createProjectKey(key)
        const anonymous = makeUser(account.id)
        await store.createAnonymousUser(anonymous, {
          userId: anonymous.id,
          accountId: account.id,
          keyId: key.id,
          expiresAt: NOW,
          createdAt: NOW,
        })
        await store.addAnonymousDestination({ accountId: account.id, address: user.login, createdAt: NOW })
        const { call, callerLeg } = await seedCall(
          account.id,
          { state: 'ended', endedAt: NOW, endReason: 'ended' },
          { userId: user.id, state: 'ended' },
        )
        const calleeLeg = await seedLeg(call, { userId: anonymous.id, state: 'ended' })
        const timers: Timer[] = [call.id, callerLeg.id, calleeLeg.id].map((ref, index) => ({
          id: `contract-${index}:${ref}`,
          kind: 'repush',
          dueAt: window + index,
          payload: { ref },
        }))
        for (const timer of timers) await store.scheduleTimer(timer)
        return { account, user, channel, sub, key, anonymous, call, callerLeg, calleeLeg, timers }
      }

      it('deleteAccount() removes the account and everything of it, and only that', async () => {
        const window = timerWindow()
        const gone = await seedFullAccount(window)
        const kept = await seedFullAccount(window + 10)
        // A timer about something else (no ref of the account) is not the account's.
        const unrelated: Timer = { id: uid('timer'), kind: 'other', dueAt: window + 20, payload: {} }
        await store.scheduleTimer(unrelated)

        expect(await store.deleteAccount(gone.account.id)).toStrictEqual({
          users: 2,
          calls: 1,
          projectKeys: 1,
          anonymousDestinations: 1,
        })

        expect(await store.getAccount(gone.account.id)).toBeUndefined()
        expect(await store.getAccountByClientId(gone.account.clientId)).toBeUndefined()
        expect(only(await store.listAccounts(), [gone.account, kept.account])).toStrictEqual([kept.account])
        expect(await store.listUsers(gone.account.id)).toStrictEqual([])
        expect(await store.getUser(gone.user.id)).toBeUndefined()
        expect(await store.getUser(gone.anonymous.id)).toBeUndefined()
        expect(await store.getAnonymousIdentity(gone.anonymous.id)).toBeUndefined()
        expect(await store.getChannel(gone.channel.id)).toBeUndefined()
        expect(await store.getSubscription(gone.sub.id)).toBeUndefined()
        expect(await store.listUndelivered(gone.channel.id, 10)).toStrictEqual([])
        expect(await store.getProjectKey(gone.key.id)).toBeUndefined()
        expect(await store.listAnonymousDestinations(gone.account.id)).toStrictEqual([])
        expect(await store.getCall(gone.call.id)).toBeUndefined()
        expect(await store.listLegs(gone.call.id)).toStrictEqual([])
        expect(await store.getLeg(gone.calleeLeg.id)).toBeUndefined()
        expect(await store.listCallRecords(10, gone.account.id)).toStrictEqual([])

        // The other account is whole, its timers included; the deleted account's timers are gone.
        expect(await store.getAccount(kept.account.id)).toStrictEqual(kept.account)
        expect(await store.listUsers(kept.account.id)).toHaveLength(2)
        expect(await store.getChannel(kept.channel.id)).toStrictEqual(kept.channel)
        expect(await store.listUndelivered(kept.channel.id, 10)).toHaveLength(1)
        expect(await store.getProjectKey(kept.key.id)).toStrictEqual(kept.key)
        expect(await store.getAnonymousIdentity(kept.anonymous.id)).toBeDefined()
        expect(await store.listAnonymousDestinations(kept.account.id)).toHaveLength(1)
        expect(await store.getCall(kept.call.id)).toStrictEqual(kept.call)
        expect(await store.listLegs(kept.call.id)).toHaveLength(2)
        const claimed = await store.claimDueTimers(window + 50, 100, 1_000)
        const mine = [...gone.timers, ...kept.timers, unrelated]
        expect(only(claimed, mine).map((t) => t.id)).toStrictEqual(
          [...kept.timers, unrelated].map((t) => t.id),
        )
        for (const timer of mine) await store.cancelTimer(timer.id)
      })

      it('deleteAccount() of an unknown id resolves to undefined and deletes nothing', async () => {
        const user = await seedUser()
        expect(await store.deleteAccount(uid('acc'))).toBeUndefined()
        expect(await store.getUser(user.id)).toStrictEqual(user)
      })

      it('deleteAccount() refuses an account with a call in progress (ActiveCallsError) unless forced', async () => {
        const account = await seedAccount()
        const user = await seedUser(account.id)
        const { call: ringing } = await seedCall(account.id, { state: 'ringing' }, { userId: user.id })
        const { call: connected } = await seedCall(account.id, { state: 'connected' }, { userId: user.id })
        await seedCall(account.id, { state: 'ended' })

        const error = await rejection(store.deleteAccount(account.id))
        expect(error).toBeInstanceOf(ActiveCallsError)
        expect((error as ActiveCallsError).activeCalls).toBe(2)
        expect(await store.getAccount(account.id)).toStrictEqual(account)
        expect(await store.getUser(user.id)).toStrictEqual(user)
        expect(await store.getCall(ringing.id)).toStrictEqual(ringing)
        expect(await store.listCallRecords(10, account.id)).toHaveLength(3)

        expect(await store.deleteAccount(account.id, { force: true })).toMatchObject({ users: 1, calls: 3 })
        expect(await store.getAccount(account.id)).toBeUndefined()
        expect(await store.getCall(connected.id)).toBeUndefined()
        expect(await store.deleteAccount(account.id, { force: true })).toBeUndefined()
      })

      it('createAccount() after deleteAccount() may take the same client id again', async () => {
        const account = await seedAccount()
        await store.deleteAccount(account.id)
        const again = await seedAccount({ clientId: account.clientId })
        expect(await store.getAccountByClientId(account.clientId)).toStrictEqual(again)
      })
    })

    describe('users', () => {
      it('createUser() then getUser(), getUserByLogin() and getUserByUsername() return the user', async () => {
        const user = await seedUser()
        expect(await store.getUser(user.id)).toStrictEqual(user)
        expect(await store.getUserByLogin(user.accountId, user.login)).toStrictEqual(user)
        expect(await store.getUserByUsername(user.accountId, user.username)).toStrictEqual(user)
      })

      it('getUser(), getUserByLogin() and getUserByUsername() of unknown keys return undefined', async () => {
        const user = await seedUser()
        expect(await store.getUser(uid('user'))).toBeUndefined()
        expect(await store.getUserByLogin(user.accountId, 'nobody@example.com')).toBeUndefined()
        expect(await store.getUserByUsername(user.accountId, 'nobody')).toBeUndefined()
      })

      it('getUserByLogin() and getUserByUsername() look only inside the given account', async () => {
        const user = await seedUser()
        const other = await seedAccount()
        expect(await store.getUserByLogin(other.id, user.login)).toBeUndefined()
        expect(await store.getUserByUsername(other.id, user.username)).toBeUndefined()
      })

      it("createUser() with a login taken in the account throws DuplicateError('login')", async () => {
        const user = await seedUser()
        await expectDuplicate(store.createUser(makeUser(user.accountId, { login: user.login })), 'login')
      })

      it("createUser() with a username taken in the account throws DuplicateError('username')", async () => {
        const user = await seedUser()
        await expectDuplicate(
          store.createUser(makeUser(user.accountId, { username: user.username })),
          'username',
        )
      })

      it('createUser() accepts the login and username of a user of another account', async () => {
        const user = await seedUser()
        const other = await seedUser(undefined, { login: user.login, username: user.username })
        expect(await store.getUserByLogin(other.accountId, user.login)).toStrictEqual(other)
        expect(await store.getUserByLogin(user.accountId, user.login)).toStrictEqual(user)
      })

      it('listUsersByLocalPart() returns the account users whose login has that part before the last @', async () => {
        const account = await seedAccount()
        const atA = await seedUser(account.id, { login: 'alice@a.example' })
        const atB = await seedUser(account.id, { login: 'alice@b.example' })
        await seedUser(account.id, { login: 'alice.smith@a.example' })
        await seedUser(account.id, { login: 'bob@alice' })
        const twoAts = await seedUser(account.id, { login: 'carol@home@c.example' })
        await seedUser(undefined, { login: 'alice@a.example' })

        expect(await store.listUsersByLocalPart(account.id, 'alice')).toStrictEqual([atA, atB])
        expect(await store.listUsersByLocalPart(account.id, 'carol@home')).toStrictEqual([twoAts])
        expect(await store.listUsersByLocalPart(account.id, 'carol')).toStrictEqual([])
      })

      it("listUsers() lists one account's users, or every account's without an id", async () => {
        const account = await seedAccount()
        const a = await seedUser(account.id)
        const b = await seedUser(account.id)
        const elsewhere = await seedUser()
        expect(await store.listUsers(account.id)).toStrictEqual([a, b])
        expect(only(await store.listUsers(), [a, b, elsewhere])).toStrictEqual([a, b, elsewhere])
      })

      it('deleteUser() removes the user with their channels, subscriptions and queues and returns true', async () => {
        const user = await seedUser()
        const channel = await seedChannel(user)
        const sub = await seedSubscription(channel)
        await store.appendFrames([makeFrame(channel.id, 'queued')])
        const keptUser = await seedUser(user.accountId)
        const keptChannel = await seedChannel(keptUser)

        expect(await store.deleteUser(user.id)).toBe(true)

        expect(await store.getUser(user.id)).toBeUndefined()
        expect(await store.getUserByLogin(user.accountId, user.login)).toBeUndefined()
        expect(await store.getChannel(channel.id)).toBeUndefined()
        expect(await store.listChannelsByUser(user.id)).toStrictEqual([])
        expect(await store.getSubscription(sub.id)).toBeUndefined()
        expect(await store.listUndelivered(channel.id, 10)).toStrictEqual([])
        expect(await store.getChannel(keptChannel.id)).toStrictEqual(keptChannel)
      })

      it("setUserPassword() replaces only that user's password hash; unknown ids return false", async () => {
        const user = await seedUser()
        const other = await seedUser(user.accountId)
        expect(await store.setUserPassword(user.id, 'scrypt$new-hash')).toBe(true)
        expect(await store.getUser(user.id)).toStrictEqual({ ...user, passwordHash: 'scrypt$new-hash' })
        expect(await store.getUserByLogin(user.accountId, user.login)).toMatchObject({
          passwordHash: 'scrypt$new-hash',
        })
        expect(await store.getUser(other.id)).toStrictEqual(other)
        expect(await store.setUserPassword(uid('user'), 'scrypt$x')).toBe(false)
      })

      it('deleteUser() of an unknown id returns false', async () => {
        expect(await store.deleteUser(uid('user'))).toBe(false)
      })

      it('deleteUser() keeps the calls and legs of the user as call records', async () => {
        const user = await seedUser()
        const { call, callerLeg } = await seedCall(user.accountId, {}, { userId: user.id })
        await store.deleteUser(user.id)
        expect(await store.getCall(call.id)).toStrictEqual(call)
        expect(await store.getLeg(callerLeg.id)).toStrictEqual(callerLeg)
      })

      it('createUser() after deleteUser() may take the same login and username again', async () => {
        const user = await seedUser()
        await store.deleteUser(user.id)
        const again = await seedUser(user.accountId, { login: user.login, username: user.username })
        expect(await store.getUserByUsername(user.accountId, user.username)).toStrictEqual(again)
      })
    })

    describe('channels', () => {
      it('createChannel() then getChannel() round-trips every field', async () => {
        const user = await seedUser()
        const plain = await seedChannel(user)
        const other = await seedChannel(user, {
          correlator: null,
          lifetime: 60,
          connCheckRole: 'server',
          createdAt: NOW + 1,
          lastActiveAt: NOW + 2,
          everConnected: true,
        })
        expect(await store.getChannel(plain.id)).toStrictEqual(plain)
        expect(await store.getChannel(other.id)).toStrictEqual(other)
      })

      it('getChannel() of an unknown id returns undefined', async () => {
        expect(await store.getChannel(uid('ch'))).toBeUndefined()
      })

      it("listChannelsByUser() returns the user's channels, oldest first", async () => {
        const user = await seedUser()
        const newer = await seedChannel(user, { createdAt: NOW + 10 })
        const older = await seedChannel(user, { createdAt: NOW })
        await seedChannel(await seedUser(user.accountId))
        expect(await store.listChannelsByUser(user.id)).toStrictEqual([older, newer])
      })

      it('deleteChannel() removes the channel with its subscription and queue and returns true', async () => {
        const channel = await seedChannel()
        const sub = await seedSubscription(channel)
        await store.appendFrames([makeFrame(channel.id, 'queued')])

        expect(await store.deleteChannel(channel.id)).toBe(true)

        expect(await store.getChannel(channel.id)).toBeUndefined()
        expect(await store.getSubscription(sub.id)).toBeUndefined()
        expect(await store.getSubscriptionByChannel(channel.id)).toBeUndefined()
        expect(await store.listUndelivered(channel.id, 10)).toStrictEqual([])
        expect(await store.listSubscribedChannels(channel.userId)).toStrictEqual([])
      })

      it('deleteChannel() of an unknown id returns false', async () => {
        expect(await store.deleteChannel(uid('ch'))).toBe(false)
      })

      it('touchChannels() sets lastActiveAt on every given channel, and everConnected when connected', async () => {
        const user = await seedUser()
        const a = await seedChannel(user)
        const b = await seedChannel(user)
        const untouched = await seedChannel(user)

        await store.touchChannels([a.id, b.id], NOW + 5_000, true)

        expect(await store.getChannel(a.id)).toStrictEqual({
          ...a,
          lastActiveAt: NOW + 5_000,
          everConnected: true,
        })
        expect(await store.getChannel(b.id)).toStrictEqual({
          ...b,
          lastActiveAt: NOW + 5_000,
          everConnected: true,
        })
        expect(await store.getChannel(untouched.id)).toStrictEqual(untouched)
      })

      it('touchChannels() without connected keeps everConnected as it was', async () => {
        const user = await seedUser()
        const connected = await seedChannel(user, { everConnected: true })
        const never = await seedChannel(user)

        await store.touchChannels([connected.id, never.id], NOW + 7_000, false)

        expect(await store.getChannel(connected.id)).toMatchObject({
          lastActiveAt: NOW + 7_000,
          everConnected: true,
        })
        expect(await store.getChannel(never.id)).toMatchObject({
          lastActiveAt: NOW + 7_000,
          everConnected: false,
        })
      })

      it('touchChannels() with no ids or unknown ids does nothing', async () => {
        await expect(store.touchChannels([], NOW, true)).resolves.toBeUndefined()
        await expect(store.touchChannels([uid('ch')], NOW, true)).resolves.toBeUndefined()
      })

      it('setChannelLifetime() changes only the lifetime', async () => {
        const channel = await seedChannel()
        await store.setChannelLifetime(channel.id, 120)
        expect(await store.getChannel(channel.id)).toStrictEqual({ ...channel, lifetime: 120 })
      })

      describe('listExpiredChannels()', () => {
        const now = NOW + 10 * 3_600_000
        const minIdleMs = 120_000
        const neverConnectedMs = 120_000

        async function expired(): Promise<string[]> {
          return ids(await store.listExpiredChannels(now, minIdleMs, neverConnectedMs))
        }

        it('listExpiredChannels() returns a never-connected channel created more than neverConnectedMs ago', async () => {
          const user = await seedUser()
          const old = now - neverConnectedMs - 1
          const stale = await seedChannel(user, { createdAt: old, lastActiveAt: old })
          const boundary = await seedChannel(user, {
            createdAt: now - neverConnectedMs,
            lastActiveAt: now - neverConnectedMs,
          })
          const fresh = await seedChannel(user, { createdAt: now - 1_000, lastActiveAt: now - 1_000 })

          const result = await expired()
          expect(result).toContain(stale.id)
          expect(result).not.toContain(boundary.id)
          expect(result).not.toContain(fresh.id)
        })

        it('listExpiredChannels() keeps a never-connected channel with a long lifetime no longer than neverConnectedMs', async () => {
          const user = await seedUser()
          const old = now - neverConnectedMs - 1
          const stale = await seedChannel(user, { lifetime: 86_400, createdAt: old, lastActiveAt: old })
          expect(await expired()).toContain(stale.id)
        })

        it('listExpiredChannels() returns a connected channel idle for longer than its lifetime', async () => {
          const user = await seedUser()
          const lifetimeMs = 600_000
          const stale = await seedChannel(user, {
            lifetime: lifetimeMs / 1000,
            everConnected: true,
            lastActiveAt: now - lifetimeMs - 1,
          })
          const boundary = await seedChannel(user, {
            lifetime: lifetimeMs / 1000,
            everConnected: true,
            lastActiveAt: now - lifetimeMs,
          })
          // Idle longer than minIdleMs but not than its own lifetime.
          const within = await seedChannel(user, {
            lifetime: lifetimeMs / 1000,
            everConnected: true,
            lastActiveAt: now - minIdleMs - 1,
          })

          const result = await expired()
          expect(result).toContain(stale.id)
          expect(result).not.toContain(boundary.id)
          expect(result).not.toContain(within.id)
        })

        it('listExpiredChannels() applies minIdleMs as a floor under a shorter lifetime', async () => {
          const user = await seedUser()
          const stale = await seedChannel(user, {
            lifetime: 30,
            everConnected: true,
            lastActiveAt: now - minIdleMs - 1,
          })
          const boundary = await seedChannel(user, {
            lifetime: 30,
            everConnected: true,
            lastActiveAt: now - minIdleMs,
          })
          // Past its 30 s lifetime, still inside the floor.
          const floored = await seedChannel(user, {
            lifetime: 30,
            everConnected: true,
            lastActiveAt: now - 60_000,
          })

          const result = await expired()
          expect(result).toContain(stale.id)
          expect(result).not.toContain(boundary.id)
          expect(result).not.toContain(floored.id)
        })

        it('listExpiredChannels() judges a connected channel by lastActiveAt, not createdAt', async () => {
          const user = await seedUser()
          const active = await seedChannel(user, {
            lifetime: 60,
            everConnected: true,
            createdAt: now - 24 * 3_600_000,
            lastActiveAt: now - 1_000,
          })
          expect(await expired()).not.toContain(active.id)
        })

        it('listExpiredChannels() returns the full channel records', async () => {
          const user = await seedUser()
          const stale = await seedChannel(user, { createdAt: NOW, lastActiveAt: NOW })
          expect(
            only(await store.listExpiredChannels(now, minIdleMs, neverConnectedMs), [stale]),
          ).toStrictEqual([stale])
        })
      })
    })

    describe('subscriptions', () => {
      it('createSubscription() then getSubscription() and getSubscriptionByChannel() return it', async () => {
        const channel = await seedChannel()
        const sub = await seedSubscription(channel)
        const withoutCorrelator = await seedSubscription(await seedChannel(), { correlator: null })
        expect(await store.getSubscription(sub.id)).toStrictEqual(sub)
        expect(await store.getSubscriptionByChannel(channel.id)).toStrictEqual(sub)
        expect(await store.getSubscription(withoutCorrelator.id)).toStrictEqual(withoutCorrelator)
      })

      it('getSubscription() and getSubscriptionByChannel() of unknown keys return undefined', async () => {
        const channel = await seedChannel()
        expect(await store.getSubscription(uid('sub'))).toBeUndefined()
        expect(await store.getSubscriptionByChannel(channel.id)).toBeUndefined()
      })

      it("createSubscription() for a channel that has one throws DuplicateError('channelId')", async () => {
        const channel = await seedChannel()
        await seedSubscription(channel)
        await expectDuplicate(store.createSubscription(makeSubscription(channel)), 'channelId')
      })

      it('deleteSubscription() removes the subscription and returns true, false when there is none', async () => {
        const channel = await seedChannel()
        const sub = await seedSubscription(channel)
        expect(await store.deleteSubscription(sub.id)).toBe(true)
        expect(await store.getSubscription(sub.id)).toBeUndefined()
        expect(await store.getSubscriptionByChannel(channel.id)).toBeUndefined()
        expect(await store.getChannel(channel.id)).toStrictEqual(channel)
        expect(await store.deleteSubscription(sub.id)).toBe(false)
      })

      it("listSubscribedChannels() returns the user's subscribed channels, oldest first", async () => {
        const user = await seedUser()
        const newer = await seedChannel(user, { createdAt: NOW + 20 })
        const older = await seedChannel(user, { createdAt: NOW + 10 })
        await seedChannel(user, { createdAt: NOW })
        const unsubscribed = await seedChannel(user, { createdAt: NOW + 5 })
        await seedSubscription(newer)
        await seedSubscription(older)
        const gone = await seedSubscription(unsubscribed)
        await store.deleteSubscription(gone.id)
        await seedSubscription(await seedChannel(await seedUser(user.accountId)))

        expect(await store.listSubscribedChannels(user.id)).toStrictEqual([older, newer])
      })
    })

    describe('outbox', () => {
      it('appendFrames() queues frames at the end of the channel queue, in order, with increasing seqs', async () => {
        const channel = await seedChannel()
        const legId = uid('leg')
        const first = [makeFrame(channel.id, 'a', legId), makeFrame(channel.id, 'b')]
        const second = [makeFrame(channel.id, 'c')]
        const before = Date.now()
        await store.appendFrames(first)
        await store.appendFrames(second)
        const after = Date.now()

        const queued = await store.listUndelivered(channel.id, 10)
        expect(
          queued.map(({ channelId, id, kind, legId, frame }) => ({ channelId, id, kind, legId, frame })),
        ).toStrictEqual([...first, ...second])
        const seqs = queued.map((frame) => frame.seq)
        expect(seqs).toStrictEqual([...seqs].sort((x, y) => x - y))
        expect(new Set(seqs).size).toBe(3)
        for (const frame of queued) {
          expect(frame.deliveredAt).toBeNull()
          expect(frame.createdAt).toBeGreaterThanOrEqual(before)
          expect(frame.createdAt).toBeLessThanOrEqual(after)
        }
      })

      it('appendFrames() numbers each channel from 1 on its own, also within one batch', async () => {
        const user = await seedUser()
        const a = await seedChannel(user)
        const b = await seedChannel(user)
        await store.appendFrames([makeFrame(a.id, 'a1'), makeFrame(b.id, 'b1'), makeFrame(a.id, 'a2')])
        await store.appendFrames([makeFrame(b.id, 'b2')])

        const seqsOf = async (channelId: string) =>
          (await store.listUndelivered(channelId, 10)).map((frame) => [frame.seq, JSON.parse(frame.frame)])
        expect(await seqsOf(a.id)).toStrictEqual([
          [1, { notificationMessage: { label: 'a1' } }],
          [2, { notificationMessage: { label: 'a2' } }],
        ])
        expect(await seqsOf(b.id)).toStrictEqual([
          [1, { notificationMessage: { label: 'b1' } }],
          [2, { notificationMessage: { label: 'b2' } }],
        ])
      })

      it('appendFrames() drops frames for unknown channels and queues the others', async () => {
        const channel = await seedChannel()
        const kept = makeFrame(channel.id, 'kept')
        const unknown = uid('ch')
        await store.appendFrames([makeFrame(unknown, 'lost'), kept])
        expect(ids(await store.listUndelivered(channel.id, 10))).toStrictEqual([kept.id])
        expect(await store.listUndelivered(unknown, 10)).toStrictEqual([])
      })

      it('appendFrames() with no frames does nothing', async () => {
        await expect(store.appendFrames([])).resolves.toStrictEqual([])
      })

      it('appendFrames() returns the frames it queued, with their seqs, as listUndelivered() reads them', async () => {
        const user = await seedUser()
        const a = await seedChannel(user)
        const b = await seedChannel(user)
        await store.appendFrames([makeFrame(a.id, 'a0')])
        const appended = await store.appendFrames([
          makeFrame(a.id, 'a1', uid('leg')),
          makeFrame(uid('ch'), 'lost'),
          makeFrame(b.id, 'b1'),
          makeFrame(a.id, 'a2'),
        ])
        const queued = [
          ...(await store.listUndelivered(a.id, 10)).slice(1),
          ...(await store.listUndelivered(b.id, 10)),
        ]
        const byKey = (x: { channelId: string; seq: number }, y: { channelId: string; seq: number }) =>
          x.channelId.localeCompare(y.channelId) || x.seq - y.seq
        expect([...appended].sort(byKey)).toStrictEqual([...queued].sort(byKey))
        expect(appended.filter((f) => f.channelId === a.id).map((f) => f.seq)).toStrictEqual([2, 3])
      })

      it('listUndelivered() returns at most limit frames, oldest first', async () => {
        const channel = await seedChannel()
        const frames = ['a', 'b', 'c', 'd'].map((label) => makeFrame(channel.id, label))
        await store.appendFrames(frames)
        expect(ids(await store.listUndelivered(channel.id, 2))).toStrictEqual(ids(frames.slice(0, 2)))
      })

      it('markDelivered() marks the frames up to the seq delivered at the time, and only those', async () => {
        const user = await seedUser()
        const channel = await seedChannel(user)
        const other = await seedChannel(user)
        await store.appendFrames(['a', 'b', 'c'].map((label) => makeFrame(channel.id, label)))
        await store.appendFrames([makeFrame(other.id, 'x')])
        const [a, b, c] = await store.listUndelivered(channel.id, 10)

        await store.markDelivered(channel.id, b!.seq, NOW + 100)

        expect(await store.listUndelivered(channel.id, 10)).toStrictEqual([c])
        expect(await store.listRecentlyDelivered(channel.id, 0, 10)).toStrictEqual([
          { ...a!, deliveredAt: NOW + 100 },
          { ...b!, deliveredAt: NOW + 100 },
        ])
        expect(await store.listUndelivered(other.id, 10)).toHaveLength(1)
      })

      it('markDelivered() keeps the first delivery time of frames delivered before', async () => {
        const channel = await seedChannel()
        await store.appendFrames(['a', 'b'].map((label) => makeFrame(channel.id, label)))
        const [a, b] = await store.listUndelivered(channel.id, 10)
        await store.markDelivered(channel.id, a!.seq, NOW + 100)
        await store.markDelivered(channel.id, b!.seq, NOW + 200)
        expect(
          (await store.listRecentlyDelivered(channel.id, 0, 10)).map((f) => f.deliveredAt),
        ).toStrictEqual([NOW + 100, NOW + 200])
      })

      it('markDeliveredMany() marks several channels in one call, each up to its own seq', async () => {
        const user = await seedUser()
        const [a, b, untouched] = [await seedChannel(user), await seedChannel(user), await seedChannel(user)]
        await store.appendFrames(['a1', 'a2', 'a3'].map((label) => makeFrame(a.id, label)))
        await store.appendFrames(['b1', 'b2'].map((label) => makeFrame(b.id, label)))
        await store.appendFrames([makeFrame(untouched.id, 'u1')])
        const [a1, a2, a3] = await store.listUndelivered(a.id, 10)
        const [b1, b2] = await store.listUndelivered(b.id, 10)

        await store.markDeliveredMany(
          [
            { channelId: a.id, uptoSeq: a2!.seq },
            { channelId: b.id, uptoSeq: b2!.seq },
          ],
          NOW + 5,
        )
        await store.markDeliveredMany([], NOW + 6)

        expect(await store.listUndelivered(a.id, 10)).toStrictEqual([a3])
        expect(await store.listUndelivered(b.id, 10)).toStrictEqual([])
        expect(await store.listUndelivered(untouched.id, 10)).toHaveLength(1)
        expect(await store.listRecentlyDelivered(a.id, 0, 10)).toStrictEqual([
          { ...a1!, deliveredAt: NOW + 5 },
          { ...a2!, deliveredAt: NOW + 5 },
        ])
        expect(await store.listRecentlyDelivered(b.id, 0, 10)).toStrictEqual([
          { ...b1!, deliveredAt: NOW + 5 },
          { ...b2!, deliveredAt: NOW + 5 },
        ])
      })

      it('listRecentlyDelivered() returns the last limit frames delivered since the time, in order', async () => {
        const channel = await seedChannel()
        const frames = ['a', 'b', 'c', 'd', 'e'].map((label) => makeFrame(channel.id, label))
        await store.appendFrames(frames)
        const queued = await store.listUndelivered(channel.id, 10)
        await store.markDelivered(channel.id, queued[0]!.seq, NOW)
        await store.markDelivered(channel.id, queued[3]!.seq, NOW + 1_000)
        // frames[4] stays undelivered and is never "recently delivered".

        expect(ids(await store.listRecentlyDelivered(channel.id, NOW + 1_000, 10))).toStrictEqual(
          ids(frames.slice(1, 4)),
        )
        expect(ids(await store.listRecentlyDelivered(channel.id, NOW, 2))).toStrictEqual(
          ids(frames.slice(2, 4)),
        )
        expect(ids(await store.listRecentlyDelivered(channel.id, NOW, 10))).toStrictEqual(
          ids(frames.slice(0, 4)),
        )
        expect(await store.listRecentlyDelivered(channel.id, NOW + 1_001, 10)).toStrictEqual([])
      })

      it('pruneDelivered() deletes frames delivered before the time and keeps the rest', async () => {
        const channel = await seedChannel()
        const frames = ['old', 'boundary', 'queued'].map((label) => makeFrame(channel.id, label))
        await store.appendFrames(frames)
        const queued = await store.listUndelivered(channel.id, 10)
        await store.markDelivered(channel.id, queued[0]!.seq, NOW)
        await store.markDelivered(channel.id, queued[1]!.seq, NOW + 1_000)

        await store.pruneDelivered(NOW + 1_000)

        expect(ids(await store.listRecentlyDelivered(channel.id, 0, 10))).toStrictEqual([frames[1]!.id])
        expect(ids(await store.listUndelivered(channel.id, 10))).toStrictEqual([frames[2]!.id])
      })

      it('appendFrames() after pruneDelivered() emptied the queue continues the sequence', async () => {
        const channel = await seedChannel()
        await store.appendFrames([makeFrame(channel.id, 'a'), makeFrame(channel.id, 'b')])
        const lastSeq = (await store.listUndelivered(channel.id, 10)).at(-1)!.seq
        await store.markDelivered(channel.id, lastSeq, NOW)
        await store.pruneDelivered(NOW + 1)
        expect(await store.listRecentlyDelivered(channel.id, 0, 10)).toStrictEqual([])

        await store.appendFrames([makeFrame(channel.id, 'c')])

        expect((await store.listUndelivered(channel.id, 10))[0]!.seq).toBeGreaterThan(lastSeq)
      })
    })

    describe('calls and legs', () => {
      it('commit() inserts new calls and legs, and getCall(), getLeg() and listLegs() return them', async () => {
        const { call, callerLeg } = await seedCall()
        const calleeLeg = await seedLeg(call, { createdAt: NOW + 1 })
        const second = await seedLeg(call, { createdAt: NOW + 1, username: 'bob-tablet' })

        const stored = await store.getCall(call.id)
        expect(stored).toStrictEqual(call)
        expect(stored).not.toBe(call)
        expect(await store.getLeg(callerLeg.id)).toStrictEqual(callerLeg)
        expect(await store.listLegs(call.id)).toStrictEqual([callerLeg, calleeLeg, second])
      })

      it('getCall(), getLeg() and listLegs() of unknown ids return undefined and []', async () => {
        expect(await store.getCall(uid('call'))).toBeUndefined()
        expect(await store.getLeg(uid('leg'))).toBeUndefined()
        expect(await store.listLegs(uid('call'))).toStrictEqual([])
      })

      it('getCall() round-trips every negotiation variant, transfer context and optional field', async () => {
        const account = await seedAccount()
        const offerPending = makeCall(account.id, {
          state: 'connected',
          answeredLegId: uid('leg'),
          negotiation: { type: 'offerPending', fromLegId: uid('leg') },
          transfer: {
            kind: 'direct',
            transferorLegIds: [uid('leg')],
            movingLegId: uid('leg'),
            targetAddress: 'carol@example.com',
            targetLegId: null,
            otherCallId: null,
          },
          answeredAt: NOW + 5_000,
          version: 7,
        })
        const slowStart = makeCall(account.id, {
          state: 'ended',
          negotiation: { type: 'slowStart', toLegId: uid('leg') },
          transfer: {
            kind: 'consultative',
            transferorLegIds: [uid('leg'), uid('leg')],
            movingLegId: uid('leg'),
            targetAddress: 'carol@example.com',
            targetLegId: uid('leg'),
            otherCallId: uid('call'),
          },
          replacesCallIds: [uid('call'), uid('call')],
          answeredAt: NOW + 1_000,
          endedAt: NOW + 9_000,
          endReason: 'Transferred',
        })
        await store.commit({ newCalls: [offerPending, slowStart] })

        expect(await store.getCall(offerPending.id)).toStrictEqual(offerPending)
        expect(await store.getCall(slowStart.id)).toStrictEqual(slowStart)
      })

      it('getLeg() round-trips terminal events, held frames, liveness and guard fields', async () => {
        const { call } = await seedCall()
        const channel = await seedChannel()
        const ended = makeLeg(call, {
          channelId: channel.id,
          state: 'cancelled',
          terminal: { eventType: 'Cancelled', statusCode: 200, reasonText: 'Answered Elsewhere' },
          livenessArmed: true,
          lastSeenAt: NOW + 1,
          version: 3,
        })
        const guarded = makeLeg(call, {
          role: 'caller',
          state: 'ended',
          terminal: { eventType: 'SessionEnded', statusCode: 0, reasonText: '' },
          acceptancePushedAt: NOW + 2,
          guardReleased: true,
          held: [JSON.stringify({ wrtcsOfferNotification: { sdp: 'v=0' } }), '{"b":2}'],
        })
        await store.commit({ newLegs: [ended, guarded] })

        expect(await store.getLeg(ended.id)).toStrictEqual(ended)
        expect(await store.getLeg(guarded.id)).toStrictEqual(guarded)
      })

      it('getCall() and getLeg() return copies: mutating them changes nothing stored', async () => {
        const { call, callerLeg } = await seedCall(undefined, { replacesCallIds: [uid('call')] })
        const snapshot = structuredClone(call)
        const legSnapshot = structuredClone(callerLeg)
        call.state = 'ended'
        call.replacesCallIds.push('mutated')
        callerLeg.held.push('mutated')

        const read = (await store.getCall(call.id))!
        read.replacesCallIds.push('mutated')
        read.negotiation = { type: 'slowStart', toLegId: 'x' }
        const readLeg = (await store.getLeg(callerLeg.id))!
        readLeg.held.push('mutated')

        expect(await store.getCall(call.id)).toStrictEqual(snapshot)
        expect(await store.getLeg(callerLeg.id)).toStrictEqual(legSnapshot)
      })

      it('commit() of updates stores them, bumps the stored version and the version of the passed records', async () => {
        const { call, callerLeg } = await seedCall()
        const calleeLeg = await seedLeg(call)
        const callRead = (await store.getCall(call.id))!
        const legRead = (await store.getLeg(calleeLeg.id))!
        callRead.state = 'connected'
        callRead.answeredLegId = calleeLeg.id
        callRead.answeredAt = NOW + 3_000
        callRead.negotiation = { type: 'offerPending', fromLegId: callerLeg.id }
        legRead.livenessArmed = true
        legRead.lastSeenAt = NOW + 3_000

        await store.commit({ calls: [callRead], legs: [legRead] })

        expect(callRead.version).toBe(1)
        expect(legRead.version).toBe(1)
        expect(await store.getCall(call.id)).toStrictEqual(callRead)
        expect(await store.getLeg(calleeLeg.id)).toStrictEqual(legRead)

        // The bumped records can be committed again.
        callRead.state = 'ended'
        await store.commit({ calls: [callRead] })
        expect(await store.getCall(call.id)).toMatchObject({ state: 'ended', version: 2 })
      })

      it('commit() with a stale version throws ConflictError and applies nothing', async () => {
        const { call } = await seedCall()
        const first = (await store.getCall(call.id))!
        const second = (await store.getCall(call.id))!
        first.state = 'ringing'
        await store.commit({ calls: [first] })

        second.state = 'ended'
        expect(await rejection(store.commit({ calls: [second] }))).toBeInstanceOf(ConflictError)

        expect(second.version).toBe(0)
        expect(await store.getCall(call.id)).toStrictEqual(first)
      })

      it('commit() with one stale record rolls back the whole change set, new records included', async () => {
        const { call, callerLeg } = await seedCall()
        // Someone else updates the caller leg: our copy (version 0) is now stale.
        const theirs = (await store.getLeg(callerLeg.id))!
        theirs.lastSeenAt = NOW + 1
        await store.commit({ legs: [theirs] })

        const callUpdate = { ...(await store.getCall(call.id))!, state: 'ringing' as const }
        const newCall = makeCall(call.accountId)
        const newLeg = makeLeg(newCall, { id: newCall.callerLegId, role: 'caller' })
        const newCalleeOfOld = makeLeg(call)
        const staleLeg = { ...callerLeg, state: 'ended' as const }

        const error = await rejection(
          store.commit({
            newCalls: [newCall],
            newLegs: [newLeg, newCalleeOfOld],
            calls: [callUpdate],
            legs: [staleLeg],
          }),
        )

        expect(error).toBeInstanceOf(ConflictError)
        expect(await store.getCall(newCall.id)).toBeUndefined()
        expect(await store.getLeg(newLeg.id)).toBeUndefined()
        expect(await store.getLeg(newCalleeOfOld.id)).toBeUndefined()
        expect(await store.getCall(call.id)).toStrictEqual(call)
        expect(await store.getLeg(callerLeg.id)).toStrictEqual(theirs)
        expect(callUpdate.version).toBe(0)
      })

      it('commit() of an update to an unknown call or leg throws ConflictError', async () => {
        const account = await seedAccount()
        const ghost = makeCall(account.id)
        expect(await rejection(store.commit({ calls: [ghost] }))).toBeInstanceOf(ConflictError)
        const { call } = await seedCall(account.id)
        expect(await rejection(store.commit({ legs: [makeLeg(call)] }))).toBeInstanceOf(ConflictError)
      })

      it('commit() of a new call or leg whose id exists throws ConflictError and applies nothing', async () => {
        const { call, callerLeg } = await seedCall()
        const clash = makeCall(call.accountId, { id: call.id, state: 'ended' })
        expect(await rejection(store.commit({ newCalls: [clash] }))).toBeInstanceOf(ConflictError)
        const newCallee = makeLeg(call)
        const legClash = makeLeg(call, { id: callerLeg.id, state: 'ended' })
        expect(await rejection(store.commit({ newLegs: [newCallee, legClash] }))).toBeInstanceOf(
          ConflictError,
        )

        expect(await store.getCall(call.id)).toStrictEqual(call)
        expect(await store.listLegs(call.id)).toStrictEqual([callerLeg])
      })

      it('commit() of an empty change set does nothing', async () => {
        await expect(store.commit({})).resolves.toBeUndefined()
      })

      it('listActiveLegsByChannel() returns the active legs owned by the channel', async () => {
        const user = await seedUser()
        const channel = await seedChannel(user)
        const other = await seedChannel(user)
        const { call } = await seedCall(user.accountId)
        const first = await seedLeg(call, { channelId: channel.id, userId: user.id })
        await seedLeg(call, { channelId: channel.id, userId: user.id, state: 'cancelled' })
        await seedLeg(call, { channelId: channel.id, userId: user.id, state: 'ended' })
        await seedLeg(call, { channelId: other.id, userId: user.id })
        const { call: later } = await seedCall(user.accountId)
        const second = await seedLeg(later, { channelId: channel.id, userId: user.id, createdAt: NOW + 1 })

        expect(await store.listActiveLegsByChannel(channel.id)).toStrictEqual([first, second])
        expect(await store.listActiveLegsByChannel(uid('ch'))).toStrictEqual([])
      })

      it('countActiveLegsByUser() counts only the user active legs', async () => {
        const user = await seedUser()
        const other = await seedUser()
        const { call } = await seedCall(user.accountId)
        await seedLeg(call, { userId: user.id })
        await seedLeg(call, { userId: user.id })
        await seedLeg(call, { userId: user.id, state: 'ended' })
        await seedLeg(call, { userId: user.id, state: 'cancelled' })
        await seedLeg(call, { userId: other.id })
        expect(await store.countActiveLegsByUser(user.id)).toBe(2)
        expect(await store.countActiveLegsByUser(uid('user'))).toBe(0)
      })

      it('listSilentLegs() returns only active legs with an armed clock last seen before the time', async () => {
        const { call } = await seedCall()
        const before = NOW + 75_000
        const silent = await seedLeg(call, { livenessArmed: true, lastSeenAt: before - 1 })
        const boundary = await seedLeg(call, { livenessArmed: true, lastSeenAt: before })
        const recent = await seedLeg(call, { livenessArmed: true, lastSeenAt: before + 1 })
        const unarmed = await seedLeg(call, { livenessArmed: false, lastSeenAt: NOW })
        const ended = await seedLeg(call, { livenessArmed: true, lastSeenAt: NOW, state: 'ended' })
        const cancelled = await seedLeg(call, { livenessArmed: true, lastSeenAt: NOW, state: 'cancelled' })

        const result = only(await store.listSilentLegs(before), [
          silent,
          boundary,
          recent,
          unarmed,
          ended,
          cancelled,
        ])
        expect(result).toStrictEqual([silent])
      })

      it('listCallRecords() lists calls newest first with caller and callee usernames, at most limit', async () => {
        // Far in the future, so that these are the newest calls even in a shared database.
        const future = Date.now() + 365 * 24 * 3_600_000
        const a = await seedAccount()
        const b = await seedAccount()
        const { call: oldest } = await seedCall(a.id, { createdAt: future })
        const { call: ended } = await seedCall(b.id, {
          createdAt: future + 10,
          state: 'ended',
          callerUsername: 'carol',
          calleeUsername: 'dave',
          answeredAt: future + 20,
          endedAt: future + 30,
          endReason: 'Normal Clearing',
        })
        const { call: newest } = await seedCall(a.id, { createdAt: future + 20, state: 'ringing' })

        const records = await store.listCallRecords(2)
        expect(ids(records)).toStrictEqual([newest.id, ended.id])
        expect(records[1]).toStrictEqual({
          id: ended.id,
          accountId: b.id,
          caller: 'carol',
          callee: 'dave',
          state: 'ended',
          createdAt: future + 10,
          answeredAt: future + 20,
          endedAt: future + 30,
          endReason: 'Normal Clearing',
        })
        expect(ids(only(await store.listCallRecords(100), [oldest, ended, newest]))).toStrictEqual([
          newest.id,
          ended.id,
          oldest.id,
        ])
      })

      it('a PSTN call keeps its telephone side (numbers, gateway call, SIP dialog) through commits and records', async () => {
        const future = Date.now() + 366 * 24 * 3_600_000
        const a = await seedAccount()
        const pstn: PstnCall = {
          direction: 'outbound',
          number: '+15550100',
          localNumber: '+15550199',
          gatewayCallId: 'call-gw-1',
          trunkLegId: 'leg-trunk-1',
          dialog: null,
          sipStatus: null,
        }
        const { call } = await seedCall(a.id, { createdAt: future, calleeUsername: '+15550100', pstn })
        expect(await store.getCall(call.id)).toStrictEqual(call)
        const dialog = { v: 1, callId: 'abc@host', localTag: 't1', remoteTag: 't2', routeSet: ['<sip:p;lr>'] }
        const updated: Call = { ...call, state: 'connected', pstn: { ...pstn, dialog, sipStatus: 200 } }
        await store.commit({ calls: [updated] })
        const read = await store.getCall(call.id)
        expect(read?.pstn).toStrictEqual({ ...pstn, dialog, sipStatus: 200 })
        expect(read?.version).toBe(call.version + 1)
        const [record] = await store.listCallRecords(1, a.id)
        expect(record).toMatchObject({
          id: call.id,
          callee: '+15550100',
          pstn: { direction: 'outbound', number: '+15550100', localNumber: '+15550199', sipStatus: 200 },
        })
        // A browser call has no telephone side at all.
        const { call: plain } = await seedCall(a.id, { createdAt: future - 10 })
        expect(await store.getCall(plain.id)).not.toHaveProperty('pstn')
      })

      it("listCallRecords() with an account id lists only that account's calls", async () => {
        const a = await seedAccount()
        const b = await seedAccount()
        const { call: first } = await seedCall(a.id, { createdAt: NOW })
        await seedCall(b.id, { createdAt: NOW + 5 })
        const { call: second } = await seedCall(a.id, { createdAt: NOW + 10, calleeUsername: 'erin' })

        const records = await store.listCallRecords(10, a.id)
        expect(ids(records)).toStrictEqual([second.id, first.id])
        expect(records[0]).toMatchObject({ caller: 'alice', callee: 'erin', accountId: a.id, endedAt: null })
        expect(ids(await store.listCallRecords(1, a.id))).toStrictEqual([second.id])
      })
    })

    describe('timers', () => {
      /** Longer than a timer window: a timer claimed in a test is not due again within it. */
      const LEASE = 1_000

      /** Ids of the timers the test made. */
      const made: string[] = []

      // A claim no longer deletes: a claimed timer stays stored (leased) until completed. Cancelling every timer
      // a test made leaves a shared database as the test found it, so that tests claiming every timer due at
      // some time far in the past (postgres-store.test.ts) do not find these.
      afterEach(async () => {
        for (const id of made.splice(0)) await store.cancelTimer(id)
      })

      function makeTimer(dueAt: number, overrides: Partial<Timer> = {}): Timer {
        const timer = {
          id: uid('timer'),
          kind: 'noAnswer',
          dueAt,
          payload: { callId: uid('call') },
          ...overrides,
        }
        made.push(timer.id)
        return timer
      }

      /** Claims every due timer at `now` with the default lease of these tests. */
      function claim(now: number, limit = 10, leaseMs = LEASE): Promise<Timer[]> {
        return store.claimDueTimers(now, limit, leaseMs)
      }

      it('claimDueTimers() returns the timers due at the time, earliest first, and leaves later ones', async () => {
        const base = timerWindow()
        const second = makeTimer(base + 20, {
          kind: 'cancelRepeat',
          payload: { legId: 'x', nested: { n: [1, 2] } },
        })
        const first = makeTimer(base + 10)
        const dueNow = makeTimer(base + 30)
        const later = makeTimer(base + 31)
        for (const timer of [second, later, first, dueNow]) await store.scheduleTimer(timer)

        expect(await claim(base + 30)).toStrictEqual([first, second, dueNow])
        expect(await claim(base + 99)).toStrictEqual([later])
      })

      it('claimDueTimers() returns each timer once: a second claim within the lease returns none', async () => {
        const base = timerWindow()
        const timer = makeTimer(base)
        await store.scheduleTimer(timer)
        expect(await claim(base)).toStrictEqual([timer])
        expect(await claim(base + 99)).toStrictEqual([])
      })

      it('claimDueTimers() hands a timer never completed out again when its lease ends, due then', async () => {
        const base = timerWindow()
        const timer = makeTimer(base + 10)
        await store.scheduleTimer(timer)

        expect(await claim(base + 10, 10, 40)).toStrictEqual([timer])
        expect(await claim(base + 49, 10, 40)).toStrictEqual([])
        // The first claimer died: the timer comes back as due at the end of its lease.
        expect(await claim(base + 50, 10, 40)).toStrictEqual([{ ...timer, dueAt: base + 50 }])
        // The first claimer's completion, late, must not take the timer from the second one.
        await store.completeTimers([{ id: timer.id, leaseUntil: base + 50 }])
        expect(await claim(base + 90, 10, 40)).toStrictEqual([{ ...timer, dueAt: base + 90 }])
      })

      it('completeTimers() deletes the completed timers and keeps the claimed ones not completed', async () => {
        const base = timerWindow()
        const [a, b, c] = [0, 1, 2].map((offset) => makeTimer(base + offset)) as [Timer, Timer, Timer]
        for (const timer of [a, b, c]) await store.scheduleTimer(timer)
        expect(await claim(base + 2, 10, 50)).toStrictEqual([a, b, c])

        await store.completeTimers([
          { id: a.id, leaseUntil: base + 52 },
          { id: c.id, leaseUntil: base + 52 },
        ])

        expect(await claim(base + 99)).toStrictEqual([{ ...b, dueAt: base + 52 }])
        await store.completeTimers([{ id: b.id, leaseUntil: base + 99 + LEASE }])
        // Completing nothing, or timers that do not exist, is harmless.
        await store.completeTimers([])
        await store.completeTimers([{ id: uid('timer'), leaseUntil: base }])
        expect(await claim(base + 99)).toStrictEqual([])
      })

      it('a timer rescheduled after its claim survives completeTimers() and comes due at its new time', async () => {
        const base = timerWindow()
        const bySchedule = makeTimer(base)
        const byCommit = makeTimer(base + 1)
        await store.scheduleTimer(bySchedule)
        await store.scheduleTimer(byCommit)
        expect(await claim(base + 1, 10, 50)).toStrictEqual([bySchedule, byCommit])

        // While they fire, both are scheduled again, with the same ids.
        const rescheduled = { ...bySchedule, kind: 'repeat', dueAt: base + 70, payload: { again: true } }
        const recommitted = { ...byCommit, dueAt: base + 60 }
        await store.scheduleTimer(rescheduled)
        await store.commit({ scheduleTimers: [recommitted] })
        await store.completeTimers([bySchedule, byCommit].map(({ id }) => ({ id, leaseUntil: base + 51 })))

        expect(await claim(base + 59)).toStrictEqual([])
        expect(await claim(base + 60)).toStrictEqual([recommitted])
        expect(await claim(base + 99)).toStrictEqual([rescheduled])
      })

      it('a timer cancelled after its claim stays cancelled, and completeTimers() is harmless', async () => {
        const base = timerWindow()
        const byCancel = makeTimer(base)
        const byCommit = makeTimer(base + 1)
        const kept = makeTimer(base + 98)
        for (const timer of [byCancel, byCommit, kept]) await store.scheduleTimer(timer)
        expect(await claim(base + 1, 10, 50)).toStrictEqual([byCancel, byCommit])

        await store.cancelTimer(byCancel.id)
        await store.commit({ cancelTimers: [byCommit.id] })
        await store.completeTimers([byCancel, byCommit].map(({ id }) => ({ id, leaseUntil: base + 51 })))

        expect(await claim(base + 99)).toStrictEqual([kept])
      })

      it('claimDueTimers() racing with itself hands each timer to one claim only', async () => {
        const base = timerWindow()
        const timers = Array.from({ length: 40 }, (_, index) => makeTimer(base + (index % 7)))
        for (const timer of timers) await store.scheduleTimer(timer)

        // On PostgreSQL each claim runs on its own pooled connection, so these really overlap.
        const claimAll = async (): Promise<string[]> => {
          const ids: string[] = []
          for (;;) {
            const batch = await claim(base + 99, 3)
            if (batch.length === 0) return ids
            ids.push(...batch.map((timer) => timer.id))
          }
        }
        const claimed = (await Promise.all([claimAll(), claimAll(), claimAll(), claimAll()])).flat()

        expect(claimed.sort()).toStrictEqual(timers.map((timer) => timer.id).sort())
      })

      it('claimDueTimers() returns at most limit timers, the earliest, and keeps the rest', async () => {
        const base = timerWindow()
        const timers = [3, 1, 5, 2, 4].map((offset) => makeTimer(base + offset))
        for (const timer of timers) await store.scheduleTimer(timer)
        const byDue = [...timers].sort((x, y) => x.dueAt - y.dueAt)

        expect(await claim(base + 10, 2)).toStrictEqual(byDue.slice(0, 2))
        expect(await claim(base + 10)).toStrictEqual(byDue.slice(2))
      })

      it('scheduleTimer() with an existing id replaces the timer', async () => {
        const base = timerWindow()
        const original = makeTimer(base + 50)
        const replacement = makeTimer(base + 10, {
          id: original.id,
          kind: 'guardRelease',
          payload: { legId: 'y' },
        })
        await store.scheduleTimer(original)
        await store.scheduleTimer(replacement)

        expect(await claim(base + 20)).toStrictEqual([replacement])
        expect(await claim(base + 99)).toStrictEqual([])
      })

      it('commit() cancels and schedules timers with the records, cancels first', async () => {
        const base = timerWindow()
        const { call } = await seedCall()
        const cancelled = makeTimer(base)
        const replaced = makeTimer(base + 1)
        await store.scheduleTimer(cancelled)
        await store.scheduleTimer(replaced)
        const update = { ...(await store.getCall(call.id))!, state: 'ringing' as const }
        const added = makeTimer(base + 2)
        const replacement = { ...replaced, dueAt: base + 3 }

        await store.commit({
          calls: [update],
          cancelTimers: [cancelled.id, replaced.id, uid('timer')],
          scheduleTimers: [added, replacement],
        })

        expect(await store.getCall(call.id)).toMatchObject({ state: 'ringing', version: 1 })
        expect(await claim(base + 99)).toStrictEqual([added, replacement])
      })

      it('commit() of timers alone applies them', async () => {
        const base = timerWindow()
        const old = makeTimer(base)
        await store.scheduleTimer(old)
        const added = makeTimer(base + 1)
        await store.commit({ cancelTimers: [old.id], scheduleTimers: [added] })
        expect(await claim(base + 99)).toStrictEqual([added])
      })

      it('commit() with a stale version changes no timer', async () => {
        const base = timerWindow()
        const { call } = await seedCall()
        const kept = makeTimer(base)
        await store.scheduleTimer(kept)
        const stale = (await store.getCall(call.id))!
        await store.commit({ calls: [{ ...(await store.getCall(call.id))!, state: 'ringing' }] })

        const error = await rejection(
          store.commit({ calls: [stale], cancelTimers: [kept.id], scheduleTimers: [makeTimer(base + 1)] }),
        )

        expect(error).toBeInstanceOf(ConflictError)
        expect(await claim(base + 99)).toStrictEqual([kept])
      })

      it('cancelTimer() removes the timer; cancelling an unknown id is harmless', async () => {
        const base = timerWindow()
        const cancelled = makeTimer(base)
        const kept = makeTimer(base + 1)
        await store.scheduleTimer(cancelled)
        await store.scheduleTimer(kept)

        await store.cancelTimer(cancelled.id)
        await store.cancelTimer(uid('timer'))

        expect(await claim(base + 99)).toStrictEqual([kept])
      })
    })
    describe('telephone numbers', () => {
      /** A random E.164 number: numbers are unique across the server, and a PostgreSQL run shares its schema. */
      function randomNumber(): string {
        return `+1${String(2_000_000_000 + Math.floor(Math.random() * 7_999_999_999))}`
      }

      function makeNumber(accountId: string, overrides: Partial<PhoneNumber> = {}): PhoneNumber {
        return {
          number: randomNumber(),
          accountId,
          userId: null,
          assignedAt: null,
          createdAt: NOW,
          ...overrides,
        }
      }

      it('a number round-trips unassigned and assigned, and lists per account oldest first', async () => {
        const account = await seedAccount()
        const other = await seedAccount()
        const user = await seedUser(account.id)
        const free = makeNumber(account.id)
        const assigned = makeNumber(account.id, { userId: user.id, assignedAt: NOW + 5, createdAt: NOW + 1 })
        await store.createPhoneNumber(free)
        await store.createPhoneNumber(assigned)
        await store.createPhoneNumber(makeNumber(other.id))
        expect(await store.getPhoneNumber(free.number)).toStrictEqual(free)
        expect(await store.getPhoneNumber(assigned.number)).toStrictEqual(assigned)
        expect(await store.getPhoneNumber(randomNumber())).toBeUndefined()
        expect(await store.listPhoneNumbers(account.id)).toStrictEqual([free, assigned])
        expect((await store.listPhoneNumbers()).map((n) => n.number)).toEqual(
          expect.arrayContaining([free.number, assigned.number]),
        )
      })

      it('createPhoneNumber() of a number the server has, in any account, throws DuplicateError(number)', async () => {
        const account = await seedAccount()
        const other = await seedAccount()
        const taken = makeNumber(account.id)
        await store.createPhoneNumber(taken)
        await expectDuplicate(
          store.createPhoneNumber(makeNumber(other.id, { number: taken.number })),
          'number',
        )
        expect(await store.getPhoneNumber(taken.number)).toStrictEqual(taken)
      })

      it('createPhoneNumber() with a user of another account fails and stores nothing', async () => {
        const account = await seedAccount()
        const stranger = await seedUser()
        const number = makeNumber(account.id, { userId: stranger.id, assignedAt: NOW })
        await expect(store.createPhoneNumber(number)).rejects.toThrow()
        expect(await store.getPhoneNumber(number.number)).toBeUndefined()
      })

      it('listPhoneNumbersByUser() orders by assignment: the first assigned is first (the caller ID)', async () => {
        const account = await seedAccount()
        const user = await seedUser(account.id)
        const later = makeNumber(account.id, { createdAt: NOW })
        const earlier = makeNumber(account.id, { createdAt: NOW + 1 })
        await store.createPhoneNumber(later)
        await store.createPhoneNumber(earlier)
        expect(await store.listPhoneNumbersByUser(user.id)).toStrictEqual([])
        expect(await store.assignPhoneNumber(earlier.number, user.id, NOW + 10)).toBe(true)
        expect(await store.assignPhoneNumber(later.number, user.id, NOW + 20)).toBe(true)
        expect(await store.listPhoneNumbersByUser(user.id)).toStrictEqual([
          { ...earlier, userId: user.id, assignedAt: NOW + 10 },
          { ...later, userId: user.id, assignedAt: NOW + 20 },
        ])
      })

      it('assignPhoneNumber() moves a number between users of its account, unassigns with null', async () => {
        const account = await seedAccount()
        const alice = await seedUser(account.id)
        const bob = await seedUser(account.id)
        const number = makeNumber(account.id, { userId: alice.id, assignedAt: NOW })
        await store.createPhoneNumber(number)
        expect(await store.assignPhoneNumber(number.number, bob.id, NOW + 7)).toBe(true)
        expect(await store.getPhoneNumber(number.number)).toStrictEqual({
          ...number,
          userId: bob.id,
          assignedAt: NOW + 7,
        })
        expect(await store.listPhoneNumbersByUser(alice.id)).toStrictEqual([])
        expect(await store.assignPhoneNumber(number.number, null, NOW + 8)).toBe(true)
        expect(await store.getPhoneNumber(number.number)).toStrictEqual({
          ...number,
          userId: null,
          assignedAt: null,
        })
      })

      it('assignPhoneNumber() to a user of another account, or of an unknown number, changes nothing', async () => {
        const account = await seedAccount()
        const user = await seedUser(account.id)
        const stranger = await seedUser()
        const number = makeNumber(account.id, { userId: user.id, assignedAt: NOW })
        await store.createPhoneNumber(number)
        expect(await store.assignPhoneNumber(number.number, stranger.id, NOW + 1)).toBe(false)
        expect(await store.assignPhoneNumber(number.number, uid('user'), NOW + 1)).toBe(false)
        expect(await store.assignPhoneNumber(randomNumber(), user.id, NOW + 1)).toBe(false)
        expect(await store.getPhoneNumber(number.number)).toStrictEqual(number)
      })

      it('deleteUser() leaves their numbers with the account, unassigned', async () => {
        const account = await seedAccount()
        const user = await seedUser(account.id)
        const kept = await seedUser(account.id)
        const mine = makeNumber(account.id, { userId: user.id, assignedAt: NOW })
        const theirs = makeNumber(account.id, { userId: kept.id, assignedAt: NOW })
        await store.createPhoneNumber(mine)
        await store.createPhoneNumber(theirs)
        expect(await store.deleteUser(user.id)).toBe(true)
        expect(await store.getPhoneNumber(mine.number)).toStrictEqual({
          ...mine,
          userId: null,
          assignedAt: null,
        })
        expect(await store.getPhoneNumber(theirs.number)).toStrictEqual(theirs)
        expect(await store.listPhoneNumbersByUser(user.id)).toStrictEqual([])
      })

      it("deleteAccount() takes the account's numbers with it; another account keeps its own", async () => {
        const account = await seedAccount()
        const other = await seedAccount()
        const user = await seedUser(account.id)
        const gone = makeNumber(account.id, { userId: user.id, assignedAt: NOW })
        const kept = makeNumber(other.id)
        await store.createPhoneNumber(gone)
        await store.createPhoneNumber(kept)
        expect(await store.deleteAccount(account.id)).toBeDefined()
        expect(await store.getPhoneNumber(gone.number)).toBeUndefined()
        expect(await store.getPhoneNumber(kept.number)).toStrictEqual(kept)
        // The number is free again, for any account.
        await store.createPhoneNumber(makeNumber(other.id, { number: gone.number }))
        expect((await store.getPhoneNumber(gone.number))?.accountId).toBe(other.id)
      })

      it('deletePhoneNumber() removes the number once', async () => {
        const account = await seedAccount()
        const number = makeNumber(account.id)
        await store.createPhoneNumber(number)
        expect(await store.deletePhoneNumber(number.number)).toBe(true)
        expect(await store.deletePhoneNumber(number.number)).toBe(false)
        expect(await store.getPhoneNumber(number.number)).toBeUndefined()
        expect(await store.listPhoneNumbers(account.id)).toStrictEqual([])
      })
    })
    describe('anonymous calls (project keys, allow-list, ephemeral identities)', () => {
      function makeKey(accountId: string, overrides: Partial<ProjectKey> = {}): ProjectKey {
        return {
          id: uid('pk'),
          accountId,
          name: 'website',
          secretHash: 'a'.repeat(64),
          createdAt: NOW,
          expiresAt: null,
          ...overrides,
        }
      }

      async function seedAnonymous(accountId: string, keyId: string, expiresAt: number) {
        const user = makeUser(accountId)
        const identity = { userId: user.id, accountId, keyId, expiresAt, createdAt: NOW }
        await store.createAnonymousUser(user, identity)
        return { user, identity }
      }

      it('a project key round-trips, lists per account and deletes once', async () => {
        const account = await seedAccount()
        const other = await seedAccount()
        const key = makeKey(account.id, { expiresAt: NOW + 1000 })
        const second = makeKey(account.id, { createdAt: NOW + 1, name: 'second' })
        await store.createProjectKey(key)
        await store.createProjectKey(second)
        await store.createProjectKey(makeKey(other.id))
        expect(await store.getProjectKey(key.id)).toStrictEqual(key)
        expect(await store.listProjectKeys(account.id)).toStrictEqual([key, second])
        expect((await store.listProjectKeys()).map((k) => k.id)).toEqual(
          expect.arrayContaining([key.id, second.id]),
        )
        await expect(store.createProjectKey(key)).rejects.toBeInstanceOf(DuplicateError)
        expect(await store.deleteProjectKey(key.id)).toBe(true)
        expect(await store.deleteProjectKey(key.id)).toBe(false)
        expect(await store.getProjectKey(key.id)).toBeUndefined()
      })

      it('an allow-listed destination is added once, listed per account and removed', async () => {
        const account = await seedAccount()
        const other = await seedAccount()
        const bob = { accountId: account.id, address: 'bob@example.com', createdAt: NOW }
        const phone = { accountId: account.id, address: '+15550100', createdAt: NOW + 1 }
        expect(await store.addAnonymousDestination(bob)).toBe(true)
        expect(await store.addAnonymousDestination({ ...bob, createdAt: NOW + 5 })).toBe(false)
        expect(await store.addAnonymousDestination(phone)).toBe(true)
        expect(await store.addAnonymousDestination({ ...bob, accountId: other.id })).toBe(true)
        expect(await store.listAnonymousDestinations(account.id)).toStrictEqual([bob, phone])
        expect(await store.removeAnonymousDestination(account.id, 'bob@example.com')).toBe(true)
        expect(await store.removeAnonymousDestination(account.id, 'bob@example.com')).toBe(false)
        expect(await store.listAnonymousDestinations(account.id)).toStrictEqual([phone])
        expect(await store.listAnonymousDestinations(other.id)).toHaveLength(1)
      })

      it('createAnonymousUser() makes a user marked anonymous; deleting the user removes the mark', async () => {
        const account = await seedAccount()
        const key = makeKey(account.id)
        await store.createProjectKey(key)
        const { user, identity } = await seedAnonymous(account.id, key.id, NOW + 900_000)
        expect(await store.getUser(user.id)).toStrictEqual(user)
        expect(await store.getAnonymousIdentity(user.id)).toStrictEqual(identity)
        expect(await store.listAnonymousIdentitiesByKey(key.id)).toStrictEqual([identity])
        const regular = await seedUser(account.id)
        expect(await store.getAnonymousIdentity(regular.id)).toBeUndefined()
        expect(await store.deleteUser(user.id)).toBe(true)
        expect(await store.getAnonymousIdentity(user.id)).toBeUndefined()
        expect(await store.listAnonymousIdentitiesByKey(key.id)).toStrictEqual([])
      })

      it('createAnonymousUser() with a taken login changes nothing (DuplicateError)', async () => {
        const account = await seedAccount()
        const taken = await seedUser(account.id)
        const user = makeUser(account.id, { login: taken.login })
        await expect(
          store.createAnonymousUser(user, {
            userId: user.id,
            accountId: account.id,
            keyId: 'pk-x',
            expiresAt: NOW,
            createdAt: NOW,
          }),
        ).rejects.toBeInstanceOf(DuplicateError)
        expect(await store.getUser(user.id)).toBeUndefined()
        expect(await store.getAnonymousIdentity(user.id)).toBeUndefined()
      })

      it('listExpiredAnonymousIdentities() returns expired identities that are in no active call', async () => {
        const account = await seedAccount()
        const keyId = uid('pk')
        // Far-future times keep other tests' leftovers (on a shared database) out of this query's range.
        const base = 9_000_000_000_000 + Math.floor(Math.random() * 1_000_000_000)
        const expired = await seedAnonymous(account.id, keyId, base - 10)
        const inCall = await seedAnonymous(account.id, keyId, base - 5)
        const live = await seedAnonymous(account.id, keyId, base + 10)
        const { call } = await seedCall(account.id, {}, { userId: inCall.user.id })
        const found = await store.listExpiredAnonymousIdentities(base, 10_000)
        const ids = found.map((i) => i.userId)
        expect(ids).toContain(expired.user.id)
        expect(ids).not.toContain(inCall.user.id)
        expect(ids).not.toContain(live.user.id)
        expect(await store.countActiveAnonymousLegs(account.id)).toBe(1)
        // Once the call's leg ends, that identity is collectable too.
        const legs = await store.listLegs(call.id)
        await store.commit({ legs: legs.map((l) => ({ ...l, state: 'ended' as const })) })
        expect(await store.countActiveAnonymousLegs(account.id)).toBe(0)
        expect((await store.listExpiredAnonymousIdentities(base, 10_000)).map((i) => i.userId)).toContain(
          inCall.user.id,
        )
      })
    })

    describe('console administrators and call history', () => {
      function makeAdmin(accountId: string | null, overrides: Partial<Admin> = {}): Admin {
        return {
          id: uid('adm'),
          accountId,
          username: uid('admin'),
          passwordHash: 'scrypt$32768$8$1$c2FsdA$aGFzaA',
          createdAt: NOW,
          ...overrides,
        }
      }

      it('creates, reads, lists and deletes administrators of an account and operators', async () => {
        const a = await seedAccount()
        const b = await seedAccount()
        const adminA = makeAdmin(a.id)
        const adminB = makeAdmin(b.id, { createdAt: NOW + 1 })
        const operator = makeAdmin(null, { createdAt: NOW + 2 })
        for (const admin of [adminA, adminB, operator]) await store.createAdmin(admin)

        expect(await store.getAdmin(adminA.id)).toStrictEqual(adminA)
        expect(await store.getAdminByUsername(operator.username)).toStrictEqual(operator)
        expect(await store.getAdminByUsername(uid('nobody'))).toBeUndefined()
        expect(await store.listAdmins(a.id)).toStrictEqual([adminA])
        expect(only(await store.listAdmins(null), [adminA, adminB, operator])).toStrictEqual([operator])
        expect(ids(only(await store.listAdmins(), [adminA, adminB, operator]))).toStrictEqual([
          adminA.id,
          adminB.id,
          operator.id,
        ])
        expect(await store.deleteAdmin(adminB.id)).toBe(true)
        expect(await store.deleteAdmin(adminB.id)).toBe(false)
        expect(await store.getAdmin(adminB.id)).toBeUndefined()
      })

      it('refuses a taken username (on the whole server) or id with DuplicateError', async () => {
        const a = await seedAccount()
        const b = await seedAccount()
        const first = makeAdmin(a.id)
        await store.createAdmin(first)
        await expectDuplicate(store.createAdmin(makeAdmin(b.id, { username: first.username })), 'username')
        await expectDuplicate(store.createAdmin(makeAdmin(null, { username: first.username })), 'username')
        await expectDuplicate(store.createAdmin(makeAdmin(b.id, { id: first.id })), 'id')
      })

      it("an account's administrators go with it; operators stay", async () => {
        const a = await seedAccount()
        const admin = makeAdmin(a.id)
        const operator = makeAdmin(null)
        await store.createAdmin(admin)
        await store.createAdmin(operator)
        await store.deleteAccount(a.id)
        expect(await store.getAdmin(admin.id)).toBeUndefined()
        expect(await store.getAdmin(operator.id)).toStrictEqual(operator)
      })

      it('queryCallRecords() filters by account, time, user and outcome, newest first, with a keyset cursor', async () => {
        const a = await seedAccount()
        const b = await seedAccount()
        const t = NOW + 1_000
        const { call: unanswered } = await seedCall(a.id, {
          createdAt: t,
          state: 'ended',
          endedAt: t + 5,
          callerUsername: 'ann',
          calleeUsername: 'bo',
        })
        const { call: answered } = await seedCall(a.id, {
          createdAt: t + 10,
          state: 'ended',
          answeredAt: t + 11,
          endedAt: t + 20,
          callerUsername: 'bo',
          calleeUsername: 'cy',
        })
        const { call: active } = await seedCall(a.id, {
          createdAt: t + 20,
          state: 'connected',
          answeredAt: t + 21,
          callerUsername: 'cy',
          calleeUsername: 'ann',
        })
        const { call: other } = await seedCall(b.id, { createdAt: t + 15, callerUsername: 'ann' })
        const q = (query: Partial<Parameters<Store['queryCallRecords']>[0]> = {}) =>
          store.queryCallRecords({ accountId: a.id, limit: 10, ...query }).then(ids)

        expect(await q()).toStrictEqual([active.id, answered.id, unanswered.id])
        expect(await q({ outcome: 'active' })).toStrictEqual([active.id])
        expect(await q({ outcome: 'answered' })).toStrictEqual([answered.id])
        expect(await q({ outcome: 'unanswered' })).toStrictEqual([unanswered.id])
        expect(await q({ username: 'ann' })).toStrictEqual([active.id, unanswered.id])
        expect(await q({ from: t + 10, to: t + 20 })).toStrictEqual([answered.id])
        expect(await q({ limit: 2 })).toStrictEqual([active.id, answered.id])
        expect(
          await q({ limit: 2, before: { createdAt: answered.createdAt, id: answered.id } }),
        ).toStrictEqual([unanswered.id])
        const both = await store.queryCallRecords({ username: 'ann', from: t, to: t + 30, limit: 10 })
        expect(ids(only(both, [active, other, unanswered]))).toStrictEqual([
          active.id,
          other.id,
          unanswered.id,
        ])
        const [record] = await store.queryCallRecords({ accountId: a.id, outcome: 'answered', limit: 1 })
        expect(record).toStrictEqual({
          id: answered.id,
          accountId: a.id,
          caller: 'bo',
          callee: 'cy',
          state: 'ended',
          createdAt: t + 10,
          answeredAt: t + 11,
          endedAt: t + 20,
          endReason: null,
        })
      })

      it('queryCallRecords() orders calls created at the same time by id, and the cursor splits them', async () => {
        const a = await seedAccount()
        const made = [await seedCall(a.id), await seedCall(a.id), await seedCall(a.id)].map((c) => c.call)
        const sorted = ids(made).sort().reverse()
        expect(ids(await store.queryCallRecords({ accountId: a.id, limit: 10 }))).toStrictEqual(sorted)
        const after = await store.queryCallRecords({
          accountId: a.id,
          limit: 10,
          before: { createdAt: NOW, id: sorted[0]! },
        })
        expect(ids(after)).toStrictEqual(sorted.slice(1))
      })
    })

    describe('call quality samples', () => {
      const sampleOf = (n: number) => ({
        timestamp: NOW + n,
        rtt: n,
        audioIn: { bitrate: 30.5, packetLoss: 0.01 },
      })

      it("addQualitySamples() keeps each leg's samples with the call; listQualitySamples() returns them by time", async () => {
        const { call, callerLeg } = await seedCall()
        const callee = await seedLeg(call, { role: 'callee', username: 'bob' })
        await store.addQualitySamples(
          [
            { callId: call.id, legId: callerLeg.id, at: NOW + 2, sample: sampleOf(2) },
            { callId: call.id, legId: callerLeg.id, at: NOW + 4, sample: sampleOf(4) },
          ],
          900,
        )
        await store.addQualitySamples(
          [{ callId: call.id, legId: callee.id, at: NOW + 3, sample: sampleOf(3) }],
          900,
        )
        const found = await store.listQualitySamples(call.id)
        expect(found).toStrictEqual([
          { callId: call.id, legId: callerLeg.id, at: NOW + 2, sample: sampleOf(2) },
          { callId: call.id, legId: callee.id, at: NOW + 3, sample: sampleOf(3) },
          { callId: call.id, legId: callerLeg.id, at: NOW + 4, sample: sampleOf(4) },
        ])
        expect(await store.listQualitySamples(uid('call'))).toStrictEqual([])
      })

      it('keeps at most maxPerLeg samples per leg, dropping the oldest to arrive', async () => {
        const { call, callerLeg } = await seedCall()
        const callee = await seedLeg(call, { role: 'callee', username: 'bob' })
        const batch = (legId: string, from: number, count: number) =>
          Array.from({ length: count }, (_, i) => ({
            callId: call.id,
            legId,
            at: NOW + from + i,
            sample: sampleOf(from + i),
          }))
        await store.addQualitySamples(batch(callee.id, 100, 2), 3)
        await store.addQualitySamples(batch(callerLeg.id, 0, 4), 3)
        await store.addQualitySamples(batch(callerLeg.id, 4, 2), 3)
        const found = await store.listQualitySamples(call.id)
        expect(found.filter((s) => s.legId === callerLeg.id).map((s) => s.at - NOW)).toStrictEqual([3, 4, 5])
        // The other leg's samples are not counted against this one's bound.
        expect(found.filter((s) => s.legId === callee.id)).toHaveLength(2)
      })

      it('drops samples of an unknown leg', async () => {
        const { call, callerLeg } = await seedCall()
        await store.addQualitySamples(
          [
            { callId: call.id, legId: uid('leg'), at: NOW, sample: sampleOf(0) },
            { callId: call.id, legId: callerLeg.id, at: NOW + 1, sample: sampleOf(1) },
          ],
          900,
        )
        expect((await store.listQualitySamples(call.id)).map((s) => s.legId)).toStrictEqual([callerLeg.id])
      })
    })
  })
}
