import { createHmac, randomBytes } from 'node:crypto'
import type { TurnCredentialsResponse } from '@parley/protocol'
import type { ServiceContext } from './context.js'
import type { Actor } from './tokens.js'

/**
 * TURN credentials of the TURN REST API kind (protocol §7.3, draft-uberti-behave-turn-rest):
 * username `<expiry>:<username>`, password base64(HMAC-SHA1(secret, username)). Minted fresh on every
 * request, from memory only, so the reply is immediate (protocol §7.2 MUST).
 */
export class TurnService {
  readonly #ctx: ServiceContext
  #secret: string | undefined

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx
  }

  /** Loads the shared secret once at start-up: the configured one, or a per-deployment random one. */
  async init(): Promise<void> {
    this.#secret =
      this.#ctx.config.turnSecret ??
      (await this.#ctx.store.getOrCreateSecret('turn-rest', () => randomBytes(32).toString('base64url')))
  }

  /** Credentials for `actor`, valid for the configured lifetime. */
  credentials(actor: Actor): TurnCredentialsResponse {
    if (this.#secret === undefined) throw new Error('TurnService.init() was not called')
    const expiry = Math.floor(this.#ctx.clock.now() / 1000) + this.#ctx.config.turnTtl
    const username = `${expiry}:${actor.username}`
    const password = createHmac('sha1', this.#secret).update(username).digest('base64')
    const urls = this.#ctx.config.turnUrls
    return { wrtcsTurnCredentials: { username, password, ...(urls.length > 0 ? { urls: [...urls] } : {}) } }
  }

  /** The shared secret (for the supervised coturn). */
  get secret(): string {
    if (this.#secret === undefined) throw new Error('TurnService.init() was not called')
    return this.#secret
  }
}
