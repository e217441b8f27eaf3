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
}

/** Adds a call to the registry. */
export function register(ctx: CallContext, call: Call): void {
  ctx.calls.set(call.id, call)
}
