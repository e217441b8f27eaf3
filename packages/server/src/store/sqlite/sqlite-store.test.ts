import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore } from '../index.js'
import { runStoreContract } from '../store.contract.js'
import type { Call, Channel, Leg, Store } from '../types.js'
import { migrations } from './migrations.js'
import { SqliteStore } from './sqlite-store.js'

const tempRoot = mkdtempSync(join(tmpdir(), 'parley-sqlite-store-'))
let fileCount = 0

/** A fresh database path under the suite's temp directory. */
function tempFile(): string {
  fileCount += 1
  return join(tempRoot, `store-${fileCount}.db`)
}

afterAll(() => {
  rmSync(tempRoot, { recursive: true, force: true })
})

async function migrated(filename: string): Promise<SqliteStore> {
  const store = new SqliteStore(filename)
  await store.migrate()
  return store
}

runStoreContract('SQLite in memory', () => migrated(':memory:'))
runStoreContract('SQLite file', () => migrated(tempFile()))

describe('SqliteStore', () => {
  const open: Store[] = []

  /** Tracks a store so that afterEach closes it even when the test fails half-way. */
  function track<T extends Store>(store: T): T {
    open.push(store)
    return store
  }

  afterEach(async () => {
    for (const store of open.splice(0)) await store.close()
  })

  it('migrate() twice applies each migration once and records it in schema_migrations', async () => {
    const file = tempFile()
    const store = track(new SqliteStore(file))
    await store.migrate()
    await store.migrate()
    await store.close()

    const db = new Database(file, { readonly: true })
    try {
      const rows = db
        .prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')
        .all() as {
        version: number
        name: string
        applied_at: number
      }[]
      expect(rows.map(({ version, name }) => ({ version, name }))).toStrictEqual(
        migrations.map(({ version, name }) => ({ version, name })),
      )
      for (const row of rows) expect(row.applied_at).toBeGreaterThan(0)
    } finally {
      db.close()
    }
  })

  it('migrate() on a database migrated by a newer server throws', async () => {
    const file = tempFile()
    const store = track(await migrated(file))
    await store.close()
    const db = new Database(file)
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
      (migrations.at(-1)?.version ?? 0) + 1,
      'from-the-future',
      Date.now(),
    )
    db.close()

    const again = track(new SqliteStore(file))
    await expect(again.migrate()).rejects.toThrow(/newer than this server/)
  })

  it('migrate() applies a migration missing below the newest applied one (branches landing out of order)', async () => {
    const file = tempFile()
    const store = track(new SqliteStore(file))
    await store.migrate()
    await store.close()
    const last = migrations.at(-1)!
    const db = new Database(file)
    db.prepare('DELETE FROM schema_migrations WHERE version = ?').run(migrations[1]!.version)
    db.exec('DROP INDEX legs_active_by_user')
    db.close()
    const again = track(new SqliteStore(file))
    await again.migrate()
    await again.close()
    const check = new Database(file, { readonly: true })
    try {
      const versions = check.prepare('SELECT version FROM schema_migrations ORDER BY version').all()
      expect(versions).toStrictEqual(migrations.map(({ version }) => ({ version })))
      expect(
        check.prepare("SELECT name FROM sqlite_master WHERE name = 'legs_active_by_user'").get(),
      ).toBeDefined()
      expect(last.version).toBeGreaterThan(migrations[1]!.version)
    } finally {
      check.close()
    }
  })

  it('migrations are numbered upwards from 1 with unique names (a gap is filled when a parallel branch lands)', () => {
    const versions = migrations.map((migration) => migration.version)
    expect(versions[0]).toBe(1)
    expect(versions).toStrictEqual([...new Set(versions)].sort((a, b) => a - b))
    expect(new Set(migrations.map((migration) => migration.name)).size).toBe(migrations.length)
  })

  it('new SqliteStore() creates the missing parent directories and opens the file in WAL mode', async () => {
    const file = join(tempRoot, 'nested', 'deeper', 'parley.db')
    const store = track(await migrated(file))
    await store.createAccount({ id: 'acc-wal', clientId: 'client-wal', name: 'WAL', createdAt: 1 })
    expect(existsSync(file)).toBe(true)
    await store.close()

    const db = new Database(file, { readonly: true })
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    } finally {
      db.close()
    }
  })

  it('a file database keeps every kind of state across close and reopen', async () => {
    const file = tempFile()
    const first = track(await migrated(file))
    const secret = await first.getOrCreateSecret('jwt', () => 'signing-key')
    await first.createAccount({ id: 'acc-1', clientId: 'client-1', name: 'Acme', createdAt: 1 })
    await first.createUser({
      id: 'user-1',
      accountId: 'acc-1',
      login: 'alice@example.com',
      username: 'alice',
      passwordHash: 'hash',
      createdAt: 2,
    })
    const channel: Channel = {
      id: 'ch-1',
      userId: 'user-1',
      accountId: 'acc-1',
      username: 'alice',
      correlator: null,
      lifetime: 3600,
      connCheckRole: 'client',
      createdAt: 3,
      lastActiveAt: 3,
      everConnected: true,
    }
    await first.createChannel(channel)
    await first.createSubscription({
      id: 'sub-1',
      channelId: 'ch-1',
      userId: 'user-1',
      correlator: null,
      createdAt: 4,
    })
    await first.appendFrames([{ channelId: 'ch-1', id: 'n-1', kind: 'k', legId: null, frame: '{"a":1}' }])
    const call: Call = {
      id: 'call-1',
      accountId: 'acc-1',
      state: 'ringing',
      callerLegId: 'leg-1',
      answeredLegId: null,
      negotiation: { type: 'offerPending', fromLegId: 'leg-1' },
      offerSdp: 'v=0',
      originatorAddress: 'alice@example.com',
      originatorName: 'Alice',
      tParticipantAddress: 'bob@example.com',
      callerUsername: 'alice',
      calleeUsername: 'bob',
      transfer: null,
      replacesCallIds: [],
      createdAt: 5,
      answeredAt: null,
      endedAt: null,
      endReason: null,
      version: 0,
    }
    const leg: Leg = {
      id: 'leg-1',
      callId: 'call-1',
      userId: 'user-1',
      username: 'alice',
      role: 'caller',
      channelId: null,
      state: 'active',
      terminal: null,
      livenessArmed: true,
      lastSeenAt: 6,
      acceptancePushedAt: null,
      guardReleased: false,
      held: ['{"held":1}'],
      createdAt: 5,
      version: 0,
    }
    await first.commit({ newCalls: [call], newLegs: [leg] })
    const timer = { id: 'timer-1', kind: 'noAnswer', dueAt: 7, payload: { callId: 'call-1' } }
    await first.scheduleTimer(timer)
    await first.close()

    const second = track(await migrated(file))
    expect(await second.getOrCreateSecret('jwt', () => 'another-key')).toBe(secret)
    expect(await second.getUserByUsername('acc-1', 'alice')).toMatchObject({ id: 'user-1' })
    expect(await second.getChannel('ch-1')).toStrictEqual(channel)
    expect(await second.getSubscriptionByChannel('ch-1')).toMatchObject({ id: 'sub-1' })
    expect(await second.getCall('call-1')).toStrictEqual(call)
    expect(await second.listLegs('call-1')).toStrictEqual([leg])
    await second.appendFrames([{ channelId: 'ch-1', id: 'n-2', kind: 'k', legId: null, frame: '{"a":2}' }])
    expect((await second.listUndelivered('ch-1', 10)).map((frame) => [frame.seq, frame.id])).toStrictEqual([
      [1, 'n-1'],
      [2, 'n-2'],
    ])
    expect(await second.claimDueTimers(7, 10)).toStrictEqual([timer])
  })

  it("waits for another process's write lock without blocking the event loop, then writes", async () => {
    const file = tempFile()
    const store = track(await migrated(file))
    // Another process (here: another connection) holds the write lock for 150 ms.
    const other = new Database(file)
    other.exec('BEGIN IMMEDIATE')
    const release = setTimeout(() => other.exec('COMMIT'), 150)
    let ticks = 0
    const ticker = setInterval(() => ticks++, 10)
    try {
      const startedAt = Date.now()
      await store.createAccount({ id: 'acc-busy', clientId: 'client-busy', name: 'Busy', createdAt: 1 })
      const waited = Date.now() - startedAt
      expect(waited).toBeGreaterThanOrEqual(100)
      // SQLite's own busy handler would have slept this thread: no timer could have fired meanwhile.
      expect(ticks).toBeGreaterThanOrEqual(5)
      expect(await store.getAccount('acc-busy')).toMatchObject({ clientId: 'client-busy' })
    } finally {
      clearInterval(ticker)
      clearTimeout(release)
      other.close()
    }
  })

  it('gives up with SQLITE_BUSY when the lock stays taken for seconds', async () => {
    const file = tempFile()
    const store = track(await migrated(file))
    const other = new Database(file)
    other.exec('BEGIN IMMEDIATE')
    try {
      await expect(
        store.scheduleTimer({ id: 't', kind: 'noAnswer', dueAt: 1, payload: {} }),
      ).rejects.toMatchObject({ code: 'SQLITE_BUSY' })
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
  }, 15_000)

  it('the writes of one event-loop turn commit as one transaction, each resolving only once it is on disk', async () => {
    const file = tempFile()
    const store = track(await migrated(file))
    const before = store.commitCount()
    // Another connection sees only committed rows: what it reads when a write resolves is on disk.
    const other = new Database(file, { readonly: true })
    try {
      const onDisk = () => (other.prepare('SELECT COUNT(*) AS n FROM accounts').get() as { n: number }).n
      const writes = Array.from({ length: 5 }, (_, i) =>
        store
          .createAccount({ id: `acc-g${i}`, clientId: `client-g${i}`, name: 'G', createdAt: 1 })
          .then(onDisk),
      )
      // A read in the same turn sees the group's rows at once.
      expect(await store.getAccount('acc-g4')).toMatchObject({ id: 'acc-g4' })
      expect(onDisk()).toBe(0)
      expect(await Promise.all(writes)).toEqual([5, 5, 5, 5, 5])
      expect(store.commitCount() - before).toBe(1)
    } finally {
      other.close()
    }
  })

  it('queued frames are read for sending only once committed: listUndelivered waits for the open group', async () => {
    const file = tempFile()
    const store = track(await migrated(file))
    await store.createAccount({ id: 'acc-f', clientId: 'client-f', name: 'F', createdAt: 1 })
    await store.createUser({
      id: 'u-f',
      accountId: 'acc-f',
      login: 'f',
      username: 'f',
      passwordHash: 'h',
      createdAt: 1,
    })
    await store.createChannel({
      id: 'ch-f',
      userId: 'u-f',
      accountId: 'acc-f',
      username: 'f',
      correlator: null,
      lifetime: 60,
      connCheckRole: 'client',
      createdAt: 1,
      lastActiveAt: 1,
      everConnected: false,
    })
    const other = new Database(file, { readonly: true })
    try {
      const onDisk = () => (other.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n
      void store.appendFrames([{ channelId: 'ch-f', id: 'n-1', kind: 'k', legId: null, frame: '{}' }])
      const listed = store.listUndelivered('ch-f', 10).then((frames) => ({ frames, onDisk: onDisk() }))
      expect(onDisk()).toBe(0)
      expect(await listed).toMatchObject({ frames: [{ id: 'n-1', seq: 1 }], onDisk: 1 })
    } finally {
      other.close()
    }
  })

  it('a write that fails inside a group is undone alone; the others of its turn commit', async () => {
    const file = tempFile()
    const store = track(await migrated(file))
    await store.createAccount({ id: 'acc-1', clientId: 'client-1', name: 'One', createdAt: 1 })
    const results = await Promise.allSettled([
      store.createAccount({ id: 'acc-2', clientId: 'client-2', name: 'Two', createdAt: 1 }),
      // Same client id: DuplicateError, and nothing of it stays.
      store.createAccount({ id: 'acc-3', clientId: 'client-1', name: 'Three', createdAt: 1 }),
      store.scheduleTimer({ id: 't-1', kind: 'noAnswer', dueAt: 1, payload: {} }),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    await store.close()
    const reopened = track(await migrated(file))
    expect((await reopened.listAccounts()).map((a) => a.id)).toEqual(['acc-1', 'acc-2'])
    expect((await reopened.claimDueTimers(2, 10)).map((t) => t.id)).toEqual(['t-1'])
  })

  it('close() commits the open group first: a write not awaited before close is kept', async () => {
    const file = tempFile()
    const store = track(await migrated(file))
    const write = store.createAccount({ id: 'acc-c', clientId: 'client-c', name: 'C', createdAt: 1 })
    await store.close()
    await write
    const reopened = track(await migrated(file))
    expect(await reopened.getAccount('acc-c')).toMatchObject({ clientId: 'client-c' })
  })

  it('getters after close() reject instead of touching a closed database', async () => {
    const store = track(await migrated(':memory:'))
    await store.close()
    await expect(store.getAccount('acc')).rejects.toThrow()
  })
})

describe('openStore()', () => {
  let store: Store | undefined

  beforeEach(() => {
    store = undefined
  })

  afterEach(async () => {
    await store?.close()
  })

  it("an account's telephone numbers go with it (ON DELETE CASCADE of migration 4)", async () => {
    // The Store has no deleteAccount yet; an operator's DELETE (or a future one) must not leave numbers behind.
    const file = tempFile()
    const store = await migrated(file)
    const account = { id: 'acc-1', clientId: 'client-1', name: 'Acme', createdAt: 1 }
    await store.createAccount(account)
    await store.createPhoneNumber({
      number: '+15550100',
      accountId: 'acc-1',
      userId: null,
      assignedAt: null,
      createdAt: 1,
    })
    await store.close()
    const db = new Database(file)
    try {
      db.pragma('foreign_keys = ON')
      db.prepare('DELETE FROM accounts WHERE id = ?').run('acc-1')
      expect(db.prepare('SELECT count(*) AS n FROM phone_numbers').get()).toStrictEqual({ n: 0 })
    } finally {
      db.close()
    }
  })

  it('openStore("sqlite::memory:") returns a migrated in-memory store', async () => {
    store = await openStore('sqlite::memory:')
    await store.createAccount({ id: 'acc', clientId: 'client', name: 'Acme', createdAt: 1 })
    expect(await store.getAccountByClientId('client')).toMatchObject({ id: 'acc' })
  })

  it('openStore("sqlite:/abs/path.db") opens the file at that absolute path', async () => {
    const file = join(tempRoot, 'absolute', 'parley.db')
    store = await openStore(`sqlite:${file}`, { createDirectory: true })
    await store.createAccount({ id: 'acc', clientId: 'client', name: 'Acme', createdAt: 1 })
    expect(existsSync(file)).toBe(true)
  })

  it('openStore() of a sqlite: file in a missing directory refuses, naming it, and creates nothing', async () => {
    const dir = join(tempRoot, 'typo', 'nested')
    await expect(openStore(`sqlite:${join(dir, 'parley.db')}`)).rejects.toThrow(
      `--db: the directory ${dir} does not exist; create it, or pass --create to have it created`,
    )
    expect(existsSync(join(tempRoot, 'typo'))).toBe(false)
  })

  it('openStore("sqlite:./data/parley.db") resolves the path against the working directory', async () => {
    const cwd = join(tempRoot, 'cwd')
    store = await openStore('sqlite:./data/parley.db', { cwd, createDirectory: true })
    expect(existsSync(join(cwd, 'data', 'parley.db'))).toBe(true)
  })

  it('openStore() of a postgres:// or postgresql:// URL opens the PostgreSQL adapter (unreachable here)', async () => {
    // Port 1 refuses at once: the URL reached the PostgreSQL adapter, which tried to connect.
    for (const url of ['postgres://127.0.0.1:1/parley', 'postgresql://127.0.0.1:1/parley']) {
      await expect(openStore(url), url).rejects.toThrow(/ECONNREFUSED/)
    }
  })

  it('openStore() of an unreachable postgres URL does not echo its password', async () => {
    const error = await openStore('postgres://parley:hunter2@127.0.0.1:1/parley').then(
      () => expect.fail('expected a rejection'),
      (reason: unknown) => reason,
    )
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).not.toContain('hunter2')
  })

  it('openStore() of an unknown or malformed URL throws an error naming the accepted forms', async () => {
    for (const url of [
      'mysql://127.0.0.1/parley',
      './data/parley.db',
      'sqlite:',
      'sqlite://host/parley.db',
      '',
    ]) {
      await expect(openStore(url), url).rejects.toThrow(/sqlite:\.\/data\/parley\.db.*sqlite::memory:/)
    }
  })
})
