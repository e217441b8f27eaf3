/**
 * Call quality reports (Parley extension, issue 12): what the SDK posts to
 * `POST /parley/v1/{username}/sessions/{legId}/quality` and what `GET` on the same path returns. Samples are
 * the SDK's `call:qualityChange` samples in a flat, compact form; every number is bounded so that a client
 * cannot store absurd values.
 */
import { Type, type Static } from '@sinclair/typebox'

/** The warning names (the SDK's `call:qualityWarning`), a fixed set: they label a metric. */
export const QUALITY_WARNING_NAMES = [
  'high-rtt',
  'high-packet-loss',
  'high-jitter',
  'low-mos',
  'frozen-video',
  'silent-microphone',
] as const
export type QualityWarningWire = (typeof QUALITY_WARNING_NAMES)[number]

/** Most samples in one report (the SDK sends 5 every 10 s by default). */
export const MAX_QUALITY_BATCH = 100

const Warning = Type.Union(QUALITY_WARNING_NAMES.map((w) => Type.Literal(w)))
const Warnings = Type.Array(Warning, { maxItems: QUALITY_WARNING_NAMES.length, uniqueItems: true })

/** One direction of one media kind over a sample. */
export const QualityStreamWire = Type.Object({
  /** kbit/s. */
  bitrate: Type.Number({ minimum: 0, maximum: 1_000_000 }),
  /** Fraction lost, 0…1. */
  packetLoss: Type.Number({ minimum: 0, maximum: 1 }),
  /** Milliseconds. */
  jitter: Type.Optional(Type.Number({ minimum: 0, maximum: 60_000 })),
  framesPerSecond: Type.Optional(Type.Number({ minimum: 0, maximum: 1000 })),
  width: Type.Optional(Type.Integer({ minimum: 0, maximum: 16_384 })),
  height: Type.Optional(Type.Integer({ minimum: 0, maximum: 16_384 })),
})
export type QualityStreamWire = Static<typeof QualityStreamWire>

/** One quality sample as reported. */
export const QualitySampleWire = Type.Object({
  /** Milliseconds since the epoch (the client's clock). */
  timestamp: Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 }),
  /** Milliseconds covered by the sample. */
  duration: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
  /** Round-trip time, milliseconds. */
  rtt: Type.Optional(Type.Number({ minimum: 0, maximum: 60_000 })),
  /** E-model MOS estimate of received audio. */
  mos: Type.Optional(Type.Number({ minimum: 1, maximum: 4.5 })),
  audioIn: Type.Optional(QualityStreamWire),
  audioOut: Type.Optional(QualityStreamWire),
  videoIn: Type.Optional(QualityStreamWire),
  videoOut: Type.Optional(QualityStreamWire),
  /** Warnings in force after the sample. */
  warnings: Type.Optional(Warnings),
  /** Warnings raised by this sample (counted once each in `/metrics`). */
  raised: Type.Optional(Warnings),
})
export type QualitySampleWire = Static<typeof QualitySampleWire>

/** `POST /parley/v1/{username}/sessions/{legId}/quality`. */
export const QualityReportBody = Type.Object({
  clientCorrelator: Type.Optional(Type.String({ maxLength: 256 })),
  samples: Type.Array(QualitySampleWire, { minItems: 1, maxItems: MAX_QUALITY_BATCH }),
})
export type QualityReportBody = Static<typeof QualityReportBody>

/** A stored sample with the leg that reported it. */
export const QualityLegSample = Type.Intersect([
  Type.Object({
    legId: Type.String(),
    role: Type.Union([Type.Literal('caller'), Type.Literal('callee')]),
    username: Type.String(),
  }),
  QualitySampleWire,
])
export type QualityLegSample = Static<typeof QualityLegSample>

/** `GET /parley/v1/{username}/sessions/{legId}/quality`: every leg's samples of the call, oldest first. */
export const QualityReportResponse = Type.Object({
  callId: Type.String(),
  samples: Type.Array(QualityLegSample),
})
export type QualityReportResponse = Static<typeof QualityReportResponse>
