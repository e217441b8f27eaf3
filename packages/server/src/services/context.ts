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
  /** `--debug-timing` (issue 14): records one timestamped step of call signalling; absent, nothing is done. */
  timing?: TimingHook | undefined
}

/** Records a step (`http:in`, `commit`, `reply`, `push`…) with what identifies it. */
export type TimingHook = (step: string, fields: Record<string, unknown>) => void

/** Epoch milliseconds with sub-millisecond precision, comparable with browsers' marks on the same machine. */
export const preciseNow = (): number => performance.timeOrigin + performance.now()

/** The `--debug-timing` hook: one `timing` log line per step, at info level. */
export function logTiming(log: Logger): TimingHook {
  return (step, fields) => log.info({ timing: step, at: preciseNow(), ...fields }, 'timing')
}
