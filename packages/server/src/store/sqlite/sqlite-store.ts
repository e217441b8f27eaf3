import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { ActiveCallsError, ConflictError, DEFAULT_TIMER_LEASE_MS, DuplicateError } from '../types.js'
import type {
  Account,
  AccountDeletion,
  Call,
  CallChange,
  CallRecord,
  Channel,
  DeliveryMark,
  Leg,
  NewOutboxFrame,
  OutboxFrame,
  Store,
  Subscription,
  Timer,
  TimerClaim,
  User,
  AnonymousDestination,
  AnonymousIdentity,
  PhoneNumber,
  ProjectKey,
  QualitySampleRecord,
  Admin,
  CallRecordQuery,
} from '../types.js'
import { ADMIN_COLUMNS, callRecordFilter, toAdmin } from '../admin-rows.js'
import type { AdminRow } from '../admin-rows.js'
import {
  ACCOUNT_COLUMNS,
  USER_COLUMNS,
  CHANNEL_COLUMNS,
  SUBSCRIPTION_COLUMNS,
  OUTBOX_COLUMNS,
  CALL_COLUMNS,
  LEG_COLUMNS,
  rowMappers,
} from '../rows.js'
import type {
  AccountRow,
  UserRow,
  ChannelRow,
  SubscriptionRow,
  OutboxRow,
  CallRow,
  LegRow,
  TimerRow,
} from '../rows.js'
import {
  DESTINATION_COLUMNS,
  IDENTITY_COLUMNS,
  KEY_COLUMNS,
  toDestination,
  toIdentity,
  toProjectKey,
} from '../anonymous-rows.js'
import type { DestinationRow, IdentityRow, ProjectKeyRow } from '../anonymous-rows.js'
import { NUMBER_COLUMNS, toPhoneNumber } from '../number-rows.js'
import type { PhoneNumberRow } from '../number-rows.js'
import { migrations } from './migrations.js'
import { Checkpointer } from './checkpointer.js'
import type { Migration } from './migrations.js'

const { toAccount, toUser, toChannel, toSubscription, toOutboxFrame, toCall, toCallRecord, toLeg, toTimer } =
  rowMappers<number>((v) => v === 1)

// Named parameters of the call and leg statements; `version` is the expected (stored) version in updates.
const CALL_PARAMS =
  '@id, @accountId, @state, @callerLegId, @answeredLegId, @negotiation, @offerSdp, @originatorAddress, ' +
  '@originatorName, @tParticipantAddress, @callerUsername, @calleeUsername, @transfer, @replacesCallIds, ' +
  '@createdAt, @answeredAt, @endedAt, @endReason, @pstn, @version'
const CALL_ASSIGNMENTS =
  'account_id = @accountId, state = @state, caller_leg_id = @callerLegId, answered_leg_id = @answeredLegId, ' +
  'negotiation = @negotiation, offer_sdp = @offerSdp, originator_address = @originatorAddress, ' +
  'originator_name = @originatorName, t_participant_address = @tParticipantAddress, ' +
  'caller_username = @callerUsername, callee_username = @calleeUsername, transfer = @transfer, ' +
  'replaces_call_ids = @replacesCallIds, created_at = @createdAt, answered_at = @answeredAt, ' +
  'ended_at = @endedAt, end_reason = @endReason, pstn = @pstn, version = version + 1'
const LEG_PARAMS =
  '@id, @callId, @userId, @username, @role, @channelId, @state, @terminal, @livenessArmed, @lastSeenAt, ' +
  '@acceptancePushedAt, @guardReleased, @held, @createdAt, @version'
const LEG_ASSIGNMENTS =
  'call_id = @callId, user_id = @userId, username = @username, role = @role, channel_id = @channelId, ' +
  'state = @state, terminal = @terminal, liveness_armed = @livenessArmed, last_seen_at = @lastSeenAt, ' +
  'acceptance_pushed_at = @acceptancePushedAt, guard_released = @guardReleased, held = @held, ' +
  'created_at = @createdAt, version = version + 1'

/**
 * The embedded Store adapter (architecture §2): one SQLite file per deployment, or `:memory:` for tests.
 *
 * better-sqlite3 is synchronous; each method runs all its statements at once, which keeps every
 * multi-statement operation atomic within this process.
 *
 * Group commit: a COMMIT is most of the cost of a small write (WAL frames, the WAL index, checkpoints), so
 * the writes of one event-loop turn share one transaction. The first write opens it (BEGIN IMMEDIATE, so
 * that a process sharing the file — `--workers`, the CLI — is refused at BEGIN, before it changed anything,
 * and the method is simply run again: retryWhenBusy); each method's own transaction inside it is a
 * savepoint, rolled back alone when the method fails; the group commits when the turn ends (setImmediate),
 * or at once after GROUP_LIMIT writes. No write resolves before the group holding it committed, and when
 * the COMMIT fails every write of the group rejects with its error. Groups commit in order on the one
 * connection, so a write that resolved implies that everything its caller read before had committed too.
 * Reads see the open group's rows and resolve at once (waiting made every request wait a turn per read);
 * only the reads whose rows go out on a websocket as they are (listUndelivered, listRecentlyDelivered)
 * wait for the open group, so no frame is sent before it is committed.
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database
  readonly #statements = new Map<string, Database.Statement>()
  /** The open group transaction (see the class comment), if any. */
  #group: Group | undefined
  /** Write transactions committed so far (groups, and transactions of methods run outside a group). */
  #commits = 0
  /** WAL checkpoints in a worker thread (file databases only). */
  #checkpointer: Checkpointer | undefined

  /** Opens (creating if needed) the database at `filename`, or an in-memory one for `':memory:'`. */
  constructor(filename: string) {
    const memory = filename === ':memory:'
    // The caller (openStore) decides whether a missing directory may be created (`--create`).
    if (!memory) mkdirSync(dirname(filename), { recursive: true })
    this.#db = new Database(filename)
    // WAL lets readers run while one writer commits; NORMAL is durable across process crashes in WAL
    // mode (only an OS crash can lose the last commits), which suits signalling state.
    if (!memory) this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('synchronous = NORMAL')
    if (!memory) {
      // Issue 13: SQLite's automatic checkpoint runs inside a COMMIT on the event loop (copying pages, two
      // fsyncs), stalling every request. A worker thread checkpoints instead (checkpointer.ts); the writer's
      // own checkpoint stays as a safety net at WAL_CHECKPOINT_PAGES, and comes back at SQLite's 1,000 pages
      // should the worker fail.
      this.#db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`)
      this.#checkpointer = new Checkpointer(filename, () => {
        if (this.#db.open) this.#db.pragma('wal_autocheckpoint = 1000')
      })
    }
    // Issue 13: with thousands of channels and calls, SQLite's default 2 MB cache read pages back from the
    // file (pread) on every few statements.
    this.#db.pragma(`cache_size = -${CACHE_KB}`)
    this.#db.pragma('foreign_keys = ON')
    // From here on a lock held by another process is waited for without blocking (retryWhenBusy).
    this.#db.pragma('busy_timeout = 0')
    retryWhenBusy(this, {
      join: () => this.#joinGroup(),
      open: () => this.#openGroup(),
      check: (group, error) => this.#checkGroup(group, error),
    })
  }

  /**
   * Applies every migration newer than the database, each in its own transaction together with its row in
   * `schema_migrations`. Throws when the database was migrated by a newer server.
   */
  async migrate(): Promise<void> {
    // The bookkeeping table is not a migration itself: it must exist before we can tell what is applied.
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, ' +
        'applied_at INTEGER NOT NULL) STRICT',
    )
    const latest = migrations.at(-1)?.version ?? 0
    const apply = this.#db.transaction((migration: Migration) => {
      // Re-checked inside the write lock: another process may have applied it since we looked.
      if (this.#appliedVersions().has(migration.version)) return
      this.#db.exec(migration.sql)
      this.#statement('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        Date.now(),
      )
    })
    const applied = this.#appliedVersion()
    if (applied > latest) {
      throw new Error(`database schema version ${applied} is newer than this server supports (${latest})`)
    }
    // Every migration not recorded yet, not only those above the newest applied one: versions developed on
    // parallel branches may land out of order, and a later-merged lower number must still run.
    const done = this.#appliedVersions()
    for (const migration of migrations) {
      if (!done.has(migration.version)) apply.immediate(migration)
    }
  }

  /** Commits the open group, then closes the database; later calls do nothing. */
  async close(): Promise<void> {
    this.#commitGroup()
    await this.#checkpointer?.stop()
    this.#checkpointer = undefined
    if (this.#db.open) this.#db.close()
    this.#statements.clear()
  }

  /** Runs `SELECT 1`; rejects once the database is closed. */
  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get()
  }

  async getOrCreateSecret(name: string, create: () => string): Promise<string> {
    const run = this.#db.transaction((): string => {
      const row = this.#statement('SELECT value FROM secrets WHERE name = ?').get(name) as
        { value: string } | undefined
      if (row) return row.value
      const value = create()
      this.#statement('INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)').run(
        name,
        value,
        Date.now(),
      )
      return value
    })
    return run.immediate()
  }

  async createAccount(account: Account): Promise<void> {
    try {
      this.#statement('INSERT INTO accounts (id, client_id, name, created_at) VALUES (?, ?, ?, ?)').run(
        account.id,
        account.clientId,
        account.name,
        account.createdAt,
      )
    } catch (error) {
      throw duplicate(error, { 'accounts.client_id': 'clientId', 'accounts.id': 'id' }) ?? error
    }
  }

  async getAccount(id: string): Promise<Account | undefined> {
    const row = this.#statement(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`).get(id)
    return row === undefined ? undefined : toAccount(row as AccountRow)
  }

  async getAccountByClientId(clientId: string): Promise<Account | undefined> {
    const row = this.#statement(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE client_id = ?`).get(clientId)
    return row === undefined ? undefined : toAccount(row as AccountRow)
  }

  async listAccounts(): Promise<Account[]> {
    const rows = this.#statement(`SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, rowid`).all()
    return (rows as AccountRow[]).map(toAccount)
  }

  async deleteAccount(id: string, options: { force?: boolean } = {}): Promise<AccountDeletion | undefined> {
    // IMMEDIATE: the check for calls in progress and the deletes happen under one write lock, so no call of
    // the account can start (in a server sharing the file) between them.
    const run = this.#db.transaction((): AccountDeletion | undefined => {
      if (this.#statement('SELECT 1 FROM accounts WHERE id = ?').get(id) === undefined) return undefined
      if (!options.force) {
        const active = this.#statement(
          "SELECT COUNT(*) AS n FROM calls WHERE account_id = ? AND state <> 'ended'",
        ).get(id) as { n: number }
        if (active.n > 0) throw new ActiveCallsError(active.n)
      }
      // Timers name their call or leg in payload.ref (types.ts, Timer); they have no account column.
      this.#statement(
        `DELETE FROM timers WHERE json_extract(payload, '$.ref') IN (
           SELECT id FROM calls WHERE account_id = @id
           UNION ALL SELECT l.id FROM legs l JOIN calls c ON c.id = l.call_id WHERE c.account_id = @id)`,
      ).run({ id })
      this.#statement('DELETE FROM legs WHERE call_id IN (SELECT id FROM calls WHERE account_id = ?)').run(id)
      const calls = this.#statement('DELETE FROM calls WHERE account_id = ?').run(id).changes
      // Channels, and through them subscriptions and outbox, and anonymous identities go by ON DELETE CASCADE.
      const users = this.#statement('DELETE FROM users WHERE account_id = ?').run(id).changes
      const projectKeys = this.#statement('DELETE FROM project_keys WHERE account_id = ?').run(id).changes
      const anonymousDestinations = this.#statement(
        'DELETE FROM anonymous_destinations WHERE account_id = ?',
      ).run(id).changes
      this.#statement('DELETE FROM accounts WHERE id = ?').run(id)
      return { users, calls, projectKeys, anonymousDestinations }
    })
    return run.immediate()
  }

  async createUser(user: User): Promise<void> {
    try {
      this.#statement(
        'INSERT INTO users (id, account_id, login, local_part, username, password_hash, created_at) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(
        user.id,
        user.accountId,
        user.login,
        localPart(user.login),
        user.username,
        user.passwordHash,
        user.createdAt,
      )
    } catch (error) {
      throw (
        duplicate(error, { 'users.login': 'login', 'users.username': 'username', 'users.id': 'id' }) ?? error
      )
    }
  }

  async getUser(id: string): Promise<User | undefined> {
    const row = this.#statement(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`).get(id)
    return row === undefined ? undefined : toUser(row as UserRow)
  }

  async getUserByLogin(accountId: string, login: string): Promise<User | undefined> {
    const row = this.#statement(`SELECT ${USER_COLUMNS} FROM users WHERE account_id = ? AND login = ?`).get(
      accountId,
      login,
    )
    return row === undefined ? undefined : toUser(row as UserRow)
  }

  async getUserByUsername(accountId: string, username: string): Promise<User | undefined> {
    const row = this.#statement(
      `SELECT ${USER_COLUMNS} FROM users WHERE account_id = ? AND username = ?`,
    ).get(accountId, username)
    return row === undefined ? undefined : toUser(row as UserRow)
  }

  async listUsersByLocalPart(accountId: string, localPartOfLogin: string): Promise<User[]> {
    const rows = this.#statement(
      `SELECT ${USER_COLUMNS} FROM users WHERE account_id = ? AND local_part = ? ORDER BY created_at, rowid`,
    ).all(accountId, localPartOfLogin)
    return (rows as UserRow[]).map(toUser)
  }

  async listUsers(accountId?: string): Promise<User[]> {
    const rows =
      accountId === undefined
        ? this.#statement(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, rowid`).all()
        : this.#statement(
            `SELECT ${USER_COLUMNS} FROM users WHERE account_id = ? ORDER BY created_at, rowid`,
          ).all(accountId)
    return (rows as UserRow[]).map(toUser)
  }

  async setUserPassword(id: string, passwordHash: string): Promise<boolean> {
    return (
      this.#statement('UPDATE users SET password_hash = ? WHERE id = ?').run(passwordHash, id).changes > 0
    )
  }

  async deleteUser(id: string): Promise<boolean> {
    // Channels, and through them subscriptions and outbox, go by ON DELETE CASCADE; calls and legs stay.
    // Numbers stay with the account, unassigned (their user_id would be cleared by ON DELETE SET NULL too).
    const run = this.#db.transaction(() => {
      this.#statement('UPDATE phone_numbers SET user_id = NULL, assigned_at = NULL WHERE user_id = ?').run(id)
      return this.#statement('DELETE FROM users WHERE id = ?').run(id).changes > 0
    })
    return run.immediate()
  }

  async createChannel(channel: Channel): Promise<void> {
    try {
      this.#statement(
        'INSERT INTO channels (id, user_id, account_id, username, correlator, lifetime, conn_check_role, ' +
          'created_at, last_active_at, ever_connected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        channel.id,
        channel.userId,
        channel.accountId,
        channel.username,
        channel.correlator ?? null,
        channel.lifetime,
        channel.connCheckRole,
        channel.createdAt,
        channel.lastActiveAt,
        bit(channel.everConnected),
      )
    } catch (error) {
      throw duplicate(error, { 'channels.id': 'id' }) ?? error
    }
  }

  async getChannel(id: string): Promise<Channel | undefined> {
    const row = this.#statement(`SELECT ${CHANNEL_COLUMNS} FROM channels c WHERE c.id = ?`).get(id)
    return row === undefined ? undefined : toChannel(row as ChannelRow<number>)
  }

  async listChannelsByUser(userId: string): Promise<Channel[]> {
    const rows = this.#statement(
      `SELECT ${CHANNEL_COLUMNS} FROM channels c WHERE c.user_id = ? ORDER BY c.created_at, c.rowid`,
    ).all(userId)
    return (rows as ChannelRow<number>[]).map(toChannel)
  }

  async deleteChannel(id: string): Promise<boolean> {
    // Subscription and outbox go by ON DELETE CASCADE; legs keep their channel id as history.
    return this.#statement('DELETE FROM channels WHERE id = ?').run(id).changes > 0
  }

  async touchChannels(ids: string[], at: number, connected: boolean): Promise<void> {
    // `connected = false` (a periodic touch or a close) must not clear an earlier connection.
    const touch = this.#statement(
      'UPDATE channels SET last_active_at = ?, ever_connected = max(ever_connected, ?) WHERE id = ?',
    )
    this.#atomically(() => {
      for (const id of ids) touch.run(at, bit(connected), id)
    })
  }

  async setChannelLifetime(id: string, lifetime: number): Promise<void> {
    this.#statement('UPDATE channels SET lifetime = ? WHERE id = ?').run(lifetime, id)
  }

  async listExpiredChannels(now: number, minIdleMs: number, neverConnectedMs: number): Promise<Channel[]> {
    // Protocol §5.8: a channel that never got a socket lives `neverConnectedMs`; otherwise idle time counts
    // from the last activity, with `minIdleMs` as a floor under the channel's own lifetime.
    const rows = this.#statement(
      `SELECT ${CHANNEL_COLUMNS} FROM channels c
       WHERE (c.ever_connected = 0 AND c.created_at < @now - @neverConnectedMs)
          OR (c.ever_connected = 1 AND c.last_active_at < @now - max(c.lifetime * 1000, @minIdleMs))
       ORDER BY c.created_at, c.rowid`,
    ).all({ now, minIdleMs, neverConnectedMs })
    return (rows as ChannelRow<number>[]).map(toChannel)
  }

  /** Throws DuplicateError('channelId') when the channel already has a subscription (one per channel, §6.2). */
  async createSubscription(sub: Subscription): Promise<void> {
    try {
      this.#statement(
        'INSERT INTO subscriptions (id, channel_id, user_id, correlator, created_at) VALUES (?, ?, ?, ?, ?)',
      ).run(sub.id, sub.channelId, sub.userId, sub.correlator ?? null, sub.createdAt)
    } catch (error) {
      throw duplicate(error, { 'subscriptions.channel_id': 'channelId', 'subscriptions.id': 'id' }) ?? error
    }
  }

  async getSubscription(id: string): Promise<Subscription | undefined> {
    const row = this.#statement(`SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?`).get(id)
    return row === undefined ? undefined : toSubscription(row as SubscriptionRow)
  }

  async getSubscriptionByChannel(channelId: string): Promise<Subscription | undefined> {
    const row = this.#statement(`SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE channel_id = ?`).get(
      channelId,
    )
    return row === undefined ? undefined : toSubscription(row as SubscriptionRow)
  }

  async deleteSubscription(id: string): Promise<boolean> {
    return this.#statement('DELETE FROM subscriptions WHERE id = ?').run(id).changes > 0
  }

  async listSubscribedChannels(userId: string): Promise<Channel[]> {
    const rows = this.#statement(
      `SELECT ${CHANNEL_COLUMNS} FROM channels c JOIN subscriptions s ON s.channel_id = c.id
       WHERE c.user_id = ? ORDER BY c.created_at, c.rowid`,
    ).all(userId)
    return (rows as ChannelRow<number>[]).map(toChannel)
  }

  async appendFrames(frames: NewOutboxFrame[]): Promise<OutboxFrame[]> {
    // The channel row's counter hands out seqs; RETURNING nothing means the channel is gone, and its
    // frames are dropped as the interface says (a channel removed while a call still addressed it).
    const next = this.#statement(
      'UPDATE channels SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq',
    )
    const insert = this.#statement(
      `INSERT INTO outbox (${OUTBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
    )
    const createdAt = Date.now()
    const appended: OutboxFrame[] = []
    this.#atomically(() => {
      for (const frame of frames) {
        const row = next.get(frame.channelId) as { last_seq: number } | undefined
        if (!row) continue
        const legId = frame.legId ?? null
        insert.run(frame.channelId, row.last_seq, frame.id, frame.kind, legId, frame.frame, createdAt)
        appended.push({ ...frame, legId, seq: row.last_seq, createdAt, deliveredAt: null })
      }
    })
    return appended
  }

  async listUndelivered(channelId: string, limit: number): Promise<OutboxFrame[]> {
    const rows = this.#statement(
      `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE channel_id = ? AND delivered_at IS NULL ORDER BY seq LIMIT ?`,
    ).all(channelId, limit)
    return (rows as OutboxRow[]).map(toOutboxFrame)
  }

  /** Frames delivered before keep their first `deliveredAt`, so a re-flush does not refresh the replay window. */
  async markDelivered(channelId: string, uptoSeq: number, at: number): Promise<void> {
    await this.markDeliveredMany([{ channelId, uptoSeq }], at)
  }

  async markDeliveredMany(marks: readonly DeliveryMark[], at: number): Promise<void> {
    const mark = this.#statement(
      'UPDATE outbox SET delivered_at = ? WHERE channel_id = ? AND seq <= ? AND delivered_at IS NULL',
    )
    if (marks.length === 1) {
      mark.run(at, marks[0]!.channelId, marks[0]!.uptoSeq)
      return
    }
    this.#atomically(() => {
      for (const { channelId, uptoSeq } of marks) mark.run(at, channelId, uptoSeq)
    })
  }

  async listRecentlyDelivered(channelId: string, since: number, limit: number): Promise<OutboxFrame[]> {
    // Newest `limit` first, then back into queue order.
    const rows = this.#statement(
      `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE channel_id = ? AND delivered_at >= ? ORDER BY seq DESC LIMIT ?`,
    ).all(channelId, since, limit)
    return (rows as OutboxRow[]).map(toOutboxFrame).reverse()
  }

  async pruneDelivered(before: number): Promise<void> {
    this.#statement('DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?').run(before)
  }

  /**
   * Inserts `newCalls` then `newLegs` (stored with the version they carry), then updates `calls` and
   * `legs` where the stored version equals theirs, all in one transaction. Any stale or missing record,
   * or a new record whose id exists, throws ConflictError and applies nothing.
   *
   * After a successful commit the `version` of every object in `calls` and `legs` is bumped in place, so
   * that the caller can keep using (and commit again) the records it holds. On failure nothing is touched.
   */
  async commit(change: CallChange): Promise<void> {
    const newCalls = change.newCalls ?? []
    const newLegs = change.newLegs ?? []
    const calls = change.calls ?? []
    const legs = change.legs ?? []
    const insertCall = this.#statement(`INSERT INTO calls (${CALL_COLUMNS}) VALUES (${CALL_PARAMS})`)
    const insertLeg = this.#statement(`INSERT INTO legs (${LEG_COLUMNS}) VALUES (${LEG_PARAMS})`)
    const updateCall = this.#statement(
      `UPDATE calls SET ${CALL_ASSIGNMENTS} WHERE id = @id AND version = @version`,
    )
    const updateLeg = this.#statement(
      `UPDATE legs SET ${LEG_ASSIGNMENTS} WHERE id = @id AND version = @version`,
    )
    const cancelTimers = change.cancelTimers ?? []
    const scheduleTimers = change.scheduleTimers ?? []
    this.#atomically(() => {
      for (const call of newCalls) {
        try {
          insertCall.run(callParams(call))
        } catch (error) {
          if (duplicate(error, { 'calls.id': 'id' }))
            throw new ConflictError(`call ${call.id} already exists`)
          throw error
        }
      }
      for (const leg of newLegs) {
        try {
          insertLeg.run(legParams(leg))
        } catch (error) {
          if (duplicate(error, { 'legs.id': 'id' })) throw new ConflictError(`leg ${leg.id} already exists`)
          throw error
        }
      }
      for (const call of calls) {
        if (updateCall.run(callParams(call)).changes === 0) {
          throw new ConflictError(`call ${call.id} is missing or changed since version ${call.version}`)
        }
      }
      for (const leg of legs) {
        if (updateLeg.run(legParams(leg)).changes === 0) {
          throw new ConflictError(`leg ${leg.id} is missing or changed since version ${leg.version}`)
        }
      }
      for (const id of cancelTimers) this.#cancelTimer(id)
      for (const timer of scheduleTimers) this.#scheduleTimer(timer)
    })
    for (const call of calls) call.version += 1
    for (const leg of legs) leg.version += 1
  }

  async getCall(id: string): Promise<Call | undefined> {
    const row = this.#statement(`SELECT ${CALL_COLUMNS} FROM calls WHERE id = ?`).get(id)
    return row === undefined ? undefined : toCall(row as CallRow)
  }

  async getLeg(id: string): Promise<Leg | undefined> {
    const row = this.#statement(`SELECT ${LEG_COLUMNS} FROM legs WHERE id = ?`).get(id)
    return row === undefined ? undefined : toLeg(row as LegRow<number>)
  }

  /** Legs of the call in creation order (ties in insertion order, so the caller leg comes first). */
  async listLegs(callId: string): Promise<Leg[]> {
    const rows = this.#statement(
      `SELECT ${LEG_COLUMNS} FROM legs WHERE call_id = ? ORDER BY created_at, rowid`,
    ).all(callId)
    return (rows as LegRow<number>[]).map(toLeg)
  }

  async listActiveLegsByChannel(channelId: string): Promise<Leg[]> {
    const rows = this.#statement(
      `SELECT ${LEG_COLUMNS} FROM legs WHERE channel_id = ? AND state = 'active' ORDER BY created_at, rowid`,
    ).all(channelId)
    return (rows as LegRow<number>[]).map(toLeg)
  }

  async countActiveLegsByUser(userId: string): Promise<number> {
    const row = this.#statement(`SELECT COUNT(*) AS n FROM legs WHERE user_id = ? AND state = 'active'`).get(
      userId,
    ) as {
      n: number
    }
    return row.n
  }

  async listSilentLegs(before: number): Promise<Leg[]> {
    // The literal conditions match the partial index legs_silent.
    const rows = this.#statement(
      `SELECT ${LEG_COLUMNS} FROM legs WHERE state = 'active' AND liveness_armed = 1 AND last_seen_at < ?
       ORDER BY last_seen_at, rowid`,
    ).all(before)
    return (rows as LegRow<number>[]).map(toLeg)
  }

  async listCallRecords(limit: number, accountId?: string): Promise<CallRecord[]> {
    const columns =
      'id, account_id, caller_username, callee_username, state, created_at, answered_at, ended_at, end_reason, pstn'
    const rows =
      accountId === undefined
        ? this.#statement(`SELECT ${columns} FROM calls ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(
            limit,
          )
        : this.#statement(
            `SELECT ${columns} FROM calls WHERE account_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
          ).all(accountId, limit)
    return (rows as CallRow[]).map(toCallRecord)
  }

  async scheduleTimer(timer: Timer): Promise<void> {
    this.#scheduleTimer(timer)
  }

  async cancelTimer(id: string): Promise<void> {
    this.#cancelTimer(id)
  }

  #scheduleTimer(timer: Timer): void {
    this.#statement(
      'INSERT INTO timers (id, kind, due_at, payload) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, payload = excluded.payload',
    ).run(timer.id, timer.kind, timer.dueAt, JSON.stringify(timer.payload))
  }

  #cancelTimer(id: string): void {
    this.#statement('DELETE FROM timers WHERE id = ?').run(id)
  }

  async claimDueTimers(now: number, limit: number, leaseMs = DEFAULT_TIMER_LEASE_MS): Promise<Timer[]> {
    // Polled ten times a second by every process on the file: a plain read first, so that an idle poll never
    // takes the write lock (a process waiting for that lock waits with its whole event loop).
    if (this.#statement('SELECT 1 FROM timers WHERE due_at <= ? LIMIT 1').get(now) === undefined) return []
    const due = this.#statement(
      'SELECT id, kind, due_at, payload FROM timers WHERE due_at <= ? ORDER BY due_at, id LIMIT ?',
    )
    const lease = this.#statement('UPDATE timers SET due_at = ? WHERE id = ?')
    // Select and lease under one write lock: a second process claiming at the same time waits and then finds
    // them due only when the lease ends, so each claim hands a timer to one caller. The rows are kept (not
    // deleted) until `completeTimers`, so a claimer that dies before firing them loses nothing.
    const rows = this.#atomically(() => {
      const found = due.all(now, limit) as TimerRow[]
      for (const row of found) lease.run(now + leaseMs, row.id)
      return found
    })
    return rows.map(toTimer)
  }

  async completeTimers(claims: readonly TimerClaim[]): Promise<void> {
    if (claims.length === 0) return
    // Only a row still carrying its lease is the claimed timer; any other due time is a newer schedule.
    const remove = this.#statement('DELETE FROM timers WHERE id = ? AND due_at = ?')
    this.#atomically(() => {
      for (const claim of claims) remove.run(claim.id, claim.leaseUntil)
    })
  }

  /** The cached prepared statement for `sql`; preparing is the costly part of a query. */
  async createProjectKey(key: ProjectKey): Promise<void> {
    try {
      this.#statement(
        'INSERT INTO project_keys (id, account_id, name, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(key.id, key.accountId, key.name, key.secretHash, key.createdAt, key.expiresAt)
    } catch (error) {
      throw duplicate(error, { 'project_keys.id': 'id' }) ?? error
    }
  }

  async getProjectKey(id: string): Promise<ProjectKey | undefined> {
    const row = this.#statement(`SELECT ${KEY_COLUMNS} FROM project_keys WHERE id = ?`).get(id)
    return row === undefined ? undefined : toProjectKey(row as ProjectKeyRow)
  }

  async listProjectKeys(accountId?: string): Promise<ProjectKey[]> {
    const rows =
      accountId === undefined
        ? this.#statement(`SELECT ${KEY_COLUMNS} FROM project_keys ORDER BY created_at, rowid`).all()
        : this.#statement(
            `SELECT ${KEY_COLUMNS} FROM project_keys WHERE account_id = ? ORDER BY created_at, rowid`,
          ).all(accountId)
    return (rows as ProjectKeyRow[]).map(toProjectKey)
  }

  async deleteProjectKey(id: string): Promise<boolean> {
    return this.#statement('DELETE FROM project_keys WHERE id = ?').run(id).changes > 0
  }

  async addAnonymousDestination(destination: AnonymousDestination): Promise<boolean> {
    const result = this.#statement(
      'INSERT INTO anonymous_destinations (account_id, address, created_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT (account_id, address) DO NOTHING',
    ).run(destination.accountId, destination.address, destination.createdAt)
    return result.changes > 0
  }

  async listAnonymousDestinations(accountId?: string): Promise<AnonymousDestination[]> {
    const rows =
      accountId === undefined
        ? this.#statement(
            `SELECT ${DESTINATION_COLUMNS} FROM anonymous_destinations ORDER BY created_at, rowid`,
          ).all()
        : this.#statement(
            `SELECT ${DESTINATION_COLUMNS} FROM anonymous_destinations WHERE account_id = ? ORDER BY created_at, rowid`,
          ).all(accountId)
    return (rows as DestinationRow[]).map(toDestination)
  }

  async removeAnonymousDestination(accountId: string, address: string): Promise<boolean> {
    return (
      this.#statement('DELETE FROM anonymous_destinations WHERE account_id = ? AND address = ?').run(
        accountId,
        address,
      ).changes > 0
    )
  }

  async createAnonymousUser(user: User, identity: AnonymousIdentity): Promise<void> {
    const run = this.#db.transaction(() => {
      try {
        this.#statement(
          'INSERT INTO users (id, account_id, login, local_part, username, password_hash, created_at) ' +
            'VALUES (?, ?, ?, ?, ?, ?, ?)',
        ).run(
          user.id,
          user.accountId,
          user.login,
          localPart(user.login),
          user.username,
          user.passwordHash,
          user.createdAt,
        )
      } catch (error) {
        throw (
          duplicate(error, { 'users.login': 'login', 'users.username': 'username', 'users.id': 'id' }) ??
          error
        )
      }
      this.#statement(
        'INSERT INTO anonymous_identities (user_id, account_id, key_id, expires_at, created_at) VALUES (?, ?, ?, ?, ?)',
      ).run(identity.userId, identity.accountId, identity.keyId, identity.expiresAt, identity.createdAt)
    })
    run.immediate()
  }

  async getAnonymousIdentity(userId: string): Promise<AnonymousIdentity | undefined> {
    const row = this.#statement(`SELECT ${IDENTITY_COLUMNS} FROM anonymous_identities WHERE user_id = ?`).get(
      userId,
    )
    return row === undefined ? undefined : toIdentity(row as IdentityRow)
  }

  async listAnonymousIdentitiesByKey(keyId: string): Promise<AnonymousIdentity[]> {
    const rows = this.#statement(
      `SELECT ${IDENTITY_COLUMNS} FROM anonymous_identities WHERE key_id = ? ORDER BY created_at, user_id`,
    ).all(keyId)
    return (rows as IdentityRow[]).map(toIdentity)
  }

  async listExpiredAnonymousIdentities(now: number, limit: number): Promise<AnonymousIdentity[]> {
    const rows = this.#statement(
      `SELECT ${IDENTITY_COLUMNS} FROM anonymous_identities a WHERE a.expires_at <= ? AND NOT EXISTS ` +
        `(SELECT 1 FROM legs l WHERE l.user_id = a.user_id AND l.state = 'active') ` +
        'ORDER BY a.expires_at, a.user_id LIMIT ?',
    ).all(now, limit)
    return (rows as IdentityRow[]).map(toIdentity)
  }

  async countActiveAnonymousLegs(accountId: string): Promise<number> {
    const row = this.#statement(
      'SELECT COUNT(*) AS n FROM legs l JOIN anonymous_identities a ON a.user_id = l.user_id ' +
        "WHERE a.account_id = ? AND l.state = 'active'",
    ).get(accountId) as { n: number }
    return row.n
  }

  async createPhoneNumber(phoneNumber: PhoneNumber): Promise<void> {
    const { number, accountId, userId, assignedAt, createdAt } = phoneNumber
    let changes: number
    try {
      // The user, when given, must be of the number's account: checked in the statement itself.
      changes = this.#statement(
        `INSERT INTO phone_numbers (${NUMBER_COLUMNS}) SELECT @number, @accountId, @userId, @assignedAt, @createdAt ` +
          'WHERE @userId IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = @userId AND account_id = @accountId)',
      ).run({
        number,
        accountId,
        userId,
        assignedAt: userId === null ? null : (assignedAt ?? createdAt),
        createdAt,
      }).changes
    } catch (error) {
      throw duplicate(error, { 'phone_numbers.number': 'number' }) ?? error
    }
    if (changes === 0) throw new Error(`user ${userId ?? ''} is not of account ${accountId}`)
  }

  async getPhoneNumber(number: string): Promise<PhoneNumber | undefined> {
    const row = this.#statement(`SELECT ${NUMBER_COLUMNS} FROM phone_numbers WHERE number = ?`).get(number)
    return row === undefined ? undefined : toPhoneNumber(row as PhoneNumberRow)
  }

  async listPhoneNumbers(accountId?: string): Promise<PhoneNumber[]> {
    const rows =
      accountId === undefined
        ? this.#statement(`SELECT ${NUMBER_COLUMNS} FROM phone_numbers ORDER BY created_at, number`).all()
        : this.#statement(
            `SELECT ${NUMBER_COLUMNS} FROM phone_numbers WHERE account_id = ? ORDER BY created_at, number`,
          ).all(accountId)
    return (rows as PhoneNumberRow[]).map(toPhoneNumber)
  }

  async listPhoneNumbersByUser(userId: string): Promise<PhoneNumber[]> {
    const rows = this.#statement(
      `SELECT ${NUMBER_COLUMNS} FROM phone_numbers WHERE user_id = ? ORDER BY assigned_at, number`,
    ).all(userId)
    return (rows as PhoneNumberRow[]).map(toPhoneNumber)
  }

  async assignPhoneNumber(number: string, userId: string | null, at: number): Promise<boolean> {
    const result = this.#statement(
      'UPDATE phone_numbers SET user_id = @userId, assigned_at = CASE WHEN @userId IS NULL THEN NULL ELSE @at END ' +
        'WHERE number = @number AND (@userId IS NULL OR EXISTS ' +
        '(SELECT 1 FROM users u WHERE u.id = @userId AND u.account_id = phone_numbers.account_id))',
    ).run({ number, userId, at })
    return result.changes > 0
  }

  async deletePhoneNumber(number: string): Promise<boolean> {
    return this.#statement('DELETE FROM phone_numbers WHERE number = ?').run(number).changes > 0
  }

  async addQualitySamples(samples: readonly QualitySampleRecord[], maxPerLeg: number): Promise<void> {
    if (samples.length === 0) return
    this.#atomically(() => {
      const legs = new Set<string>()
      for (const s of samples) {
        // INSERT … SELECT: a sample of an unknown leg inserts nothing instead of failing the foreign key.
        this.#statement(
          'INSERT INTO quality_samples (leg_id, call_id, at, sample) SELECT id, ?, ?, ? FROM legs WHERE id = ?',
        ).run(s.callId, s.at, JSON.stringify(s.sample), s.legId)
        legs.add(s.legId)
      }
      for (const legId of legs)
        this.#statement(
          'DELETE FROM quality_samples WHERE leg_id = ? AND id <= ' +
            '(SELECT id FROM quality_samples WHERE leg_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)',
        ).run(legId, legId, Math.max(0, maxPerLeg))
    })
  }

  async listQualitySamples(callId: string): Promise<QualitySampleRecord[]> {
    const rows = this.#statement(
      'SELECT call_id, leg_id, at, sample FROM quality_samples WHERE call_id = ? ORDER BY at, id',
    ).all(callId) as Array<{ call_id: string; leg_id: string; at: number; sample: string }>
    return rows.map((r) => ({
      callId: r.call_id,
      legId: r.leg_id,
      at: r.at,
      sample: JSON.parse(r.sample) as Record<string, unknown>,
    }))
  }

  async queryCallRecords(query: CallRecordQuery): Promise<CallRecord[]> {
    const { where, params, limit } = callRecordFilter(query, () => '?')
    const rows = this.#statement(
      'SELECT id, account_id, caller_username, callee_username, state, created_at, answered_at, ended_at, ' +
        `end_reason FROM calls ${where} ORDER BY created_at DESC, id DESC LIMIT ${limit}`,
    ).all(...params)
    return (rows as CallRow[]).map(toCallRecord)
  }

  async createAdmin(admin: Admin): Promise<void> {
    try {
      this.#statement(`INSERT INTO admins (${ADMIN_COLUMNS}) VALUES (?, ?, ?, ?, ?)`).run(
        admin.id,
        admin.accountId,
        admin.username,
        admin.passwordHash,
        admin.createdAt,
      )
    } catch (error) {
      throw duplicate(error, { 'admins.username': 'username', 'admins.id': 'id' }) ?? error
    }
  }

  async getAdmin(id: string): Promise<Admin | undefined> {
    const row = this.#statement(`SELECT ${ADMIN_COLUMNS} FROM admins WHERE id = ?`).get(id)
    return row === undefined ? undefined : toAdmin(row as AdminRow)
  }

  async getAdminByUsername(username: string): Promise<Admin | undefined> {
    const row = this.#statement(`SELECT ${ADMIN_COLUMNS} FROM admins WHERE username = ?`).get(username)
    return row === undefined ? undefined : toAdmin(row as AdminRow)
  }

  async listAdmins(accountId?: string | null): Promise<Admin[]> {
    const order = 'ORDER BY created_at, username'
    const rows =
      accountId === undefined
        ? this.#statement(`SELECT ${ADMIN_COLUMNS} FROM admins ${order}`).all()
        : accountId === null
          ? this.#statement(`SELECT ${ADMIN_COLUMNS} FROM admins WHERE account_id IS NULL ${order}`).all()
          : this.#statement(`SELECT ${ADMIN_COLUMNS} FROM admins WHERE account_id = ? ${order}`).all(
              accountId,
            )
    return (rows as AdminRow[]).map(toAdmin)
  }

  async deleteAdmin(id: string): Promise<boolean> {
    return this.#statement('DELETE FROM admins WHERE id = ?').run(id).changes > 0
  }

  /**
   * Runs `fn` atomically: as a savepoint inside the open transaction (a group), else as a transaction of its
   * own (BEGIN IMMEDIATE). The same as better-sqlite3's `transaction(fn).immediate()`, without building a
   * transaction function for every call.
   */
  #atomically<T>(fn: () => T): T {
    const nested = this.#db.inTransaction
    this.#statement(nested ? 'SAVEPOINT atomically' : 'BEGIN IMMEDIATE').run()
    try {
      const result = fn()
      this.#statement(nested ? 'RELEASE atomically' : 'COMMIT').run()
      if (!nested) this.#commits++
      return result
    } catch (error) {
      if (this.#db.inTransaction) {
        if (nested) {
          this.#statement('ROLLBACK TO atomically').run()
          this.#statement('RELEASE atomically').run()
        } else this.#statement('ROLLBACK').run()
      }
      throw error
    }
  }

  /** Write transactions committed so far: one per group (issue 13's "store transactions per flow"). */
  commitCount(): number {
    return this.#commits
  }

  /**
   * Opens a group transaction unless one is open (throws SQLITE_BUSY when another process holds the write
   * lock; nothing has changed then). A group of GROUP_LIMIT writes is committed first.
   */
  #joinGroup(): Group {
    if (this.#group && this.#group.writes >= GROUP_LIMIT) this.#commitGroup()
    if (this.#group) {
      this.#group.writes++
      return this.#group
    }
    this.#statement('BEGIN IMMEDIATE').run()
    let resolve!: () => void
    let reject!: (error: unknown) => void
    const committed = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    // A group that fails reaches its writers through their own awaits; this only keeps an unawaited
    // group (all its writers failed alone) from being an unhandled rejection.
    committed.catch(() => {})
    const group: Group = { committed, resolve, reject, writes: 1 }
    this.#group = group
    immediately(() => {
      if (this.#group === group) this.#commitGroup()
    })
    return group
  }

  /** The open group, if any: a method that ran inside it resolves only once it committed. */
  #openGroup(): Group | undefined {
    return this.#group
  }

  /**
   * After a write ran inside `group`: when SQLite rolled the whole transaction back (an I/O error, a full
   * disk), the group is over and every write in it fails.
   */
  #checkGroup(group: Group, error: unknown): void {
    if (this.#group !== group || this.#db.inTransaction) return
    this.#group = undefined
    group.reject(error)
  }

  /** Commits the open group, resolving (or, when the COMMIT fails, rejecting) all its writes. */
  #commitGroup(): void {
    const group = this.#group
    if (!group) return
    this.#group = undefined
    try {
      this.#statement('COMMIT').run()
      this.#commits++
      group.resolve()
    } catch (error) {
      if (this.#db.inTransaction) this.#statement('ROLLBACK').run()
      group.reject(error)
    }
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql)
    if (!statement) {
      statement = this.#db.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  #appliedVersions(): Set<number> {
    const rows = this.#statement('SELECT version FROM schema_migrations').all() as { version: number }[]
    return new Set(rows.map((r) => r.version))
  }

  #appliedVersion(): number {
    const row = this.#statement('SELECT max(version) AS version FROM schema_migrations').get() as {
      version: number | null
    }
    return row.version ?? 0
  }
}

/** The field a UNIQUE or PRIMARY KEY violation is about, as a DuplicateError; undefined for other errors. */
function duplicate(error: unknown, fields: Record<string, string>): DuplicateError | undefined {
  if (!(error instanceof Database.SqliteError)) return undefined
  if (error.code !== 'SQLITE_CONSTRAINT_UNIQUE' && error.code !== 'SQLITE_CONSTRAINT_PRIMARYKEY')
    return undefined
  // SQLite names the constraint's columns: "UNIQUE constraint failed: users.account_id, users.login".
  const columns = error.message
    .slice(error.message.indexOf(':') + 1)
    .split(',')
    .map((column) => column.trim())
  for (const [column, field] of Object.entries(fields)) {
    if (columns.includes(column)) return new DuplicateError(field)
  }
  return undefined
}

/** The login before its last `@` (the whole login when it has none). */
function localPart(login: string): string {
  const at = login.lastIndexOf('@')
  return at < 0 ? login : login.slice(0, at)
}

/** SQLite has no boolean type and better-sqlite3 refuses to bind JS booleans. */
function bit(value: boolean): 0 | 1 {
  return value ? 1 : 0
}

function callParams(call: Call): Record<string, string | number | null> {
  return {
    id: call.id,
    accountId: call.accountId,
    state: call.state,
    callerLegId: call.callerLegId,
    answeredLegId: call.answeredLegId ?? null,
    negotiation: JSON.stringify(call.negotiation),
    offerSdp: call.offerSdp,
    originatorAddress: call.originatorAddress,
    originatorName: call.originatorName,
    tParticipantAddress: call.tParticipantAddress,
    callerUsername: call.callerUsername,
    calleeUsername: call.calleeUsername,
    transfer: call.transfer ? JSON.stringify(call.transfer) : null,
    replacesCallIds: JSON.stringify(call.replacesCallIds),
    createdAt: call.createdAt,
    answeredAt: call.answeredAt ?? null,
    endedAt: call.endedAt ?? null,
    endReason: call.endReason ?? null,
    pstn: call.pstn ? JSON.stringify(call.pstn) : null,
    version: call.version,
  }
}

function legParams(leg: Leg): Record<string, string | number | null> {
  return {
    id: leg.id,
    callId: leg.callId,
    userId: leg.userId,
    username: leg.username,
    role: leg.role,
    channelId: leg.channelId ?? null,
    state: leg.state,
    terminal: leg.terminal ? JSON.stringify(leg.terminal) : null,
    livenessArmed: bit(leg.livenessArmed),
    lastSeenAt: leg.lastSeenAt ?? null,
    acceptancePushedAt: leg.acceptancePushedAt ?? null,
    guardReleased: bit(leg.guardReleased),
    held: JSON.stringify(leg.held),
    createdAt: leg.createdAt,
    version: leg.version,
  }
}

/** How long, in all, a store method keeps retrying while another process holds the write lock. */
const BUSY_WAIT_MS = 5_000
/** WAL pages (4 kB) at which the writer checkpoints by itself after all (SQLite's default is 1,000). */
const WAL_CHECKPOINT_PAGES = 10_000
/** Page cache of the connection, in kB (SQLite's default is 2,000). */
const CACHE_KB = 64_000
/** Most writes in one group transaction: a longer turn commits and opens another. */
const GROUP_LIMIT = 1_000
/** setImmediate as it was when this module loaded: a test faking timers must not stop commits. */
const immediately = setImmediate

/** One group transaction: its writers wait for `committed`. */
interface Group {
  committed: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
  writes: number
}

/**
 * Methods that only read, claimDueTimers (its idle poll must not take the write lock; what it claims joins
 * an open group as a savepoint or commits alone) and migrate (one transaction per migration, at start-up):
 * none opens a group.
 */
const OUTSIDE_GROUP = /^(get(?!OrCreate)|list|count|query|ping$|claimDueTimers$|migrate$)/
/** Reads whose rows go out on a websocket as they are: they wait for the open group. */
const SENDS = /^(listUndelivered|listRecentlyDelivered)$/

function isBusy(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')
}

/**
 * Wraps each public method of `store`: a write joins the group transaction, and every method resolves only
 * once the group it ran in committed (see SqliteStore).
 *
 * SQLite's own busy handler (`busy_timeout`) sleeps the calling thread — 1 ms, then 2, 5, 10 … ms — so with
 * several processes on one file every lock collision froze a whole event loop, requests and sockets
 * included. Instead a method refused with SQLITE_BUSY (at the group's BEGIN, or a read) is run again after
 * the event loop had its turn: each is one statement or one transaction, which changes nothing when refused.
 */
function retryWhenBusy(store: SqliteStore, group: GroupAccess): void {
  const prototype = SqliteStore.prototype as unknown as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >
  for (const name of Object.getOwnPropertyNames(SqliteStore.prototype)) {
    const method = Object.getOwnPropertyDescriptor(prototype, name)?.value as
      ((...args: unknown[]) => Promise<unknown>) | undefined
    if (name === 'constructor' || name === 'close' || name === 'commitCount' || typeof method !== 'function')
      continue
    const writes = !OUTSIDE_GROUP.test(name)
    const waits = writes || SENDS.test(name)
    const attempt = async (args: unknown[]): Promise<unknown> => {
      const joined = writes ? group.join() : waits ? group.open() : undefined
      let result: unknown
      try {
        // The method's statements all run now, inside the group when it writes.
        result = await method.apply(store, args)
      } catch (error) {
        if (joined) group.check(joined, error)
        throw error
      }
      if (joined) await joined.committed
      return result
    }
    const retrying = async (...args: unknown[]) => {
      const deadline = Date.now() + BUSY_WAIT_MS
      for (let n = 0; ; n++) {
        try {
          return await attempt(args)
        } catch (error) {
          if (!isBusy(error) || Date.now() > deadline) throw error
          // A few quick turns (the lock is usually held for microseconds), then up to 10 ms apart.
          await new Promise((resolve) =>
            n < 8 ? setImmediate(resolve) : setTimeout(resolve, Math.min(10, n - 7)),
          )
        }
      }
    }
    Object.defineProperty(store, name, { value: retrying, configurable: true, writable: true })
  }
}

/** What retryWhenBusy needs of the store's private group state. */
interface GroupAccess {
  join(): Group
  open(): Group | undefined
  check(group: Group, error: unknown): void
}
