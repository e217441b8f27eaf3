import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { LocalBus } from '../bus/local-bus.js'
import { makeConfig } from '../config.js'
import { createLogger } from '../deps.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import type { Store, Timer } from '../store/types.js'
import type { ChannelService } from './channels.js'
import type { ServiceContext } from './context.js'
import { Scheduler } from './scheduler.js'
import type { SessionService } from './sessions.js'

const LEASE = 1_000
const HOUR = 3_600_000
const tempRoot = mkdtempSync(join(tmpdir(), 'parley-scheduler-'))

afterAll(() => {
  rmSync(tempRoot, { recursive: true, force: true })
})

/** A clock the test moves by hand. */
interface ManualClock {
  t: number
  now(): number
}

function manualClock(t: number): ManualClock {
  return {
    t,
    now() {
      return this.t
    },
  }
}

async function migrated(filename: string): Promise<SqliteStore> {
  const store = new SqliteStore(filename)
  await store.migrate()
  return store
}

function timer(id: string, dueAt: number): Timer {
  return { id, kind: 'no-answer', dueAt, payload: { ref: id } }
}

describe('Scheduler timers', () => {
  const open: Store[] = []
  const running: Scheduler[] = []

  afterEach(async () => {
    for (const run of running.splice(0)) await run.stop()
    for (const store of open.splice(0)) await store.close()
  })

  /**
   * A started scheduler over `store` whose sessions only run `fire` (the real fireTimer is covered by the
   * session tests); `logged` collects the messages it logs. Its own loops never come round: the test runs
   * `runDueTimers` itself (started, so that a run goes on past one batch).
   */
  function scheduler(
    store: Store,
    clock: ManualClock,
    fire: (timer: Timer) => Promise<void>,
    logged: string[] = [],
  ): Scheduler {
    const config = makeConfig({
      db: 'sqlite::memory:',
      logLevel: 'error',
      timings: { timerLeaseMs: LEASE, timerPollMs: HOUR, sweepMs: HOUR },
    })
    const log = createLogger(config, { write: (line: string) => void logged.push(line) })
    const ctx: ServiceContext = { store, bus: new LocalBus(), clock, log, config }
    const sessions = { fireTimer: fire } as unknown as SessionService
    const run = new Scheduler(ctx, sessions, {} as unknown as ChannelService)
    run.start()
    running.push(run)
    return run
  }

  async function memoryStore(): Promise<SqliteStore> {
    const store = await migrated(':memory:')
    open.push(store)
    return store
  }

  it('fires the due timers, earliest first, and deletes them once fired', async () => {
    const store = await memoryStore()
    const clock = manualClock(1_000)
    const fired: string[] = []
    const run = scheduler(store, clock, async (t) => void fired.push(t.id))
    for (const t of [timer('b', 200), timer('later', 5_000), timer('a', 100)]) await store.scheduleTimer(t)

    await run.runDueTimers()
    expect(fired).toStrictEqual(['a', 'b'])
    // Long after their lease: completed timers do not come back.
    clock.t = 5_000
    await run.runDueTimers()
    expect(fired).toStrictEqual(['a', 'b', 'later'])
  })

  it('fires more timers than one batch holds in one run', async () => {
    const store = await memoryStore()
    const clock = manualClock(1_000)
    const fired: string[] = []
    const run = scheduler(store, clock, async (t) => void fired.push(t.id))
    const ids = Array.from({ length: 250 }, (_, index) => `t-${String(index).padStart(3, '0')}`)
    for (const id of ids) await store.scheduleTimer(timer(id, 500))

    await run.runDueTimers()
    expect(fired).toStrictEqual(ids)
  })

  it('fires the timers of a claimer that died once their lease ends, and not before', async () => {
    const store = await memoryStore()
    const clock = manualClock(1_000)
    const fired: Timer[] = []
    const run = scheduler(store, clock, async (t) => void fired.push(t))
    await store.scheduleTimer(timer('orphan', 900))
    // Another process claims it and dies before firing (so before completing) it.
    expect(await store.claimDueTimers(1_000, 10, LEASE)).toHaveLength(1)

    clock.t = 1_999
    await run.runDueTimers()
    expect(fired).toStrictEqual([])
    clock.t = 2_000
    await run.runDueTimers()
    expect(fired).toStrictEqual([{ ...timer('orphan', 2_000) }])
  })

  it('completes a timer whose firing throws, after logging it, so that it does not fail again every lease', async () => {
    const store = await memoryStore()
    const clock = manualClock(1_000)
    const fired: string[] = []
    const logged: string[] = []
    const run = scheduler(
      store,
      clock,
      async (t) => {
        fired.push(t.id)
        if (t.id === 'broken') throw new Error('cannot fire')
      },
      logged,
    )
    await store.scheduleTimer(timer('broken', 100))
    await store.scheduleTimer(timer('fine', 200))

    await run.runDueTimers()
    expect(fired).toStrictEqual(['broken', 'fine'])
    expect(logged.map((line) => JSON.parse(line) as { msg: string; timer: string })).toMatchObject([
      { msg: 'timer failed', timer: 'broken' },
    ])
    clock.t = 10_000
    await run.runDueTimers()
    expect(fired).toStrictEqual(['broken', 'fine'])
  })

  it('keeps a timer that its own firing schedules again, and fires it at its new time', async () => {
    const store = await memoryStore()
    const clock = manualClock(1_000)
    const fired: number[] = []
    const run = scheduler(store, clock, async (t) => {
      fired.push(clock.now())
      if (fired.length === 1) await store.scheduleTimer({ ...t, dueAt: clock.now() + 500 })
    })
    await store.scheduleTimer(timer('again', 1_000))

    await run.runDueTimers()
    clock.t = 1_499
    await run.runDueTimers()
    clock.t = 1_500
    await run.runDueTimers()
    clock.t = 10_000
    await run.runDueTimers()
    expect(fired).toStrictEqual([1_000, 1_500])
  })

  it('leaves the rest of a batch whose lease ran out to the next claim', async () => {
    const store = await memoryStore()
    const clock = manualClock(1_000)
    const fired: string[] = []
    const run = scheduler(store, clock, async (t) => {
      fired.push(t.id)
      // A very slow firing: past the lease, another process may have claimed the rest of the batch.
      if (t.id === 'slow') clock.t += LEASE
    })
    await store.scheduleTimer(timer('slow', 100))
    await store.scheduleTimer(timer('next', 200))

    await run.runDueTimers()
    expect(fired).toStrictEqual(['slow'])
    // Its lease has ended: the next run claims `next` again and fires it.
    await run.runDueTimers()
    expect(fired).toStrictEqual(['slow', 'next'])
    clock.t = 100_000
    await run.runDueTimers()
    expect(fired).toStrictEqual(['slow', 'next'])
  })

  it('two processes on one SQLite file fire each timer once', async () => {
    const file = join(tempRoot, 'shared.db')
    const first = await migrated(file)
    const second = await migrated(file)
    open.push(first, second)
    const clock = manualClock(1_000)
    const fired: string[] = []
    const fire = async (t: Timer): Promise<void> => {
      fired.push(t.id)
      // Yield, so that the other scheduler claims while this one is firing.
      await new Promise((resolve) => setImmediate(resolve))
    }
    const ids = Array.from({ length: 230 }, (_, index) => `t-${index}`)
    for (const [index, id] of ids.entries()) await first.scheduleTimer(timer(id, 100 + (index % 9)))

    await Promise.all([
      scheduler(first, clock, fire).runDueTimers(),
      scheduler(second, clock, fire).runDueTimers(),
    ])
    expect([...fired].sort()).toStrictEqual([...ids].sort())
    // All completed: nothing is claimed long after every lease.
    expect(await second.claimDueTimers(1_000_000, 1_000)).toStrictEqual([])
  })
})
