import type { Logger } from 'pino'
import type { Bus } from '../bus/types.js'
import type { Store } from '../store/types.js'
import type { Config } from '../config.js'
import type { MediaGateway } from '../media-gateway/types.js'
import type { SipTrunk } from '../sip/types.js'
import type { Metrics } from './metrics.js'

/** A source of time, injectable so that tests can control it. */
export interface Clock {
  now(): number
}

/** The system clock. */
export const systemClock: Clock = { now: () => Date.now() }

/** What every service receives (architecture §2). */
export interface ServiceContext {
  store: Store
  bus: Bus
  clock: Clock
  log: Logger
  config: Config
  /** Counters and histograms for `/metrics`; absent (tests, admin commands): nothing is counted. */
  metrics?: Metrics | undefined
  /** The media gateway of PSTN calls (`--rtpengine`); absent when none is configured. */
  mediaGateway?: MediaGateway | undefined
  /** The SIP user agent toward the carrier's trunk (`--sip-trunk`); absent when none is configured. */
  sipTrunk?: SipTrunk | undefined
}
