/**
 * TURN credentials (protocol.md §7): fetched with `POST …/turn` after the `call` subscription,
 * written by the call layer into every ICE server entry, and renewed before the expiry encoded in
 * the username (`<unix-expiry>:<user>`, §7.3) runs out (Parley extra, §14.4).
 */
import type { Logger } from '../core/logger.js'
import type { RestClient } from './rest.js'

export interface TurnCredentials {
  username: string
  credential: string
}

export interface TurnDeps {
  rest: RestClient
  /** `/cpaas/webrtcsignaling/{v}/{username}`, or undefined without tokens. */
  basePath: () => string | undefined
  correlator: () => string | undefined
  log: Logger
}

const RETRY_MS = 30_000
const MAX_TIMER_MS = 2_147_000_000

/** Expiry (ms since epoch) from a TURN REST username, or undefined. */
export function turnExpiry(username: string): number | undefined {
  const m = /^(\d+):/.exec(username)
  return m ? Number(m[1]) * 1000 : undefined
}

export class TurnCredentialsManager {
  readonly #deps: TurnDeps
  #creds: TurnCredentials | undefined
  #inflight: Promise<void> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #active = false

  constructor(deps: TurnDeps) {
    this.#deps = deps
  }

  /** The newest credentials, if any. */
  get current(): TurnCredentials | undefined {
    return this.#creds
  }

  /** Starts fetching (and keeps renewing) credentials. */
  start(): Promise<void> {
    this.#active = true
    return this.#fetch()
  }

  /** Waits for a fetch in flight, at most `timeoutMs` (calls never hang on TURN, unlike 4.35 clients). */
  async ready(timeoutMs: number): Promise<void> {
    const inflight = this.#inflight
    if (!inflight) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([inflight, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))])
    clearTimeout(timer)
  }

  /** Stops renewing and forgets the credentials. Idempotent. */
  stop(): void {
    this.#active = false
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#creds = undefined
  }

  #fetch(): Promise<void> {
    if (this.#inflight) return this.#inflight
    const run = async () => {
      const base = this.#deps.basePath()
      if (!base) return
      try {
        const body = await this.#deps.rest.request<{
          wrtcsTurnCredentials?: { username?: unknown; password?: unknown }
        }>('POST', `${base}/turn`, { wrtcsTurnCredentials: { clientCorrelator: this.#deps.correlator() } })
        const t = body.wrtcsTurnCredentials
        if (typeof t?.username !== 'string' || typeof t.password !== 'string' || !t.username || !t.password) {
          throw new Error('TURN reply without username/password')
        }
        if (!this.#active) return
        this.#creds = { username: t.username, credential: t.password }
        this.#schedule(this.#renewDelay(t.username))
      } catch (err) {
        this.#deps.log.warn('TURN credentials could not be fetched; calls proceed without them', err)
        if (this.#active) this.#schedule(RETRY_MS)
      }
    }
    this.#inflight = run().finally(() => {
      this.#inflight = undefined
    })
    return this.#inflight
  }

  #renewDelay(username: string): number | undefined {
    const expiry = turnExpiry(username)
    if (expiry === undefined) return undefined
    const left = expiry - Date.now()
    return Math.max(RETRY_MS, left * 0.9)
  }

  #schedule(delay: number | undefined): void {
    clearTimeout(this.#timer)
    if (delay === undefined || !this.#active) return
    this.#timer = setTimeout(() => void this.#fetch(), Math.min(delay, MAX_TIMER_MS))
  }
}
