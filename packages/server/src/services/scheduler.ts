import type { ChannelService } from './channels.js'
import type { ServiceContext } from './context.js'
import type { SessionService } from './sessions.js'

/**
 * Runs the durable timers and the periodic sweeps. Timers live in the store and are claimed atomically,
 * so on several nodes each fires once, and a restart loses none (protocol §11.13 timers).
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
    for (;;) {
      const due = await this.#ctx.store.claimDueTimers(this.#ctx.clock.now(), 100)
      for (const timer of due) {
        try {
          await this.#sessions.fireTimer(timer)
        } catch (err) {
          this.#ctx.log.error({ err, timer: timer.id }, 'timer failed')
        }
      }
      if (due.length < 100 || this.#stopped) return
    }
  }

  /** Liveness, channel expiry and outbox pruning. */
  async sweep(): Promise<void> {
    await this.#sessions.sweepSilentLegs()
    await this.#channels.collectExpired()
    await this.#ctx.store.pruneDelivered(this.#ctx.clock.now() - this.#ctx.config.timings.replayWindowMs)
  }

  #guarded(what: string, fn: () => Promise<void>): void {
    if (this.#running || this.#stopped) return
    this.#running = fn()
      .catch((err: unknown) => this.#ctx.log.error({ err }, `${what} failed`))
      .finally(() => (this.#running = undefined))
  }
}
