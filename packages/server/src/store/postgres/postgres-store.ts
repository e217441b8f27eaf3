import pg from 'pg'
import type { PoolClient, QueryResultRow } from 'pg'
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
import { Batcher, type Outcome } from './batches.js'

const { toAccount, toUser, toChannel, toSubscription, toOutboxFrame, toCall, toCallRecord, toLeg, toTimer } =
  rowMappers<boolean>((v) => v)

const { DatabaseError, Pool, TypeOverrides } = pg

/** Options of a PostgresStore. */
export interface PostgresStoreOptions {
  /** Called with errors of idle pooled connections (a server restart, a network cut); defaults to ignoring them. */
  onError?: (error: Error) => void
  /** Largest number of connections the pool opens; default 10. */
  maxConnections?: number
}

/** `$1, $2, … $n`. */
function placeholders(n: number): string {
  return Array.from({ length: n }, (_, index) => `$${index + 1}`).join(', ')
}

/** `column = $2, …` for every column but the first (`id = $1`), bumping `version` instead of setting it. */
function assignments(columns: string): string {
  return columns
    .split(',')
    .map((column) => column.trim())
    .slice(1)
    .map((column, index) => (column === 'version' ? 'version = version + 1' : `${column} = $${index + 2}`))
    .join(', ')
}

const CALL_COUNT = CALL_COLUMNS.split(',').length
const LEG_COUNT = LEG_COLUMNS.split(',').length
const INSERT_CALL = `INSERT INTO calls (${CALL_COLUMNS}) VALUES (${placeholders(CALL_COUNT)})`
const INSERT_LEG = `INSERT INTO legs (${LEG_COLUMNS}) VALUES (${placeholders(LEG_COUNT)})`
// The parameter lists of inserts and updates are the same; in updates the last one (`version`) is the
// version the caller read, which the row must still have.
const UPDATE_CALL = `UPDATE calls SET ${assignments(CALL_COLUMNS)} WHERE id = $1 AND version = $${CALL_COUNT}`
const UPDATE_LEG = `UPDATE legs SET ${assignments(LEG_COLUMNS)} WHERE id = $1 AND version = $${LEG_COUNT}`

/**
 * Appends a batch in one statement (one round trip): the frames with their position in the batch, the
 * number per channel, the channels' rows locked in id order — the order every multi-channel writer here
 * uses, so two writers naming the same channels never deadlock — then each channel's `last_seq` counter
 * bumped by its count and the frames numbered below the new value in batch order. Frames of unknown
 * channels find no row and are dropped, as the interface says. NO KEY UPDATE is the lock an UPDATE takes
 * anyway; unlike FOR UPDATE it lets inserts that reference the channel (subscriptions) proceed.
 */
const APPEND_FRAMES = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
    WITH ORDINALITY AS t (channel_id, id, kind, leg_id, frame, position)
),
counts AS (SELECT channel_id, count(*) AS n FROM input GROUP BY channel_id),
locked AS (
  SELECT c.id FROM channels c WHERE c.id IN (SELECT channel_id FROM counts) ORDER BY c.id FOR NO KEY UPDATE
),
bumped AS (
  UPDATE channels c SET last_seq = c.last_seq + counts.n
  FROM counts JOIN locked ON locked.id = counts.channel_id
  WHERE c.id = counts.channel_id
  RETURNING c.id, c.last_seq, counts.n
)
INSERT INTO outbox (${OUTBOX_COLUMNS})
SELECT i.channel_id,
       b.last_seq - b.n + row_number() OVER (PARTITION BY i.channel_id ORDER BY i.position),
       i.id, i.kind, i.leg_id, i.frame, $6::bigint, NULL
FROM input i JOIN bumped b ON b.id = i.channel_id
RETURNING channel_id, seq`

const CALL_LIST = CALL_COLUMNS.split(',').map((column) => column.trim())
const LEG_LIST = LEG_COLUMNS.split(',').map((column) => column.trim())
/**
 * A whole CallChange (or several joined, see #commitBatch) as one statement, so one round trip and one
 * WAL flush instead of BEGIN, a statement per record and COMMIT: data-modifying CTEs for the new calls,
 * then the new legs (one multi-row INSERT each, in input order, for `ord`), one version-checked UPDATE per
 * updated call or leg, the cancelled timers and the upserted ones. All CTEs run to completion on one
 * snapshot and foreign keys are checked at the end of the statement, so a new leg may name a new call of
 * the same statement. The final SELECT divides by zero (SQLSTATE 22012) when fewer rows were updated than
 * asked for — a stale version or a missing record — which aborts the statement, and with it every change
 * in it, as the transaction did. Under READ COMMITTED an UPDATE that waited for a concurrent writer's row
 * lock re-checks `version` against the committed row, so of two commits of the same version exactly one
 * succeeds. The text depends only on the counts (its shape), so each shape is prepared once per
 * connection and runs on a cached plan of primary-key lookups.
 */
function commitStatement(shape: CommitShape): string {
  let n = 0
  const values = (count: number) => Array.from({ length: count }, () => `$${++n}`).join(', ')
  const ctes: string[] = []
  const rows = (count: number, width: number) =>
    Array.from({ length: count }, () => `(${values(width)})`).join(', ')
  if (shape.newCalls > 0)
    ctes.push(
      `nc AS (INSERT INTO calls (${CALL_COLUMNS}) VALUES ${rows(shape.newCalls, CALL_COUNT)} RETURNING 1)`,
    )
  if (shape.newLegs > 0)
    ctes.push(
      `nl AS (INSERT INTO legs (${LEG_COLUMNS}) VALUES ${rows(shape.newLegs, LEG_COUNT)} RETURNING 1)`,
    )
  const updated: string[] = []
  const update = (table: string, columns: string[]) => {
    const first = n + 1
    n += columns.length
    const set = columns
      .slice(1)
      .map((column, i) => (column === 'version' ? 'version = version + 1' : `${column} = $${first + i + 1}`))
      .join(', ')
    const name = `u${updated.length}`
    updated.push(name)
    ctes.push(`${name} AS (UPDATE ${table} SET ${set} WHERE id = $${first} AND version = $${n} RETURNING 1)`)
  }
  for (let i = 0; i < shape.calls; i++) update('calls', CALL_LIST)
  for (let i = 0; i < shape.legs; i++) update('legs', LEG_LIST)
  if (shape.cancel) ctes.push(`ct AS (DELETE FROM timers WHERE id = ANY($${++n}::text[]) RETURNING 1)`)
  if (shape.schedule > 0)
    ctes.push(
      `st AS (INSERT INTO timers (id, kind, due_at, payload) VALUES ${rows(shape.schedule, 4)} ` +
        'ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, ' +
        'payload = excluded.payload RETURNING 1)',
    )
  const check =
    updated.length === 0
      ? 'SELECT 1 AS ok'
      : `SELECT 1 / (CASE WHEN ${updated.map((name) => `(SELECT count(*) FROM ${name})`).join(' + ')} = ` +
        `${updated.length} THEN 1 ELSE 0 END) AS ok`
  return ctes.length === 0 ? check : `WITH ${ctes.join(',\n')}\n${check}`
}

/** What decides the text of a commit statement. */
interface CommitShape {
  newCalls: number
  newLegs: number
  calls: number
  legs: number
  cancel: boolean
  schedule: number
}

/** Statements of more records than this are not prepared (their shapes are rare). */
const MAX_PREPARED_RECORDS = 24

const SCHEDULE_TIMER =
  'INSERT INTO timers (id, kind, due_at, payload) VALUES ($1, $2, $3, $4) ' +
  'ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, payload = excluded.payload'
const CANCEL_TIMERS = 'DELETE FROM timers WHERE id = ANY($1::text[])'
const timerParams = (timer: Timer) => [timer.id, timer.kind, timer.dueAt, JSON.stringify(timer.payload)]

/**
 * Claims due timers in one statement: the earliest due rows not locked by another node's claim (SKIP
 * LOCKED: two nodes polling at once take disjoint sets instead of waiting on each other), leased by moving
 * their due time to `$3` (`now + leaseMs`), and returned with the due time they had. A claim that finds a
 * row leased by a claim committed meanwhile re-checks it against `due_at <= $1` (READ COMMITTED) and drops
 * it, so each timer is handed to one caller only until its lease ends.
 */
const CLAIM_TIMERS = `
WITH due AS (
  SELECT id, due_at FROM timers WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
),
claimed AS (
  UPDATE timers t SET due_at = $3 FROM due WHERE t.id = due.id
  RETURNING t.id, t.kind, due.due_at, t.payload
)
SELECT * FROM claimed ORDER BY due_at, id`

/** Deletes the claimed timers still carrying their lease; any other due time is a newer schedule. */
const COMPLETE_TIMERS = `
DELETE FROM timers t USING unnest($1::text[], $2::bigint[]) AS c(id, lease_until)
WHERE t.id = c.id AND t.due_at = c.lease_until`

// Unique constraints (named in the migration) → the field a DuplicateError names, as the SQLite store does.
const DUPLICATE_FIELDS: Record<string, string> = {
  accounts_pkey: 'id',
  accounts_client_id_key: 'clientId',
  users_pkey: 'id',
  users_login_key: 'login',
  users_username_key: 'username',
  channels_pkey: 'id',
  subscriptions_pkey: 'id',
  subscriptions_channel_id_key: 'channelId',
  project_keys_pkey: 'id',
  phone_numbers_pkey: 'number',
  admins_pkey: 'id',
  admins_username_key: 'username',
}

// SQLSTATEs (PostgreSQL manual, appendix A).
const UNIQUE_VIOLATION = '23505'
const SERIALIZATION_FAILURE = '40001'
const DEADLOCK_DETECTED = '40P01'
/** What a commit statement raises when an update found its record missing or changed. */
const DIVISION_BY_ZERO = '22012'

/** First key of the two-key advisory lock that serialises migrations ("parl"). */
const MIGRATION_LOCK_CLASS = 0x7061726c

/** Schema names accepted in `?schema=`: plain lower-case identifiers, so they never need quoting. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * The multi-node Store adapter (architecture §2): every node of a deployment shares one PostgreSQL
 * database through a `pg.Pool`.
 *
 * Cross-node safety comes from the database, never from a node's memory: `commit` checks versions inside a
 * transaction (a concurrent writer's row lock makes the loser see the new version and fail with
 * ConflictError, which the session service retries); `appendFrames` numbers frames from a per-channel
 * counter under that channel's row lock; `claimDueTimers` leases what it returns; migrations run under an
 * advisory lock. Times are epoch milliseconds in BIGINT columns, read back as numbers (they stay far below
 * 2^53).
 *
 * The URL is a libpq-style `postgres://user:password@host:port/database` URL; an extra `schema=NAME`
 * parameter puts every table in that schema (created by `migrate()`), so that several deployments or test
 * runs can share one database.
 */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool
  readonly #schema: string | undefined
  /** Names of server-side prepared statements, one per distinct SQL text. */
  readonly #statementNames = new Map<string, string>()
  /** Write statements and transactions committed so far (see commitCount). */
  #writes = 0
  /** Commit statements by shape (see commitStatement). */
  readonly #commitStatements = new Map<string, string>()
  /** Commits waiting for the one on its way, to go out together (group commit). */
  readonly #commits = new Batcher<PlainChange, void>((changes) => this.#commitBatch(changes))
  /**
   * Appends waiting for the one on its way. One at a time (as every batcher here: the fewer statements
   * in flight, the more requests each carries): two appends naming one channel on two connections could
   * commit in either order, and the queue must keep the order of the calls.
   */
  readonly #appends = new Batcher<NewOutboxFrame[], OutboxFrame[]>((batches) => this.#appendBatch(batches))
  /** Reads of calls waiting for those on their way. */
  readonly #callReads = new Batcher<string, Call | undefined>((ids) => this.#readCalls(ids))
  #closed = false

  /** Creates the pool; no connection is opened until the first query. The URL is never logged or echoed. */
  constructor(url: string, options: PostgresStoreOptions = {}) {
    const { connectionString, schema } = splitSchema(url)
    this.#schema = schema
    // BIGINT (int8) arrives as a string by default; these are epoch-ms times and counters, safe as numbers.
    // Set per pool, not on pg's global parsers, so other users of `pg` in the process are unaffected.
    const types = new TypeOverrides()
    types.setTypeParser(pg.types.builtins.INT8, (text: string) => Number(text))
    this.#pool = new Pool({
      connectionString,
      types,
      application_name: 'parley',
      max: options.maxConnections ?? 10,
      // Every connection resolves unqualified names in the deployment's schema.
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    })
    // An idle client's error (server restart, network cut) is emitted on the pool; without a listener it
    // would crash the process. The pool drops that client and opens a new one on the next query.
    this.#pool.on('error', (error) => options.onError?.(error))
  }

  /**
   * Applies every migration newer than the database in one transaction, under a transaction-scoped
   * advisory lock: nodes starting at once queue on the lock, and each one after the first finds the work
   * done. Creates the `?schema=` schema first. Throws when the database was migrated by a newer server.
   */
  async migrate(): Promise<void> {
    await this.#transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
        MIGRATION_LOCK_CLASS,
        this.#schema ?? '',
      ])
      if (this.#schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`)
      // The bookkeeping table is not a migration itself: it must exist before we can tell what is applied.
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, ' +
          'applied_at BIGINT NOT NULL)',
      )
      const result = await client.query<{ version: number | null }>(
        'SELECT max(version) AS version FROM schema_migrations',
      )
      const applied = result.rows[0]?.version ?? 0
      const latest = migrations.at(-1)?.version ?? 0
      if (applied > latest) {
        throw new Error(`database schema version ${applied} is newer than this server supports (${latest})`)
      }
      // Every migration not recorded yet, not only those above the newest applied one: versions developed on
      // parallel branches may land out of order, and a later-merged lower number must still run.
      const recorded = await client.query<{ version: number }>('SELECT version FROM schema_migrations')
      const done = new Set(recorded.rows.map((r) => r.version))
      for (const migration of migrations) {
        if (done.has(migration.version)) continue
        await client.query(migration.sql)
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          Date.now(),
        ])
      }
    })
  }

  /** Closes every pooled connection; later calls do nothing, and queries after it reject. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#pool.end()
  }

  /**
   * Write transactions committed so far — each a WAL flush, except the delivery marks' — for
   * `parley_store_commits_total`: the statements of single writes (a commit, an append, a mark, a timer
   * claim, each maybe joined for several requests) and the transactions of multi-statement methods.
   */
  commitCount(): number {
    return this.#writes
  }

  /** Runs `SELECT 1` on a pooled connection; rejects when PostgreSQL is unreachable or the store is closed. */
  async ping(): Promise<void> {
    if (this.#closed) throw new Error('the store is closed')
    await this.#pool.query('SELECT 1')
  }

  /**
   * Reads the secret, or inserts a fresh one with ON CONFLICT DO NOTHING and reads whichever value won:
   * nodes racing to create it all end up with the first committed value.
   */
  async getOrCreateSecret(name: string, create: () => string): Promise<string> {
    const select = 'SELECT value FROM secrets WHERE name = $1'
    const existing = await this.#rows<{ value: string }>(select, [name])
    if (existing[0]) return existing[0].value
    const inserted = await this.#rows<{ value: string }>(
      'INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING ' +
        'RETURNING value',
      [name, create(), Date.now()],
    )
    if (inserted[0]) return inserted[0].value
    const winner = await this.#rows<{ value: string }>(select, [name])
    if (!winner[0]) throw new Error(`secret ${name} vanished while being created`)
    return winner[0].value
  }

  async createAccount(account: Account): Promise<void> {
    await this.#insert('INSERT INTO accounts (id, client_id, name, created_at) VALUES ($1, $2, $3, $4)', [
      account.id,
      account.clientId,
      account.name,
      account.createdAt,
    ])
  }

  async getAccount(id: string): Promise<Account | undefined> {
    const rows = await this.#rows<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = $1`, [id])
    return rows[0] && toAccount(rows[0])
  }

  async getAccountByClientId(clientId: string): Promise<Account | undefined> {
    const rows = await this.#rows<AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE client_id = $1`,
      [clientId],
    )
    return rows[0] && toAccount(rows[0])
  }

  async listAccounts(): Promise<Account[]> {
    const rows = await this.#rows<AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, ord`,
    )
    return rows.map(toAccount)
  }

  /**
   * The account row is locked first (FOR UPDATE), so two deletions of one account queue and the second finds
   * nothing. Users go before calls: a node that creates a channel for one of them meanwhile fails on the
   * foreign key rather than leaving a channel behind. (Calls have no foreign key to users or accounts, so a
   * call committed by a node in the very moment between the DELETE of calls and this commit would stay
   * behind as a record of a deleted account; with `force` on a live deployment that is the remaining window.)
   */
  async deleteAccount(id: string, options: { force?: boolean } = {}): Promise<AccountDeletion | undefined> {
    return this.#transaction(async (client) => {
      const found = await this.#exec(client, 'SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [id])
      if (found.rowCount === 0) return undefined
      if (!options.force) {
        const active = await this.#exec(
          client,
          "SELECT COUNT(*) AS n FROM calls WHERE account_id = $1 AND state <> 'ended'",
          [id],
        )
        const n = Number((active.rows[0] as { n: number | string } | undefined)?.n ?? 0)
        if (n > 0) throw new ActiveCallsError(n)
      }
      const count = async (sql: string) => (await this.#exec(client, sql, [id])).rowCount ?? 0
      // Channels, and through them subscriptions and outbox, and anonymous identities go by ON DELETE CASCADE.
      const users = await count('DELETE FROM users WHERE account_id = $1')
      // Timers name their call or leg in payload.ref (types.ts, Timer); they have no account column.
      await count(
        `DELETE FROM timers WHERE (payload::json ->> 'ref') IN (
           SELECT id FROM calls WHERE account_id = $1
           UNION ALL SELECT l.id FROM legs l JOIN calls c ON c.id = l.call_id WHERE c.account_id = $1)`,
      )
      await count('DELETE FROM legs WHERE call_id IN (SELECT id FROM calls WHERE account_id = $1)')
      const calls = await count('DELETE FROM calls WHERE account_id = $1')
      const projectKeys = await count('DELETE FROM project_keys WHERE account_id = $1')
      const anonymousDestinations = await count('DELETE FROM anonymous_destinations WHERE account_id = $1')
      await count('DELETE FROM accounts WHERE id = $1')
      return { users, calls, projectKeys, anonymousDestinations }
    })
  }

  async createUser(user: User): Promise<void> {
    await this.#insert(
      'INSERT INTO users (id, account_id, login, local_part, username, password_hash, created_at) ' +
        'VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [
        user.id,
        user.accountId,
        user.login,
        localPart(user.login),
        user.username,
        user.passwordHash,
        user.createdAt,
      ],
    )
  }

  async getUser(id: string): Promise<User | undefined> {
    const rows = await this.#rows<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id])
    return rows[0] && toUser(rows[0])
  }

  async getUserByLogin(accountId: string, login: string): Promise<User | undefined> {
    const rows = await this.#rows<UserRow>(
      `SELECT ${USER_COLUMNS} FROM users WHERE account_id = $1 AND login = $2`,
      [accountId, login],
    )
    return rows[0] && toUser(rows[0])
  }

  async getUserByUsername(accountId: string, username: string): Promise<User | undefined> {
    const rows = await this.#rows<UserRow>(
      `SELECT ${USER_COLUMNS} FROM users WHERE account_id = $1 AND username = $2`,
      [accountId, username],
    )
    return rows[0] && toUser(rows[0])
  }

  async listUsersByLocalPart(accountId: string, localPartOfLogin: string): Promise<User[]> {
    const rows = await this.#rows<UserRow>(
      `SELECT ${USER_COLUMNS} FROM users WHERE account_id = $1 AND local_part = $2 ORDER BY created_at, ord`,
      [accountId, localPartOfLogin],
    )
    return rows.map(toUser)
  }

  async listUsers(accountId?: string): Promise<User[]> {
    const rows =
      accountId === undefined
        ? await this.#rows<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, ord`)
        : await this.#rows<UserRow>(
            `SELECT ${USER_COLUMNS} FROM users WHERE account_id = $1 ORDER BY created_at, ord`,
            [accountId],
          )
    return rows.map(toUser)
  }

  async setUserPassword(id: string, passwordHash: string): Promise<boolean> {
    return (await this.#count('UPDATE users SET password_hash = $2 WHERE id = $1', [id, passwordHash])) > 0
  }

  async deleteUser(id: string): Promise<boolean> {
    // Channels, and through them subscriptions and outbox, go by ON DELETE CASCADE; calls and legs stay.
    // Numbers stay with the account, unassigned (their user_id would be cleared by ON DELETE SET NULL too).
    return this.#transaction(async (client) => {
      await this.#exec(
        client,
        'UPDATE phone_numbers SET user_id = NULL, assigned_at = NULL WHERE user_id = $1',
        [id],
      )
      return ((await this.#exec(client, 'DELETE FROM users WHERE id = $1', [id])).rowCount ?? 0) > 0
    })
  }

  async createChannel(channel: Channel): Promise<void> {
    await this.#insert(
      'INSERT INTO channels (id, user_id, account_id, username, correlator, lifetime, conn_check_role, ' +
        'created_at, last_active_at, ever_connected) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      [
        channel.id,
        channel.userId,
        channel.accountId,
        channel.username,
        channel.correlator ?? null,
        channel.lifetime,
        channel.connCheckRole,
        channel.createdAt,
        channel.lastActiveAt,
        channel.everConnected,
      ],
    )
  }

  async getChannel(id: string): Promise<Channel | undefined> {
    const rows = await this.#rows<ChannelRow<boolean>>(
      `SELECT ${CHANNEL_COLUMNS} FROM channels c WHERE c.id = $1`,
      [id],
    )
    return rows[0] && toChannel(rows[0])
  }

  async listChannelsByUser(userId: string): Promise<Channel[]> {
    const rows = await this.#rows<ChannelRow<boolean>>(
      `SELECT ${CHANNEL_COLUMNS} FROM channels c WHERE c.user_id = $1 ORDER BY c.created_at, c.ord`,
      [userId],
    )
    return rows.map(toChannel)
  }

  async deleteChannel(id: string): Promise<boolean> {
    // Subscription and outbox go by ON DELETE CASCADE; legs keep their channel id as history.
    return (await this.#count('DELETE FROM channels WHERE id = $1', [id])) > 0
  }

  async touchChannels(ids: string[], at: number, connected: boolean): Promise<void> {
    if (ids.length === 0) return
    // `connected = false` (a periodic touch or a close) must not clear an earlier connection. A node's
    // keepalive touches all its channels at once: their rows are locked in id order, as appendFrames does.
    await this.#count(
      `UPDATE channels c SET last_active_at = $1, ever_connected = c.ever_connected OR $2
       FROM (SELECT id FROM channels WHERE id = ANY($3) ORDER BY id FOR NO KEY UPDATE) locked
       WHERE c.id = locked.id`,
      [at, connected, ids],
    )
  }

  async setChannelLifetime(id: string, lifetime: number): Promise<void> {
    await this.#count('UPDATE channels SET lifetime = $1 WHERE id = $2', [lifetime, id])
  }

  async listExpiredChannels(now: number, minIdleMs: number, neverConnectedMs: number): Promise<Channel[]> {
    // Protocol §5.8: a channel that never got a socket lives `neverConnectedMs`; otherwise idle time counts
    // from the last activity, with `minIdleMs` as a floor under the channel's own lifetime.
    const rows = await this.#rows<ChannelRow<boolean>>(
      `SELECT ${CHANNEL_COLUMNS} FROM channels c
       WHERE (NOT c.ever_connected AND c.created_at < $1::bigint - $3::bigint)
          OR (c.ever_connected AND c.last_active_at < $1::bigint - greatest(c.lifetime::bigint * 1000, $2::bigint))
       ORDER BY c.created_at, c.ord`,
      [now, minIdleMs, neverConnectedMs],
    )
    return rows.map(toChannel)
  }

  /** Throws DuplicateError('channelId') when the channel already has a subscription (one per channel, §6.2). */
  async createSubscription(sub: Subscription): Promise<void> {
    await this.#insert(
      'INSERT INTO subscriptions (id, channel_id, user_id, correlator, created_at) VALUES ($1, $2, $3, $4, $5)',
      [sub.id, sub.channelId, sub.userId, sub.correlator ?? null, sub.createdAt],
    )
  }

  async getSubscription(id: string): Promise<Subscription | undefined> {
    const rows = await this.#rows<SubscriptionRow>(
      `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1`,
      [id],
    )
    return rows[0] && toSubscription(rows[0])
  }

  async getSubscriptionByChannel(channelId: string): Promise<Subscription | undefined> {
    const rows = await this.#rows<SubscriptionRow>(
      `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE channel_id = $1`,
      [channelId],
    )
    return rows[0] && toSubscription(rows[0])
  }

  async deleteSubscription(id: string): Promise<boolean> {
    return (await this.#count('DELETE FROM subscriptions WHERE id = $1', [id])) > 0
  }

  async listSubscribedChannels(userId: string): Promise<Channel[]> {
    const rows = await this.#rows<ChannelRow<boolean>>(
      `SELECT ${CHANNEL_COLUMNS} FROM channels c JOIN subscriptions s ON s.channel_id = c.id
       WHERE c.user_id = $1 ORDER BY c.created_at, c.ord`,
      [userId],
    )
    return rows.map(toChannel)
  }

  /**
   * Appends joined with the appends that queued while an earlier one was on its way (see Batcher), in one
   * statement: batches are concatenated in arrival order, so each channel's frames are numbered in the
   * order the calls were made.
   */
  async appendFrames(frames: NewOutboxFrame[]): Promise<OutboxFrame[]> {
    if (frames.length === 0) return []
    return this.#appends.submit(frames)
  }

  async #appendBatch(batches: NewOutboxFrame[][]): Promise<Outcome<OutboxFrame[]>[]> {
    const frames = batches.flat()
    const createdAt = Date.now()
    const rows = await this.#rows<{ channel_id: string; seq: string | number }>(APPEND_FRAMES, [
      frames.map((frame) => frame.channelId),
      frames.map((frame) => frame.id),
      frames.map((frame) => frame.kind),
      frames.map((frame) => frame.legId ?? null),
      frames.map((frame) => frame.frame),
      createdAt,
    ])
    this.#writes += 1
    // Within a channel, seqs follow the input order: pair each channel's frames with its seqs, ascending.
    const seqs = new Map<string, number[]>()
    for (const row of rows) {
      const list = seqs.get(row.channel_id) ?? []
      list.push(Number(row.seq))
      seqs.set(row.channel_id, list)
    }
    for (const list of seqs.values()) list.sort((a, b) => a - b)
    return batches.map((batch) => {
      const appended: OutboxFrame[] = []
      for (const frame of batch) {
        const seq = seqs.get(frame.channelId)?.shift()
        if (seq === undefined) continue
        appended.push({ ...frame, legId: frame.legId ?? null, seq, createdAt, deliveredAt: null })
      }
      return { ok: true, value: appended }
    })
  }

  async listUndelivered(channelId: string, limit: number): Promise<OutboxFrame[]> {
    const rows = await this.#rows<OutboxRow>(
      `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE channel_id = $1 AND delivered_at IS NULL ORDER BY seq LIMIT $2`,
      [channelId, limit],
    )
    return rows.map(toOutboxFrame)
  }

  /** Frames delivered before keep their first `deliveredAt`, so a re-flush does not refresh the replay window. */
  async markDelivered(channelId: string, uptoSeq: number, at: number): Promise<void> {
    await this.markDeliveredMany([{ channelId, uptoSeq }], at)
  }

  async markDeliveredMany(marks: readonly DeliveryMark[], at: number): Promise<void> {
    if (marks.length === 0) return
    // One statement for every channel: the marks arrive as two parallel arrays. Its transaction commits
    // without waiting for the WAL flush (synchronous_commit off, set for this statement's own transaction
    // only): a mark that a database crash loses leaves frames that were sent undelivered, and they go out
    // again with their ids, as after any crash between sending and marking (protocol §5.7). Every later
    // synchronous commit flushes the WAL up to it anyway.
    await this.#count(
      'UPDATE outbox o SET delivered_at = $1 FROM unnest($2::text[], $3::bigint[]) AS m(channel_id, seq), ' +
        "(SELECT set_config('synchronous_commit', 'off', true)) AS unflushed " +
        'WHERE o.channel_id = m.channel_id AND o.seq <= m.seq AND o.delivered_at IS NULL',
      [at, marks.map((m) => m.channelId), marks.map((m) => m.uptoSeq)],
    )
  }

  async listRecentlyDelivered(channelId: string, since: number, limit: number): Promise<OutboxFrame[]> {
    // Newest `limit` first, then back into queue order.
    const rows = await this.#rows<OutboxRow>(
      `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE channel_id = $1 AND delivered_at >= $2 ORDER BY seq DESC LIMIT $3`,
      [channelId, since, limit],
    )
    return rows.map(toOutboxFrame).reverse()
  }

  async pruneDelivered(before: number): Promise<void> {
    await this.#count('DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1', [before])
  }

  /**
   * Inserts `newCalls` then `newLegs` (stored with the version they carry), then updates `calls` and
   * `legs` where the stored version equals theirs, and cancels and schedules the timers, all in one
   * statement (see commitStatement) — joined with the commits of other requests that queue meanwhile (see
   * #commitBatch). Any stale or missing record, or a new record whose id exists, throws ConflictError and
   * applies nothing.
   *
   * Across nodes: an UPDATE waits for a concurrent writer's row lock and then re-checks `version` against
   * the committed row (READ COMMITTED), so of two commits of the same version exactly one succeeds. A
   * deadlock or serialization failure is reported as ConflictError too, since re-reading and retrying is
   * exactly the cure.
   *
   * Updates go in id order, so two commits touching the same records lock them in the same order.
   * Nothing resolves before the statement holding it committed (with PostgreSQL's default
   * `synchronous_commit = on`, flushed to the WAL on disk).
   *
   * After a successful commit the `version` of every object in `calls` and `legs` is bumped in place, so
   * that the caller can keep using (and commit again) the records it holds. On failure nothing is touched.
   */
  async commit(change: CallChange): Promise<void> {
    const newCalls = change.newCalls ?? []
    const newLegs = change.newLegs ?? []
    const calls = change.calls ?? []
    const legs = change.legs ?? []
    const cancelTimers = change.cancelTimers ?? []
    const scheduleTimers = change.scheduleTimers ?? []
    const records = newCalls.length + newLegs.length + calls.length + legs.length
    if (records + cancelTimers.length + scheduleTimers.length === 0) return
    // A timer both cancelled and scheduled ends up scheduled (cancel first, then schedule), the last
    // schedule of an id winning.
    const schedule = new Map(scheduleTimers.map((timer) => [timer.id, timer]))
    const cancel = [...new Set(cancelTimers)].filter((id) => !schedule.has(id))
    const recordIds = [...newCalls, ...newLegs, ...calls, ...legs].map((record) => record.id)
    const ids = new Set([...recordIds, ...cancel, ...schedule.keys()])
    if (ids.size < recordIds.length + cancel.length + schedule.size) {
      // A record named twice (new and updated, or updated twice): the statement's single snapshot would
      // not see its own first write, so this rare change runs statement by statement, as it always did.
      await this.#commitInTransaction(change)
    } else {
      await this.#commits.submit({
        newCalls,
        newLegs,
        calls,
        legs,
        cancel,
        schedule: [...schedule.values()],
        ids,
      })
    }
    for (const call of calls) call.version += 1
    for (const leg of legs) leg.version += 1
  }

  /**
   * Commits the changes that queued while an earlier commit was on its way (see Batcher) in one statement
   * when they name disjoint records and timers; when that statement fails on the data (a stale version, a
   * duplicate id, a deadlock), each change is tried alone, so each gets its own answer.
   */
  async #commitBatch(changes: PlainChange[]): Promise<Outcome<void>[]> {
    if (changes.length > 1) {
      const seen = new Set<string>()
      let disjoint = true
      for (const change of changes)
        for (const id of change.ids) {
          if (seen.has(id)) disjoint = false
          seen.add(id)
        }
      if (disjoint) {
        try {
          await this.#commitStatement(changes)
          return changes.map(() => ({ ok: true, value: undefined }))
        } catch (error) {
          // Lost connections and the like fail the whole batch; only the data's own errors are sorted out.
          if (!(error instanceof DatabaseError)) throw error
        }
      }
    }
    const outcomes: Outcome<void>[] = []
    for (const change of changes) {
      try {
        await this.#commitStatement([change])
        outcomes.push({ ok: true, value: undefined })
      } catch (error) {
        outcomes.push({ ok: false, error: commitError(error) })
      }
    }
    return outcomes
  }

  async #commitStatement(changes: PlainChange[]): Promise<void> {
    const all = <T>(pick: (change: PlainChange) => T[]) => changes.flatMap(pick)
    const newCalls = all((c) => c.newCalls)
    const newLegs = all((c) => c.newLegs)
    const calls = all((c) => c.calls).sort(byId)
    const legs = all((c) => c.legs).sort(byId)
    const cancel = all((c) => c.cancel)
    const schedule = all((c) => c.schedule)
    const shape: CommitShape = {
      newCalls: newCalls.length,
      newLegs: newLegs.length,
      calls: calls.length,
      legs: legs.length,
      cancel: cancel.length > 0,
      schedule: schedule.length,
    }
    const key = `${shape.newCalls}/${shape.newLegs}/${shape.calls}/${shape.legs}/${shape.cancel}/${shape.schedule}`
    let sql = this.#commitStatements.get(key)
    if (sql === undefined) {
      sql = commitStatement(shape)
      this.#commitStatements.set(key, sql)
    }
    const params = [
      ...newCalls.flatMap(callParams),
      ...newLegs.flatMap(legParams),
      ...calls.flatMap(callParams),
      ...legs.flatMap(legParams),
      ...(cancel.length > 0 ? [cancel] : []),
      ...schedule.flatMap(timerParams),
    ]
    const records = newCalls.length + newLegs.length + calls.length + legs.length + schedule.length
    if (records <= MAX_PREPARED_RECORDS) await this.#count(sql, params)
    else {
      await this.#pool.query(sql, params)
      this.#writes += 1
    }
  }

  /**
   * The former commit, statement by statement in one transaction, for a change that names a record twice.
   * Updates go in id order, so two commits touching the same records lock them in the same order.
   */
  async #commitInTransaction(change: CallChange): Promise<void> {
    try {
      await this.#transaction(async (client) => {
        for (const call of change.newCalls ?? []) {
          await this.#exec(client, INSERT_CALL, callParams(call)).catch((error: unknown) => {
            throw isUniqueViolation(error) ? new ConflictError(`call ${call.id} already exists`) : error
          })
        }
        for (const leg of change.newLegs ?? []) {
          await this.#exec(client, INSERT_LEG, legParams(leg)).catch((error: unknown) => {
            throw isUniqueViolation(error) ? new ConflictError(`leg ${leg.id} already exists`) : error
          })
        }
        for (const call of [...(change.calls ?? [])].sort(byId)) {
          if ((await this.#exec(client, UPDATE_CALL, callParams(call))).rowCount === 0)
            throw new ConflictError(`call ${call.id} is missing or changed since version ${call.version}`)
        }
        for (const leg of [...(change.legs ?? [])].sort(byId)) {
          if ((await this.#exec(client, UPDATE_LEG, legParams(leg))).rowCount === 0)
            throw new ConflictError(`leg ${leg.id} is missing or changed since version ${leg.version}`)
        }
        const cancelTimers = change.cancelTimers ?? []
        if (cancelTimers.length > 0) await this.#exec(client, CANCEL_TIMERS, [cancelTimers])
        for (const timer of change.scheduleTimers ?? [])
          await this.#exec(client, SCHEDULE_TIMER, timerParams(timer))
      })
    } catch (error) {
      throw commitError(error)
    }
  }

  /**
   * Reads of calls that queue while earlier ones are on their way go out as one `id = ANY(…)` query (every
   * step of a call reads it first). A read is sent after it was asked for, so it sees every commit that
   * resolved before.
   */
  async getCall(id: string): Promise<Call | undefined> {
    return this.#callReads.submit(id)
  }

  async #readCalls(ids: string[]): Promise<Outcome<Call | undefined>[]> {
    const rows = await this.#rows<CallRow>(`SELECT ${CALL_COLUMNS} FROM calls WHERE id = ANY($1::text[])`, [
      [...new Set(ids)],
    ])
    const byId = new Map(rows.map((row) => [row.id, row]))
    // Each caller gets its own object: the session service changes the records it reads.
    return ids.map((id) => {
      const row = byId.get(id)
      return { ok: true, value: row && toCall(row) }
    })
  }

  async getLeg(id: string): Promise<Leg | undefined> {
    const rows = await this.#rows<LegRow<boolean>>(`SELECT ${LEG_COLUMNS} FROM legs WHERE id = $1`, [id])
    return rows[0] && toLeg(rows[0])
  }

  /** Legs of the call in creation order (ties in insertion order, so the caller leg comes first). */
  async listLegs(callId: string): Promise<Leg[]> {
    const rows = await this.#rows<LegRow<boolean>>(
      `SELECT ${LEG_COLUMNS} FROM legs WHERE call_id = $1 ORDER BY created_at, ord`,
      [callId],
    )
    return rows.map(toLeg)
  }

  async listActiveLegsByChannel(channelId: string): Promise<Leg[]> {
    const rows = await this.#rows<LegRow<boolean>>(
      `SELECT ${LEG_COLUMNS} FROM legs WHERE channel_id = $1 AND state = 'active' ORDER BY created_at, ord`,
      [channelId],
    )
    return rows.map(toLeg)
  }

  async countActiveLegsByUser(userId: string): Promise<number> {
    const rows = await this.#rows<{ n: string }>(
      `SELECT COUNT(*) AS n FROM legs WHERE user_id = $1 AND state = 'active'`,
      [userId],
    )
    return Number(rows[0]?.n ?? 0)
  }

  async listSilentLegs(before: number): Promise<Leg[]> {
    // The literal conditions match the partial index legs_silent.
    const rows = await this.#rows<LegRow<boolean>>(
      `SELECT ${LEG_COLUMNS} FROM legs WHERE state = 'active' AND liveness_armed AND last_seen_at < $1
       ORDER BY last_seen_at, ord`,
      [before],
    )
    return rows.map(toLeg)
  }

  async listCallRecords(limit: number, accountId?: string): Promise<CallRecord[]> {
    const columns =
      'id, account_id, caller_username, callee_username, state, created_at, answered_at, ended_at, end_reason, pstn'
    const rows =
      accountId === undefined
        ? await this.#rows<CallRow>(
            `SELECT ${columns} FROM calls ORDER BY created_at DESC, ord DESC LIMIT $1`,
            [limit],
          )
        : await this.#rows<CallRow>(
            `SELECT ${columns} FROM calls WHERE account_id = $1 ORDER BY created_at DESC, ord DESC LIMIT $2`,
            [accountId, limit],
          )
    return rows.map(toCallRecord)
  }

  async scheduleTimer(timer: Timer): Promise<void> {
    await this.#count(SCHEDULE_TIMER, timerParams(timer))
  }

  async cancelTimer(id: string): Promise<void> {
    await this.#count(CANCEL_TIMERS, [[id]])
  }

  async claimDueTimers(now: number, limit: number, leaseMs = DEFAULT_TIMER_LEASE_MS): Promise<Timer[]> {
    const claimed = await this.#rows<TimerRow>(CLAIM_TIMERS, [now, limit, now + leaseMs])
    this.#writes += 1
    return claimed.map(toTimer)
  }

  async completeTimers(claims: readonly TimerClaim[]): Promise<void> {
    if (claims.length === 0) return
    await this.#count(COMPLETE_TIMERS, [claims.map((c) => c.id), claims.map((c) => c.leaseUntil)])
  }

  /** Rows of one statement on any pooled connection. */
  async createProjectKey(key: ProjectKey): Promise<void> {
    await this.#insert(
      'INSERT INTO project_keys (id, account_id, name, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [key.id, key.accountId, key.name, key.secretHash, key.createdAt, key.expiresAt],
    )
  }

  async getProjectKey(id: string): Promise<ProjectKey | undefined> {
    const rows = await this.#rows<ProjectKeyRow>(`SELECT ${KEY_COLUMNS} FROM project_keys WHERE id = $1`, [
      id,
    ])
    return rows[0] && toProjectKey(rows[0])
  }

  async listProjectKeys(accountId?: string): Promise<ProjectKey[]> {
    const rows =
      accountId === undefined
        ? await this.#rows<ProjectKeyRow>(`SELECT ${KEY_COLUMNS} FROM project_keys ORDER BY created_at, id`)
        : await this.#rows<ProjectKeyRow>(
            `SELECT ${KEY_COLUMNS} FROM project_keys WHERE account_id = $1 ORDER BY created_at, id`,
            [accountId],
          )
    return rows.map(toProjectKey)
  }

  async deleteProjectKey(id: string): Promise<boolean> {
    return (await this.#count('DELETE FROM project_keys WHERE id = $1', [id])) > 0
  }

  async addAnonymousDestination(destination: AnonymousDestination): Promise<boolean> {
    const n = await this.#count(
      'INSERT INTO anonymous_destinations (account_id, address, created_at) VALUES ($1, $2, $3) ' +
        'ON CONFLICT (account_id, address) DO NOTHING',
      [destination.accountId, destination.address, destination.createdAt],
    )
    return n > 0
  }

  async listAnonymousDestinations(accountId?: string): Promise<AnonymousDestination[]> {
    const rows =
      accountId === undefined
        ? await this.#rows<DestinationRow>(
            `SELECT ${DESTINATION_COLUMNS} FROM anonymous_destinations ORDER BY created_at, address`,
          )
        : await this.#rows<DestinationRow>(
            `SELECT ${DESTINATION_COLUMNS} FROM anonymous_destinations WHERE account_id = $1 ORDER BY created_at, address`,
            [accountId],
          )
    return rows.map(toDestination)
  }

  async removeAnonymousDestination(accountId: string, address: string): Promise<boolean> {
    return (
      (await this.#count('DELETE FROM anonymous_destinations WHERE account_id = $1 AND address = $2', [
        accountId,
        address,
      ])) > 0
    )
  }

  async createAnonymousUser(user: User, identity: AnonymousIdentity): Promise<void> {
    try {
      await this.#transaction(async (client) => {
        await this.#exec(
          client,
          'INSERT INTO users (id, account_id, login, local_part, username, password_hash, created_at) ' +
            'VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [
            user.id,
            user.accountId,
            user.login,
            localPart(user.login),
            user.username,
            user.passwordHash,
            user.createdAt,
          ],
        )
        await this.#exec(
          client,
          'INSERT INTO anonymous_identities (user_id, account_id, key_id, expires_at, created_at) ' +
            'VALUES ($1, $2, $3, $4, $5)',
          [identity.userId, identity.accountId, identity.keyId, identity.expiresAt, identity.createdAt],
        )
      })
    } catch (error) {
      const field =
        error instanceof DatabaseError && error.code === UNIQUE_VIOLATION && error.constraint
          ? DUPLICATE_FIELDS[error.constraint]
          : undefined
      throw field ? new DuplicateError(field) : error
    }
  }

  async getAnonymousIdentity(userId: string): Promise<AnonymousIdentity | undefined> {
    const rows = await this.#rows<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM anonymous_identities WHERE user_id = $1`,
      [userId],
    )
    return rows[0] && toIdentity(rows[0])
  }

  async listAnonymousIdentitiesByKey(keyId: string): Promise<AnonymousIdentity[]> {
    const rows = await this.#rows<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM anonymous_identities WHERE key_id = $1 ORDER BY created_at, user_id`,
      [keyId],
    )
    return rows.map(toIdentity)
  }

  async listExpiredAnonymousIdentities(now: number, limit: number): Promise<AnonymousIdentity[]> {
    const rows = await this.#rows<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM anonymous_identities a WHERE a.expires_at <= $1 AND NOT EXISTS ` +
        `(SELECT 1 FROM legs l WHERE l.user_id = a.user_id AND l.state = 'active') ` +
        'ORDER BY a.expires_at, a.user_id LIMIT $2',
      [now, limit],
    )
    return rows.map(toIdentity)
  }

  async countActiveAnonymousLegs(accountId: string): Promise<number> {
    const rows = await this.#rows<{ n: string }>(
      'SELECT COUNT(*) AS n FROM legs l JOIN anonymous_identities a ON a.user_id = l.user_id ' +
        "WHERE a.account_id = $1 AND l.state = 'active'",
      [accountId],
    )
    return Number(rows[0]?.n ?? 0)
  }

  async createPhoneNumber(phoneNumber: PhoneNumber): Promise<void> {
    const { number, accountId, userId, assignedAt, createdAt } = phoneNumber
    let changes: number
    try {
      // The user, when given, must be of the number's account: checked in the statement itself.
      changes = await this.#count(
        `INSERT INTO phone_numbers (${NUMBER_COLUMNS}) SELECT $1, $2, $3::text, $4::bigint, $5 ` +
          'WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $3::text AND account_id = $2)',
        [number, accountId, userId, userId === null ? null : (assignedAt ?? createdAt), createdAt],
      )
    } catch (error) {
      const field =
        error instanceof DatabaseError && error.code === UNIQUE_VIOLATION && error.constraint
          ? DUPLICATE_FIELDS[error.constraint]
          : undefined
      throw field ? new DuplicateError(field) : error
    }
    if (changes === 0) throw new Error(`user ${userId ?? ''} is not of account ${accountId}`)
  }

  async getPhoneNumber(number: string): Promise<PhoneNumber | undefined> {
    const rows = await this.#rows<PhoneNumberRow>(
      `SELECT ${NUMBER_COLUMNS} FROM phone_numbers WHERE number = $1`,
      [number],
    )
    return rows[0] && toPhoneNumber(rows[0])
  }

  async listPhoneNumbers(accountId?: string): Promise<PhoneNumber[]> {
    const rows =
      accountId === undefined
        ? await this.#rows<PhoneNumberRow>(
            `SELECT ${NUMBER_COLUMNS} FROM phone_numbers ORDER BY created_at, number`,
          )
        : await this.#rows<PhoneNumberRow>(
            `SELECT ${NUMBER_COLUMNS} FROM phone_numbers WHERE account_id = $1 ORDER BY created_at, number`,
            [accountId],
          )
    return rows.map(toPhoneNumber)
  }

  async listPhoneNumbersByUser(userId: string): Promise<PhoneNumber[]> {
    const rows = await this.#rows<PhoneNumberRow>(
      `SELECT ${NUMBER_COLUMNS} FROM phone_numbers WHERE user_id = $1 ORDER BY assigned_at, number`,
      [userId],
    )
    return rows.map(toPhoneNumber)
  }

  async assignPhoneNumber(number: string, userId: string | null, at: number): Promise<boolean> {
    const n = await this.#count(
      'UPDATE phone_numbers p SET user_id = $2::text, ' +
        'assigned_at = CASE WHEN $2::text IS NULL THEN NULL ELSE $3::bigint END ' +
        'WHERE p.number = $1 AND ($2::text IS NULL OR EXISTS ' +
        '(SELECT 1 FROM users u WHERE u.id = $2::text AND u.account_id = p.account_id))',
      [number, userId, at],
    )
    return n > 0
  }

  async deletePhoneNumber(number: string): Promise<boolean> {
    return (await this.#count('DELETE FROM phone_numbers WHERE number = $1', [number])) > 0
  }

  async addQualitySamples(samples: readonly QualitySampleRecord[], maxPerLeg: number): Promise<void> {
    if (samples.length === 0) return
    await this.#transaction(async (client) => {
      const legs = new Set<string>()
      for (const s of samples) {
        // INSERT … SELECT: a sample of an unknown leg inserts nothing instead of failing the foreign key.
        await this.#exec(
          client,
          'INSERT INTO quality_samples (leg_id, call_id, at, sample) SELECT id, $1, $2, $3 FROM legs WHERE id = $4',
          [s.callId, s.at, JSON.stringify(s.sample), s.legId],
        )
        legs.add(s.legId)
      }
      for (const legId of legs)
        await this.#exec(
          client,
          'DELETE FROM quality_samples WHERE leg_id = $1 AND id <= ' +
            '(SELECT id FROM quality_samples WHERE leg_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)',
          [legId, Math.max(0, maxPerLeg)],
        )
    })
  }

  async listQualitySamples(callId: string): Promise<QualitySampleRecord[]> {
    const rows = await this.#rows<{ call_id: string; leg_id: string; at: string; sample: string }>(
      'SELECT call_id, leg_id, at, sample FROM quality_samples WHERE call_id = $1 ORDER BY at, id',
      [callId],
    )
    return rows.map((r) => ({
      callId: r.call_id,
      legId: r.leg_id,
      at: Number(r.at),
      sample: JSON.parse(r.sample) as Record<string, unknown>,
    }))
  }

  async queryCallRecords(query: CallRecordQuery): Promise<CallRecord[]> {
    const { where, params, limit } = callRecordFilter(query, (n) => `$${n}`)
    const rows = await this.#rows<CallRow>(
      'SELECT id, account_id, caller_username, callee_username, state, created_at, answered_at, ended_at, ' +
        `end_reason FROM calls ${where} ORDER BY created_at DESC, id DESC LIMIT ${limit}`,
      params,
    )
    return rows.map(toCallRecord)
  }

  async createAdmin(admin: Admin): Promise<void> {
    await this.#insert(`INSERT INTO admins (${ADMIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`, [
      admin.id,
      admin.accountId,
      admin.username,
      admin.passwordHash,
      admin.createdAt,
    ])
  }

  async getAdmin(id: string): Promise<Admin | undefined> {
    const [row] = await this.#rows<AdminRow>(`SELECT ${ADMIN_COLUMNS} FROM admins WHERE id = $1`, [id])
    return row ? toAdmin(row) : undefined
  }

  async getAdminByUsername(username: string): Promise<Admin | undefined> {
    const [row] = await this.#rows<AdminRow>(`SELECT ${ADMIN_COLUMNS} FROM admins WHERE username = $1`, [
      username,
    ])
    return row ? toAdmin(row) : undefined
  }

  async listAdmins(accountId?: string | null): Promise<Admin[]> {
    const order = 'ORDER BY created_at, username'
    const rows =
      accountId === undefined
        ? await this.#rows<AdminRow>(`SELECT ${ADMIN_COLUMNS} FROM admins ${order}`)
        : accountId === null
          ? await this.#rows<AdminRow>(
              `SELECT ${ADMIN_COLUMNS} FROM admins WHERE account_id IS NULL ${order}`,
            )
          : await this.#rows<AdminRow>(`SELECT ${ADMIN_COLUMNS} FROM admins WHERE account_id = $1 ${order}`, [
              accountId,
            ])
    return rows.map(toAdmin)
  }

  async deleteAdmin(id: string): Promise<boolean> {
    return (await this.#count('DELETE FROM admins WHERE id = $1', [id])) > 0
  }

  async #rows<R extends QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.#pool.query<R>(this.#prepared(sql, params))).rows
  }

  /** Number of rows one statement changed. */
  async #count(sql: string, params: unknown[]): Promise<number> {
    const result = await this.#pool.query(this.#prepared(sql, params))
    this.#writes += 1
    return result.rowCount ?? 0
  }

  /** An INSERT whose unique violations become DuplicateError naming the field, as in the SQLite store. */
  async #insert(sql: string, params: unknown[]): Promise<void> {
    try {
      await this.#pool.query(this.#prepared(sql, params))
      this.#writes += 1
    } catch (error) {
      const field =
        error instanceof DatabaseError && error.code === UNIQUE_VIOLATION && error.constraint
          ? DUPLICATE_FIELDS[error.constraint]
          : undefined
      throw field ? new DuplicateError(field) : error
    }
  }

  /** One statement on a connection already checked out (inside a transaction). */
  async #exec(client: PoolClient, sql: string, params: unknown[]): Promise<pg.QueryResult> {
    return client.query(this.#prepared(sql, params))
  }

  /**
   * A named query config: pg prepares each name once per connection and then only binds and executes,
   * which skips parsing and planning of the store's fixed statements on every later use.
   */
  #prepared(sql: string, values: unknown[]): pg.QueryConfig {
    let name = this.#statementNames.get(sql)
    if (!name) {
      name = `parley_${this.#statementNames.size + 1}`
      this.#statementNames.set(sql, name)
    }
    return { name, text: sql, values }
  }

  /** Runs `work` in a transaction on one connection; rolls back and rethrows on any error. */
  async #transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect()
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      this.#writes += 1
      return result
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        // A connection that cannot even roll back is not returned to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))
      })
      throw error
    } finally {
      client.release(broken)
    }
  }
}

/** Splits Parley's `schema` parameter off the URL; the rest goes to pg as it is. */
function splitSchema(url: string): { connectionString: string; schema: string | undefined } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // Not echoed: a database URL may carry a password.
    throw new Error('--db: malformed PostgreSQL URL; expected postgres://user:password@host:port/database')
  }
  const schema = parsed.searchParams.get('schema') ?? undefined
  if (schema === undefined) return { connectionString: url, schema }
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(
      `--db: bad schema "${schema}"; expected a lower-case name of letters, digits and _ (at most 63)`,
    )
  }
  parsed.searchParams.delete('schema')
  return { connectionString: parsed.toString(), schema }
}

/** Orders records by id (code-unit order: any fixed order prevents lock-order deadlocks). */
function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

function sqlState(error: unknown): string | undefined {
  return error instanceof DatabaseError ? error.code : undefined
}

function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === UNIQUE_VIOLATION
}

/** The login before its last `@` (the whole login when it has none). */
function localPart(login: string): string {
  const at = login.lastIndexOf('@')
  return at < 0 ? login : login.slice(0, at)
}

/** A CallChange as a commit statement takes it: timers resolved, and every id it names. */
interface PlainChange {
  newCalls: Call[]
  newLegs: Leg[]
  calls: Call[]
  legs: Leg[]
  cancel: string[]
  schedule: Timer[]
  ids: Set<string>
}

/** A failed commit's error as the Store interface names it: conflicts of any kind are ConflictError. */
function commitError(error: unknown): unknown {
  if (error instanceof ConflictError) return error
  const code = sqlState(error)
  if (code === DIVISION_BY_ZERO)
    return new ConflictError('a call or leg of the commit is missing or changed since the version read')
  if (code === UNIQUE_VIOLATION) return new ConflictError('a new call or leg of the commit already exists')
  if (code === DEADLOCK_DETECTED || code === SERIALIZATION_FAILURE)
    return new ConflictError(`commit aborted by the database (${code}); retry`)
  return error
}

/** Parameters in CALL_COLUMNS order. */
function callParams(call: Call): unknown[] {
  return [
    call.id,
    call.accountId,
    call.state,
    call.callerLegId,
    call.answeredLegId ?? null,
    JSON.stringify(call.negotiation),
    call.offerSdp,
    call.originatorAddress,
    call.originatorName,
    call.tParticipantAddress,
    call.callerUsername,
    call.calleeUsername,
    call.transfer ? JSON.stringify(call.transfer) : null,
    JSON.stringify(call.replacesCallIds),
    call.createdAt,
    call.answeredAt ?? null,
    call.endedAt ?? null,
    call.endReason ?? null,
    call.pstn ? JSON.stringify(call.pstn) : null,
    call.version,
  ]
}

/** Parameters in LEG_COLUMNS order. */
function legParams(leg: Leg): unknown[] {
  return [
    leg.id,
    leg.callId,
    leg.userId,
    leg.username,
    leg.role,
    leg.channelId ?? null,
    leg.state,
    leg.terminal ? JSON.stringify(leg.terminal) : null,
    leg.livenessArmed,
    leg.lastSeenAt ?? null,
    leg.acceptancePushedAt ?? null,
    leg.guardReleased,
    JSON.stringify(leg.held),
    leg.createdAt,
    leg.version,
  ]
}
