/**
 * The quality monitor of a call (Parley extension, issue 12): every `call.quality.interval` ms while the
 * call is `Connected`, it reads the peer connection's stats through the media layer (`PeerSession.getStats`),
 * turns the change since the previous read into a sample (quality-stats.ts), advances the warnings
 * (quality-warnings.ts), emits `call:qualityChange`, `call:qualityWarning` and `call:qualityWarningCleared`,
 * and queues the sample for the server (quality-report.ts). Started with the call audit, stopped when the
 * call's media is released; the last samples are sent then.
 */
import type { PeerSession } from '../media/engine.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { QualityReporter } from './quality-report.js'
import { toWire } from './quality-report.js'
import { computeSample, readStats, type StatsSnapshot } from './quality-stats.js'
import {
  activeWarnings,
  evaluateConditions,
  initialWarningState,
  stepWarnings,
  type CallMediaFacts,
  type WarningState,
} from './quality-warnings.js'
import { correlator, qualityPath } from './wire.js'

/** What the call holds of its monitor. */
export interface QualityHandle {
  /** Stops sampling and sends what is queued; idempotent. */
  stop(): void
}

/** Starts sampling the call's quality (once per call). */
export function startQuality(ctx: CallContext, call: Call): void {
  if (call.quality || call.terminal) return
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  let baseline: { session: PeerSession; snapshot: StatsSnapshot } | undefined
  let warnings: WarningState = initialWarningState()
  const log = ctx.deps.log
  const reporter = new QualityReporter({
    send: (samples, final) => {
      const path = qualityPath(ctx, call)
      const body: Record<string, unknown> = { samples }
      const c = correlator(ctx)
      if (c !== undefined) body.clientCorrelator = c
      return ctx.deps.rest.request('POST', path, body, final ? { keepalive: true } : {})
    },
    debug: (message, err) => log.debug(message, err),
  })

  const schedule = () => {
    if (stopped || call.terminal || ctx.isDestroyed()) return
    timer = setTimeout(() => void tick(), ctx.deps.config().call.quality.interval)
  }

  const tick = async (): Promise<void> => {
    timer = undefined
    const cfg = ctx.deps.config().call.quality
    const session = call.session
    if (!cfg.enabled || call.state !== 'Connected' || !session) {
      // Held, re-negotiating or not yet up: the next sample starts from a fresh baseline.
      baseline = undefined
      return schedule()
    }
    let snapshot: StatsSnapshot
    try {
      snapshot = readStats(await session.getStats())
    } catch (err) {
      log.debug('quality: getStats failed', err)
      baseline = undefined
      return schedule()
    }
    if (stopped || call.terminal) return
    const prev = baseline?.session === session ? baseline.snapshot : undefined
    baseline = { session, snapshot }
    const sample = prev ? computeSample(call.id, prev, snapshot) : undefined
    if (prev && sample) {
      const conditions = evaluateConditions(sample, prev, snapshot, mediaFacts(ctx, call), cfg.thresholds)
      const step = stepWarnings(warnings, conditions, cfg)
      warnings = step.state
      sample.warnings = activeWarnings(warnings)
      ctx.deps.emit('call:qualityChange', { callId: call.id, sample })
      for (const r of step.raised)
        ctx.deps.emit('call:qualityWarning', {
          callId: call.id,
          warning: r.warning,
          value: r.value,
          threshold: r.threshold,
        })
      for (const warning of step.cleared)
        ctx.deps.emit('call:qualityWarningCleared', { callId: call.id, warning })
      if (cfg.report && call.legId)
        reporter.push(
          toWire(
            sample,
            step.raised.map((r) => r.warning),
          ),
          { batchSize: cfg.reportBatchSize, limit: cfg.reportQueueLimit },
        )
    }
    schedule()
  }

  call.quality = {
    stop: () => {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      timer = undefined
      if (call.legId) reporter.flush()
    },
  }
  schedule()
}

/** Stops the call's quality monitor (teardown.ts), sending its last samples. */
export function stopQuality(call: Call): void {
  call.quality?.stop()
}

/** Whether the call should be sending microphone audio and receiving video right now. */
function mediaFacts(ctx: CallContext, call: Call): CallMediaFacts {
  const entries = ctx.deps.tracks.all().filter((e) => e.callId === call.id && e.track.readyState === 'live')
  return {
    sendingAudio: entries.some(
      (e) => e.isLocal && e.track.kind === 'audio' && !e.muted && call.localTracks.includes(e.track.id),
    ),
    receivingVideo: entries.some(
      (e) => !e.isLocal && e.track.kind === 'video' && call.remoteTracks.includes(e.track.id),
    ),
  }
}
