/**
 * Call quality from the peer connection's own statistics (W3C webrtc-stats): pure functions that read
 * an `RTCStatsReport` into cumulative counters and turn two such snapshots into a quality sample —
 * bitrates from byte deltas, packet loss from packet deltas, jitter, round-trip time, frame rate and
 * resolution, and an audio MOS estimate (E-model). No timers, no browser objects beyond the report.
 * **[Parley extension]**
 */

/** Quality of one media stream direction (audio or video, inbound or outbound) over one sample interval. */
export interface StreamQuality {
  /** Kilobits per second over the interval, from the byte counters (RTP payload and headers). */
  bitrate: number
  /**
   * Fraction of packets lost, 0…1. Inbound: lost / (lost + received) over the interval. Outbound: the
   * far end's RTCP receiver report (`remote-inbound-rtp` `fractionLost`, RFC 3550 §6.4.1), else the delta of
   * its cumulative `packetsLost` over the packets sent.
   */
  packetLoss: number
  /** Interarrival jitter in milliseconds (RFC 3550 §6.4.1): measured here (inbound) or reported by the far end (outbound). */
  jitter?: number
  /** Video: frames per second decoded (inbound) or encoded (outbound). */
  framesPerSecond?: number
  /** Video: width in pixels of the last frame. */
  width?: number
  /** Video: height in pixels of the last frame. */
  height?: number
}

/**
 * One quality sample of a call, emitted as `call:qualityChange` every `call.quality.interval` ms.
 * **[Parley extension]**
 */
export interface QualitySample {
  /** The call it is about. */
  callId: string
  /** Milliseconds since the epoch when the stats were read. */
  timestamp: number
  /** Milliseconds covered by this sample (since the previous report). */
  duration: number
  /**
   * Round-trip time in milliseconds: the far end's RTCP reports (`remote-inbound-rtp` `roundTripTime`),
   * else the selected ICE candidate pair's `currentRoundTripTime` (STUN consent checks).
   */
  rtt?: number
  /** Audio received and sent. */
  audio: { inbound?: StreamQuality; outbound?: StreamQuality }
  /** Video received and sent. */
  video: { inbound?: StreamQuality; outbound?: StreamQuality }
  /**
   * Estimated listening quality of the received audio, 1 (bad) … 4.5 (best): the simplified E-model
   * (ITU-T G.107): `Le = RTT/2 + 2·jitter + 10` ms, `Id = 0.024·Le + 0.11·(Le − 177.3)·H(Le − 177.3)`,
   * `Ie,eff = Ie + (95 − Ie)·Ppl/(Ppl + Bpl)` (Ie = 0, Bpl = 25.1), `R = 93.2 − Id − Ie,eff`,
   * `MOS = 1 + 0.035·R + 7·10⁻⁶·R·(R − 60)·(100 − R)` (README "Call quality").
   */
  mos?: number
  /** Quality warnings in force after this sample (see `call:qualityWarning`). */
  warnings: QualityWarningName[]
}

/**
 * The quality warnings, named as in the Twilio Voice SDK where it has one (`high-rtt`, `high-jitter`,
 * `high-packet-loss`, `low-mos`); `frozen-video` and `silent-microphone` are Parley's names for video and
 * for Twilio's `constant-audio-input-level`.
 */
export type QualityWarningName =
  'high-rtt' | 'high-packet-loss' | 'high-jitter' | 'low-mos' | 'frozen-video' | 'silent-microphone'

/** Every warning name, in a fixed order. */
export const QUALITY_WARNINGS: readonly QualityWarningName[] = [
  'high-rtt',
  'high-packet-loss',
  'high-jitter',
  'low-mos',
  'frozen-video',
  'silent-microphone',
]

type Kind = 'audio' | 'video'

/** Cumulative counters of one direction and kind, summed over its RTP streams. */
export interface DirectionCounters {
  bytes: number
  packets: number
  /** Inbound: packets lost as counted here; outbound: as the far end reports (`remote-inbound-rtp`). */
  packetsLost: number
  /** Outbound: the far end's last `fractionLost`, when any stream has one. */
  fractionLost?: number
  /** Seconds (largest of the streams). */
  jitter?: number
  frames?: number
  framesPerSecond?: number
  width?: number
  height?: number
  /** Inbound audio: cumulative `totalAudioEnergy` of what was received. */
  totalAudioEnergy?: number
  /** Codec MIME type (`audio/opus`, `audio/PCMU`…) of the first stream. */
  mimeType?: string
}

/** What a stats report says, in cumulative counters; two of them make a sample. */
export interface StatsSnapshot {
  /** Milliseconds, the report's own clock (its newest `timestamp`): intervals are measured on it. */
  timestamp: number
  /** Milliseconds since the epoch when the report was read: the sample's `timestamp`. */
  wallClock: number
  inbound: Partial<Record<Kind, DirectionCounters>>
  outbound: Partial<Record<Kind, DirectionCounters>>
  /** Seconds, from RTCP (`remote-inbound-rtp`, audio first). */
  rtcpRtt?: number
  /** Seconds, from the selected candidate pair. */
  candidateRtt?: number
  /** The microphone as the sender sees it (`media-source` of kind audio), before muting or encoding. */
  audioSource?: { totalAudioEnergy?: number; audioLevel?: number }
}

type Stat = Record<string, unknown> & { type?: unknown; id?: unknown }

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const add = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : a + b
const max = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b)

/** Anything with `forEach(value, key)`: an `RTCStatsReport`, a `Map`, or a plain report in tests. */
export interface StatsLike {
  forEach(callback: (value: unknown, key: string) => void): void
}

/** Reads the counters of a stats report (webrtc-stats §3: `inbound-rtp`, `outbound-rtp`, `remote-inbound-rtp`, `candidate-pair`, `media-source`). */
export function readStats(report: StatsLike, now: number = Date.now()): StatsSnapshot {
  const all = new Map<string, Stat>()
  report.forEach((value, key) => {
    if (typeof value === 'object' && value !== null) all.set(key, value as Stat)
  })
  const snapshot: StatsSnapshot = { timestamp: now, wallClock: now, inbound: {}, outbound: {} }
  let latest: number | undefined
  let selectedPair: string | undefined
  for (const s of all.values())
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string')
      selectedPair = s.selectedCandidatePairId
  const kindOf = (s: Stat): Kind | undefined =>
    s.kind === 'audio' || s.kind === 'video'
      ? s.kind
      : s.mediaType === 'audio' || s.mediaType === 'video'
        ? s.mediaType
        : undefined
  const codecOf = (s: Stat): string | undefined => {
    const codec = typeof s.codecId === 'string' ? all.get(s.codecId) : undefined
    return typeof codec?.mimeType === 'string' ? codec.mimeType : undefined
  }
  const counters = (side: 'inbound' | 'outbound', kind: Kind): DirectionCounters =>
    (snapshot[side][kind] ??= { bytes: 0, packets: 0, packetsLost: 0 })
  let rtcpRtt: { audio?: number; video?: number } = {}
  for (const s of all.values()) {
    latest = max(latest, num(s.timestamp))
    const kind = kindOf(s)
    if (s.type === 'inbound-rtp' && kind) {
      const c = counters('inbound', kind)
      c.bytes += num(s.bytesReceived) ?? 0
      c.packets += num(s.packetsReceived) ?? 0
      c.packetsLost += Math.max(0, num(s.packetsLost) ?? 0)
      c.jitter = max(c.jitter, num(s.jitter))
      c.frames = add(c.frames, num(s.framesDecoded))
      c.framesPerSecond = max(c.framesPerSecond, num(s.framesPerSecond))
      c.width = max(c.width, num(s.frameWidth))
      c.height = max(c.height, num(s.frameHeight))
      c.totalAudioEnergy = add(c.totalAudioEnergy, num(s.totalAudioEnergy))
      c.mimeType ??= codecOf(s)
    } else if (s.type === 'outbound-rtp' && kind) {
      const c = counters('outbound', kind)
      c.bytes += num(s.bytesSent) ?? 0
      c.packets += num(s.packetsSent) ?? 0
      c.frames = add(c.frames, num(s.framesEncoded))
      c.framesPerSecond = max(c.framesPerSecond, num(s.framesPerSecond))
      c.width = max(c.width, num(s.frameWidth))
      c.height = max(c.height, num(s.frameHeight))
      c.mimeType ??= codecOf(s)
    } else if (s.type === 'remote-inbound-rtp' && kind) {
      // The far end's RTCP receiver reports about what we send (RFC 3550 §6.4.1).
      const c = counters('outbound', kind)
      c.packetsLost += Math.max(0, num(s.packetsLost) ?? 0)
      c.fractionLost = max(c.fractionLost, num(s.fractionLost))
      c.jitter = max(c.jitter, num(s.jitter))
      const rtt = num(s.roundTripTime)
      if (rtt !== undefined) rtcpRtt = { ...rtcpRtt, [kind]: max(rtcpRtt[kind], rtt) }
    } else if (s.type === 'media-source' && kind === 'audio') {
      snapshot.audioSource = {
        ...(num(s.totalAudioEnergy) !== undefined ? { totalAudioEnergy: num(s.totalAudioEnergy) } : {}),
        ...(num(s.audioLevel) !== undefined ? { audioLevel: num(s.audioLevel) } : {}),
      }
    } else if (s.type === 'candidate-pair') {
      const selected =
        selectedPair !== undefined ? s.id === selectedPair : s.nominated === true && s.state === 'succeeded'
      const rtt = num(s.currentRoundTripTime)
      if (selected && rtt !== undefined) snapshot.candidateRtt = rtt
    }
  }
  const rtt = rtcpRtt.audio ?? rtcpRtt.video
  if (rtt !== undefined) snapshot.rtcpRtt = rtt
  if (latest !== undefined) snapshot.timestamp = latest
  return snapshot
}

const round = (v: number, digits = 2): number => {
  const f = 10 ** digits
  return Math.round(v * f) / f
}
const clamp01 = (v: number): number => Math.min(1, Math.max(0, v))

function streamQuality(
  side: 'inbound' | 'outbound',
  kind: Kind,
  prev: DirectionCounters | undefined,
  cur: DirectionCounters,
  seconds: number,
): StreamQuality {
  const dBytes = Math.max(0, cur.bytes - (prev?.bytes ?? 0))
  const dPackets = Math.max(0, cur.packets - (prev?.packets ?? 0))
  const dLost = Math.max(0, cur.packetsLost - (prev?.packetsLost ?? 0))
  let packetLoss: number
  if (side === 'inbound') packetLoss = dLost + dPackets > 0 ? dLost / (dLost + dPackets) : 0
  else packetLoss = cur.fractionLost ?? (dPackets > 0 ? dLost / dPackets : 0)
  const out: StreamQuality = {
    bitrate: round((dBytes * 8) / seconds / 1000, 1),
    packetLoss: round(clamp01(packetLoss), 4),
  }
  if (cur.jitter !== undefined) out.jitter = round(cur.jitter * 1000, 1)
  if (kind === 'video') {
    const fps =
      cur.framesPerSecond ??
      (cur.frames !== undefined ? Math.max(0, cur.frames - (prev?.frames ?? 0)) / seconds : undefined)
    if (fps !== undefined) out.framesPerSecond = round(fps, 1)
    if (cur.width !== undefined) out.width = cur.width
    if (cur.height !== undefined) out.height = cur.height
  }
  return out
}

/**
 * The sample between two snapshots of the same peer connection, or `undefined` when they cannot be
 * compared (no time passed, or counters went backwards: a new peer connection).
 */
export function computeSample(
  callId: string,
  prev: StatsSnapshot,
  cur: StatsSnapshot,
): QualitySample | undefined {
  const ms = cur.timestamp - prev.timestamp
  if (!(ms > 0)) return undefined
  for (const side of ['inbound', 'outbound'] as const)
    for (const kind of ['audio', 'video'] as const) {
      const a = prev[side][kind]
      const b = cur[side][kind]
      if (a && b && (b.bytes < a.bytes || b.packets < a.packets)) return undefined
    }
  const seconds = ms / 1000
  const sample: QualitySample = {
    callId,
    timestamp: cur.wallClock,
    duration: ms,
    audio: {},
    video: {},
    warnings: [],
  }
  for (const side of ['inbound', 'outbound'] as const)
    for (const kind of ['audio', 'video'] as const) {
      const c = cur[side][kind]
      if (c && (c.packets > 0 || c.bytes > 0))
        sample[kind][side] = streamQuality(side, kind, prev[side][kind], c, seconds)
    }
  const rttSeconds = cur.rtcpRtt ?? cur.candidateRtt
  if (rttSeconds !== undefined) sample.rtt = round(rttSeconds * 1000, 1)
  const audioIn = sample.audio.inbound
  if (audioIn) {
    sample.mos = estimateMos({
      rtt: sample.rtt ?? 0,
      jitter: audioIn.jitter ?? 0,
      packetLoss: audioIn.packetLoss,
      codec: cur.inbound.audio?.mimeType,
    })
  }
  return sample
}

/** Codec constants of the E-model's loss impairment: Ie (equipment impairment) and Bpl (packet-loss robustness). */
export interface CodecImpairment {
  ie: number
  bpl: number
}

/**
 * ITU-T G.113 Appendix I: G.711 with packet loss concealment, Ie = 0, Bpl = 25.1 (also used for PCMA).
 * Opus has no G.113 entry; it is given the same constants, since at the bitrates WebRTC uses its coding
 * impairment is negligible and its concealment (RFC 6716 §4.4) at least as robust as G.711 Appendix I
 * PLC — an approximation, as in callstats' and LiveKit's estimates.
 */
export const CODEC_IMPAIRMENTS: Record<string, CodecImpairment> = {
  'audio/pcmu': { ie: 0, bpl: 25.1 },
  'audio/pcma': { ie: 0, bpl: 25.1 },
  'audio/opus': { ie: 0, bpl: 25.1 },
  /** G.722 (G.113 Appendix IV wideband values are on another scale): treated as G.711. */
  'audio/g722': { ie: 0, bpl: 25.1 },
}

/**
 * Estimated MOS of received audio from the simplified E-model (ITU-T G.107, simplified as in Cole &
 * Rosenbluth, "Voice over IP performance monitoring", ACM SIGCOMM CCR 2001, and as callstats and LiveKit
 * use it):
 *
 * - effective latency `Le = RTT/2 + 2·jitter + 10` ms (one-way delay, the jitter buffer, 10 ms of coding);
 * - delay impairment `Id = 0.024·Le + 0.11·(Le − 177.3)·H(Le − 177.3)` (H = 1 when its argument is > 0);
 * - effective equipment impairment `Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl + Bpl)` (G.107 §7.2 with
 *   BurstR = 1, random loss; `Ppl` the loss in percent, `Ie`/`Bpl` per codec from {@link CODEC_IMPAIRMENTS});
 * - `R = 93.2 − Id − Ie,eff` (93.2 = R0 − Is with G.107's default values);
 * - `MOS = 1 + 0.035·R + 7·10⁻⁶·R·(R − 60)·(100 − R)` for 0 < R < 100, 1 below, 4.5 above (G.107 Annex B).
 *
 * A clean loopback call scores about 4.4; 5 % random loss about 3.9; 300 ms RTT with 20 ms jitter about 4.2;
 * 20 % loss about 2.6.
 */
export function estimateMos(input: {
  rtt: number
  jitter: number
  packetLoss: number
  codec?: string | undefined
}): number {
  const le = input.rtt / 2 + 2 * input.jitter + 10
  const id = 0.024 * le + (le > 177.3 ? 0.11 * (le - 177.3) : 0)
  const { ie, bpl } = CODEC_IMPAIRMENTS[(input.codec ?? '').toLowerCase()] ?? { ie: 0, bpl: 25.1 }
  const ppl = clamp01(input.packetLoss) * 100
  const ieEff = ie + ((95 - ie) * ppl) / (ppl + bpl)
  const r = 93.2 - id - ieEff
  if (r <= 0) return 1
  if (r >= 100) return 4.5
  return round(Math.min(4.5, Math.max(1, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r))), 2)
}
