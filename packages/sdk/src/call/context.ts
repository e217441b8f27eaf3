/**
 * What the call modules share: the dependencies the client passes in and the call registry. The
 * CallManager owns one context and passes it to every operation; the other modules keep no state.
 */
import type { Config } from '../core/config.js'
import type { Logger } from '../core/logger.js'
import type { Tokens } from '../core/tokens.js'
import type { MediaEngine } from '../media/engine.js'
import type { Renderer } from '../media/renderer.js'
import type { TrackRegistry } from '../media/track-registry.js'
import type { RestClient } from '../signalling/rest.js'
import type { TurnCredentialsManager } from '../signalling/turn.js'
import type { Call } from './call.js'

/** What the client gives the call layer: media, signalling, configuration and the event bus. */
export interface CallManagerDeps {
  rest: RestClient
  engine: MediaEngine
  tracks: TrackRegistry
  renderer: Renderer
  turn: TurnCredentialsManager
  config: () => Config
  tokens: () => Tokens | undefined
  /** The `call` service is subscribed (sdk-api §5.3.1 requirement of `make`). */
  isSubscribed: () => boolean
  /** Public events (queued by the event bus). */
  emit: (type: string, payload: object) => void
  /** Runs `fn` after the listeners of everything emitted so far. */
  defer: (fn: () => void) => void
  log: Logger
  version: string
  platform: () => string
}

/** The deps and the call registry, shared by the call modules. */
export interface CallContext {
  readonly deps: CallManagerDeps
  /** Every call by its id; ended calls stay listed. */
  readonly calls: Map<string, Call>
  /** Calls by this side's leg id (protocol.md §2.4), for routing notifications. */
  readonly byLeg: Map<string, Call>
  /** `destroy()` has run: notifications are ignored and audits stop. */
  isDestroyed(): boolean
  /** Notifications that arrived before the reply that names their leg (see {@link EarlyNotifications}). */
  readonly early: EarlyNotifications
}

/** One notification as the channel delivered it. */
export interface HeldNotification {
  kind: string
  body: Record<string, unknown>
}

/**
 * The server answers a request before it pushes what the request caused (protocol.md §11), but the reply
 * and the push travel on different connections, and a browser may hand the websocket frame to the page
 * before the fetch that carried the reply has resolved (seen on a loaded machine: the Ringing and acceptance
 * of a new call arrived 5 ms before its create-session reply, and were lost). While a create-session request
 * is in flight, notifications for legs this client does not know yet are therefore held, bounded, and
 * handed to their call once the reply has named its leg; they are dropped when no such request is left.
 */
export class EarlyNotifications {
  static readonly LIMIT = 64
  #inFlight = 0
  #held: (HeldNotification & { legId: string })[] = []

  /** A create-session request starts; call `done()` when it has settled (and its leg, if any, is known). */
  begin(): { done: () => void } {
    this.#inFlight++
    let settled = false
    return {
      done: () => {
        if (settled) return
        settled = true
        this.#inFlight--
        if (this.#inFlight === 0) this.#held = []
      },
    }
  }

  /** Keeps a notification for an unknown leg while a create-session request may still name it. */
  hold(legId: string, kind: string, body: Record<string, unknown>): boolean {
    if (this.#inFlight === 0) return false
    if (this.#held.length >= EarlyNotifications.LIMIT) this.#held.shift()
    this.#held.push({ legId, kind, body })
    return true
  }

  /** Takes (removes and returns, in arrival order) the notifications held for `legId`. */
  take(legId: string): HeldNotification[] {
    const mine = this.#held.filter((n) => n.legId === legId)
    if (mine.length > 0) this.#held = this.#held.filter((n) => n.legId !== legId)
    return mine.map(({ kind, body }) => ({ kind, body }))
  }
}

/** Adds a call to the registry. */
export function register(ctx: CallContext, call: Call): void {
  ctx.calls.set(call.id, call)
}
