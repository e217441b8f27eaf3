/**
 * Batched quality reports to the Parley server (Parley extension, issue 12). Samples wait in a bounded
 * queue (the oldest dropped beyond `limit`) and go out `batchSize` at a time, one request at a time; what
 * is left goes at the end of the call. A report never delays call signalling (it is fire-and-forget,
 * after the call's own requests) and a failed one is dropped with a debug log: quality data is
 * best-effort.
 */
import type { QualitySampleWire } from '@parley/protocol/quality'
import type { QualitySample, QualityWarningName, StreamQuality } from './quality-stats.js'

/** The server's limit on samples per request (`MAX_QUALITY_BATCH`). */
const MAX_BATCH = 100

/** The compact wire form of a sample (protocol `QualitySampleWire`). */
export function toWire(sample: QualitySample, raised: readonly QualityWarningName[] = []): QualitySampleWire {
  const out: QualitySampleWire = {
    timestamp: Math.round(sample.timestamp),
    duration: Math.round(sample.duration),
  }
  if (sample.rtt !== undefined) out.rtt = sample.rtt
  if (sample.mos !== undefined) out.mos = sample.mos
  const stream = (s: StreamQuality | undefined) => {
    if (!s) return undefined
    const w: NonNullable<QualitySampleWire['audioIn']> = { bitrate: s.bitrate, packetLoss: s.packetLoss }
    if (s.jitter !== undefined) w.jitter = s.jitter
    if (s.framesPerSecond !== undefined) w.framesPerSecond = s.framesPerSecond
    if (s.width !== undefined) w.width = Math.round(s.width)
    if (s.height !== undefined) w.height = Math.round(s.height)
    return w
  }
  const parts = {
    audioIn: stream(sample.audio.inbound),
    audioOut: stream(sample.audio.outbound),
    videoIn: stream(sample.video.inbound),
    videoOut: stream(sample.video.outbound),
  }
  for (const [k, v] of Object.entries(parts)) if (v) out[k as keyof typeof parts] = v
  if (sample.warnings.length > 0) out.warnings = [...sample.warnings]
  if (raised.length > 0) out.raised = [...raised]
  return out
}

/** Where and how to send; `send` rejects on failure. */
export interface ReporterDeps {
  send: (samples: QualitySampleWire[], final: boolean) => Promise<unknown>
  debug: (message: string, err?: unknown) => void
}

/** The queue of one call's samples. */
export class QualityReporter {
  readonly #deps: ReporterDeps
  readonly #queue: QualitySampleWire[] = []
  #inFlight = false
  #dropped = 0

  constructor(deps: ReporterDeps) {
    this.#deps = deps
  }

  /** Samples waiting. */
  get pending(): number {
    return this.#queue.length
  }

  /** Samples dropped so far because the queue was full. */
  get dropped(): number {
    return this.#dropped
  }

  /** Queues a sample; sends a batch once `batchSize` are waiting and no request is in flight. */
  push(sample: QualitySampleWire, options: { batchSize: number; limit: number }): void {
    this.#queue.push(sample)
    while (this.#queue.length > Math.max(1, options.limit)) {
      this.#queue.shift()
      this.#dropped++
    }
    if (this.#queue.length >= options.batchSize) this.#send(Math.min(options.batchSize, MAX_BATCH), false)
  }

  /** Sends everything waiting (the end of the call), in requests of at most 100 samples. */
  flush(): void {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH)
      this.#deliver(batch, true)
    }
  }

  #send(count: number, final: boolean): void {
    if (this.#inFlight) return
    this.#deliver(this.#queue.splice(0, count), final)
  }

  #deliver(batch: QualitySampleWire[], final: boolean): void {
    if (batch.length === 0) return
    this.#inFlight = true
    let request: Promise<unknown>
    try {
      request = this.#deps.send(batch, final)
    } catch (err) {
      request = Promise.reject(err)
    }
    request
      .catch((err: unknown) =>
        this.#deps.debug(`quality report of ${batch.length} samples failed; dropped`, err),
      )
      .finally(() => {
        this.#inFlight = false
      })
  }
}
