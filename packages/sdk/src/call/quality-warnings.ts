/**
 * Quality warnings with hysteresis: pure functions that decide, sample by sample, which warnings hold.
 * A warning is raised after `raiseAfter` consecutive samples beyond its threshold and cleared after
 * `clearAfter` consecutive samples within it, so one bad (or good) sample never flips it.
 * **[Parley extension]**
 */
import {
  QUALITY_WARNINGS,
  type QualitySample,
  type QualityWarningName,
  type StatsSnapshot,
} from './quality-stats.js'

/** Thresholds of the warnings (defaults after the Twilio Voice SDK's). */
export interface QualityThresholds {
  /** `high-rtt` above this many milliseconds. Default 400. */
  rtt: number
  /** `high-jitter` when received audio jitter is above this many milliseconds. Default 30. */
  jitter: number
  /** `high-packet-loss` when any stream loses more than this fraction (0…1). Default 0.03. */
  packetLoss: number
  /** `low-mos` below this MOS. Default 3.5. */
  mos: number
}

/** The defaults of {@link QualityThresholds}. */
export const DEFAULT_THRESHOLDS: QualityThresholds = { rtt: 400, jitter: 30, packetLoss: 0.03, mos: 3.5 }

/** What the call knows beyond the stats: whether it should be sending audio and receiving video. */
export interface CallMediaFacts {
  /** A live local audio track is on the call and the app has not muted it (`media.muteTracks`). */
  sendingAudio: boolean
  /** A live remote video track is on the call (not held). */
  receivingVideo: boolean
}

/** A warning condition that holds, with the measured value and the threshold it crossed. */
export interface Breach {
  value: number
  threshold: number
}

/**
 * Which warning conditions hold for one sample: a breach, `false` when the condition is measured and
 * fine, absent when it cannot be told (e.g. no audio is received, so there is no MOS).
 *
 * - `frozen-video`: video is received, frames were decoded before, and none were decoded in this interval.
 * - `silent-microphone`: audio is sent from an unmuted live track, but the microphone's cumulative
 *   `totalAudioEnergy` (`media-source` stats) did not grow in this interval (or, without it, `audioLevel` is 0).
 */
export function evaluateConditions(
  sample: QualitySample,
  prev: StatsSnapshot,
  cur: StatsSnapshot,
  facts: CallMediaFacts,
  t: QualityThresholds,
): Partial<Record<QualityWarningName, Breach | false>> {
  const out: Partial<Record<QualityWarningName, Breach | false>> = {}
  const over = (value: number, threshold: number): Breach | false =>
    value > threshold ? { value, threshold } : false
  if (sample.rtt !== undefined) out['high-rtt'] = over(sample.rtt, t.rtt)
  const losses = [sample.audio.inbound, sample.audio.outbound, sample.video.inbound, sample.video.outbound]
    .filter((s) => s !== undefined)
    .map((s) => s.packetLoss)
  if (losses.length > 0) out['high-packet-loss'] = over(Math.max(...losses), t.packetLoss)
  const jitter = sample.audio.inbound?.jitter
  if (jitter !== undefined) out['high-jitter'] = over(jitter, t.jitter)
  if (sample.mos !== undefined)
    out['low-mos'] = sample.mos < t.mos ? { value: sample.mos, threshold: t.mos } : false
  const vNow = cur.inbound.video
  if (facts.receivingVideo && vNow?.frames !== undefined) {
    const before = prev.inbound.video?.frames ?? 0
    if (vNow.frames > 0 || before > 0) {
      const decoded = vNow.frames - before
      out['frozen-video'] = decoded <= 0 ? { value: 0, threshold: 0 } : false
    }
  }
  if (facts.sendingAudio && cur.outbound.audio && cur.audioSource) {
    const e1 = cur.audioSource.totalAudioEnergy
    const e0 = prev.audioSource?.totalAudioEnergy
    if (e1 !== undefined && e0 !== undefined) {
      out['silent-microphone'] = e1 - e0 <= 0 ? { value: 0, threshold: 0 } : false
    } else if (cur.audioSource.audioLevel !== undefined) {
      out['silent-microphone'] = cur.audioSource.audioLevel === 0 ? { value: 0, threshold: 0 } : false
    }
  }
  return out
}

/** Per warning: whether it is raised, and how many consecutive samples disagreed with that. */
export type WarningState = Record<QualityWarningName, { active: boolean; streak: number }>

/** No warning raised. */
export function initialWarningState(): WarningState {
  return Object.fromEntries(QUALITY_WARNINGS.map((w) => [w, { active: false, streak: 0 }])) as WarningState
}

/** The outcome of one step: the next state and the warnings that changed. */
export interface WarningStep {
  state: WarningState
  raised: Array<{ warning: QualityWarningName } & Breach>
  cleared: QualityWarningName[]
}

/**
 * Advances the hysteresis by one sample. A condition that cannot be told this time (absent) leaves its
 * warning and streak as they are, except that a warning whose condition stops being measurable at all
 * (e.g. video removed) counts as within bounds.
 */
export function stepWarnings(
  state: WarningState,
  conditions: Partial<Record<QualityWarningName, Breach | false>>,
  options: { raiseAfter: number; clearAfter: number },
): WarningStep {
  const next = {} as WarningState
  const raised: WarningStep['raised'] = []
  const cleared: QualityWarningName[] = []
  for (const warning of QUALITY_WARNINGS) {
    const { active, streak } = state[warning]
    const c = conditions[warning]
    const breach = c === undefined ? (active ? false : undefined) : c
    if (breach === undefined) {
      next[warning] = { active, streak }
      continue
    }
    const disagrees = active ? breach === false : breach !== false
    const count = disagrees ? streak + 1 : 0
    if (!active && breach !== false && count >= options.raiseAfter) {
      next[warning] = { active: true, streak: 0 }
      raised.push({ warning, ...breach })
    } else if (active && breach === false && count >= options.clearAfter) {
      next[warning] = { active: false, streak: 0 }
      cleared.push(warning)
    } else next[warning] = { active, streak: count }
  }
  return { state: next, raised, cleared }
}

/** The names of the raised warnings, in a fixed order. */
export function activeWarnings(state: WarningState): QualityWarningName[] {
  return QUALITY_WARNINGS.filter((w) => state[w].active)
}
