import type { TimerClaim } from '../store/types.js'
import { sweepExpiredIdentities } from './anonymous.js'
import type { ChannelService } from './channels.js'
import type { ServiceContext } from './context.js'
import type { SessionService } from './sessions.js'

/** Timers claimed (and fired) per store round trip. */
const TIMER_BATCH = 100

/**
 * Runs the durable timers and the periodic sweeps (protocol §11.13 timers). Timers live in the store and are
 * claimed atomically with a lease, so on several nodes (or worker processes) one claimer fires each; the
 * claimer deletes them only after firing, so a process that dies in between loses none: they come due again
 * when the lease ends and whoever claims them then fires them.
 *
 * Firing is therefore at least once, which SessionService.fireTimer tolerates: it re-reads the call or leg
 * under its lock and does nothing once the state no longer wants the timer (an answered or ended call's
 * no-answer, a released guard, a transfer no longer waiting). Only `repeat` and `repush` act again, re-sending
 * a leg's terminal event, which the protocol repeats anyway (§11.7, §8.2) and clients must accept twice.
 */
export class Scheduler {
  readonly #ctx: ServiceContext
  readonly #sessions: SessionService
  readonly #channels: ChannelService
  #timerHandle: NodeJS.Timeout | undefined
  #sweepHandle: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = true

  constructor(ctx: ServiceContext, sessions: SessionService, channels: ChannelService) {
    this.#ctx = ctx
    this.#sessions = sessions
    this.#channels = channels
  }

  start(): void {
    this.#stopped = false
    const t = this.#ctx.config.timings
    this.#timerHandle = setInterval(() => this.#guarded('timers', () => this.runDueTimers()), t.timerPollMs)
    this.#sweepHandle = setInterval(() => this.#guarded('sweep', () => this.sweep()), t.sweepMs)
    this.#timerHandle.unref()
    this.#sweepHandle.unref()
  }

  /** Stops the loops and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timerHandle)
    clearInterval(this.#sweepHandle)
    await this.#running
  }

  /** Fires every due timer now. */
  async runDueTimers(): Promise<void> {
    const leaseMs = this.#ctx.config.timings.timerLeaseMs
    for (;;) {
      const now = this.#ctx.clock.now()
      const leaseUntil = now + leaseMs
      const due = await this.#ctx.store.claimDueTimers(now, TIMER_BATCH, leaseMs)
      const fired: TimerClaim[] = []
      for (const timer of due) {
        // Past its lease another process may have claimed (and be firing) a timer: leave the rest of the batch
        // to the next claim rather than fire them twice at once.
        if (this.#ctx.clock.now() >= leaseUntil) break
        try {
          await this.#sessions.fireTimer(timer)
        } catch (err) {
          // Completed all the same: fireTimer already retries version conflicts, so an error left here is a bug
          // or a payload it cannot handle, and would come back to fail after every lease, forever. (A store
          // outage fails completeTimers too, so those timers do come back after the lease: the retry that
          // case wants.)
          this.#ctx.log.error({ err, timer: timer.id }, 'timer failed')
        }
        fired.push({ id: timer.id, leaseUntil })
      }
      // One write per batch. A timer rescheduled while firing (same id) has a new due time and survives this.
      await this.#ctx.store.completeTimers(fired)
      if (due.length < TIMER_BATCH || this.#stopped) return
    }
  }

  /** Liveness, channel expiry, expired anonymous identities and outbox pruning. */
  async sweep(): Promise<void> {
    await this.#sessions.sweepSilentLegs()
    await this.#channels.collectExpired()
    await sweepExpiredIdentities(this.#ctx, (actor, id) => this.#channels.remove(actor, id))
    await this.#ctx.store.pruneDelivered(this.#ctx.clock.now() - this.#ctx.config.timings.replayWindowMs)
  }

  #guarded(what: string, fn: () => Promise<void>): void {
    if (this.#running || this.#stopped) return
    this.#running = fn()
      .catch((err: unknown) => this.#ctx.log.error({ err }, `${what} failed`))
      .finally(() => (this.#running = undefined))
  }
}
