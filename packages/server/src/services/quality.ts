/**
 * Call quality reports (issue 12, README "Call quality"): the SDK posts its quality samples for its own leg;
 * they are kept with the call record (at most MAX_QUALITY_SAMPLES_PER_LEG per leg) and summarised in
 * `/metrics`. A participant reads back the samples of every leg of their call.
 */
import type { QualityReportResponse, QualitySampleWire } from '@parley/protocol'
import { MAX_QUALITY_SAMPLES_PER_LEG, type Leg } from '../store/types.js'
import type { ServiceContext } from './context.js'
import { apiError } from './errors.js'
import type { Actor } from './tokens.js'

/**
 * How long after its call ended a leg may still report: the SDK sends its last samples when the call ends,
 * which may reach the server after the DELETE that ended it.
 */
export const QUALITY_REPORT_GRACE_MS = 5 * 60_000

export class QualityService {
  readonly #ctx: ServiceContext

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx
  }

  /** Stores `samples` reported by `actor` for their leg `legId`; 404 for a leg that is not theirs. */
  async report(actor: Actor, legId: string, samples: readonly QualitySampleWire[]): Promise<void> {
    const leg = await this.#ownLeg(actor, legId)
    const call = await this.#ctx.store.getCall(leg.callId)
    if (!call) throw apiError('NO_SUCH_SESSION')
    if (call.endedAt !== null && this.#ctx.clock.now() - call.endedAt > QUALITY_REPORT_GRACE_MS)
      throw apiError('SESSION_ENDED')
    await this.#ctx.store.addQualitySamples(
      samples.map((sample) => ({
        callId: leg.callId,
        legId: leg.id,
        at: sample.timestamp,
        sample: { ...sample },
      })),
      MAX_QUALITY_SAMPLES_PER_LEG,
    )
    const metrics = this.#ctx.metrics
    if (!metrics) return
    for (const s of samples) {
      const losses = [s.audioIn?.packetLoss, s.videoIn?.packetLoss].filter((v) => v !== undefined)
      metrics.qualitySample({
        ...(s.mos !== undefined ? { mos: s.mos } : {}),
        ...(s.rtt !== undefined ? { rttSeconds: s.rtt / 1000 } : {}),
        ...(losses.length > 0 ? { packetLoss: Math.max(...losses) } : {}),
        ...(s.audioIn?.jitter !== undefined ? { jitterSeconds: s.audioIn.jitter / 1000 } : {}),
      })
      for (const warning of s.raised ?? []) metrics.qualityWarning(warning)
    }
  }

  /** The samples of every leg of the call that `legId` (the actor's own leg) belongs to, oldest first. */
  async samples(actor: Actor, legId: string): Promise<QualityReportResponse> {
    const leg = await this.#ownLeg(actor, legId)
    const legs = new Map((await this.#ctx.store.listLegs(leg.callId)).map((l) => [l.id, l]))
    const stored = await this.#ctx.store.listQualitySamples(leg.callId)
    return {
      callId: leg.callId,
      samples: stored.map((s) => {
        const owner = legs.get(s.legId)
        return {
          ...(s.sample as QualitySampleWire),
          legId: s.legId,
          role: owner?.role ?? 'callee',
          username: owner?.username ?? '',
        }
      }),
    }
  }

  async #ownLeg(actor: Actor, legId: string): Promise<Leg> {
    const leg = await this.#ctx.store.getLeg(legId)
    // Another user's leg is indistinguishable from a missing one (protocol §8.0).
    if (!leg || leg.userId !== actor.userId) throw apiError('NO_SUCH_SESSION')
    return leg
  }
}
