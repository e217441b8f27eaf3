import { describe, expect, it } from 'vitest'
import { QualityReporter, toWire } from './quality-report.js'
import {
  computeSample,
  estimateMos,
  readStats,
  type QualitySample,
  type StatsSnapshot,
} from './quality-stats.js'
import {
  activeWarnings,
  DEFAULT_THRESHOLDS,
  evaluateConditions,
  initialWarningState,
  stepWarnings,
  type Breach,
} from './quality-warnings.js'

/** A canned Chromium-like stats report of an audio+video call, at `t` ms with counters scaled by `n`. */
function report(
  t: number,
  n: number,
  over: {
    lostIn?: number
    framesDecoded?: number
    energy?: number
    rtt?: number
    jitter?: number
    fractionLost?: number
  } = {},
) {
  const entries: Record<string, unknown>[] = [
    { id: 'T01', type: 'transport', timestamp: t, selectedCandidatePairId: 'CP1' },
    {
      id: 'CP1',
      type: 'candidate-pair',
      timestamp: t,
      state: 'succeeded',
      nominated: true,
      currentRoundTripTime: 0.002,
    },
    { id: 'CP2', type: 'candidate-pair', timestamp: t, state: 'failed', currentRoundTripTime: 9 },
    { id: 'COpus', type: 'codec', timestamp: t, mimeType: 'audio/opus' },
    {
      id: 'IA',
      type: 'inbound-rtp',
      kind: 'audio',
      timestamp: t,
      codecId: 'COpus',
      bytesReceived: 5000 * n,
      packetsReceived: 50 * n,
      packetsLost: over.lostIn ?? 0,
      jitter: over.jitter ?? 0.004,
      totalAudioEnergy: n * 0.1,
    },
    {
      id: 'IV',
      type: 'inbound-rtp',
      kind: 'video',
      timestamp: t,
      bytesReceived: 100_000 * n,
      packetsReceived: 100 * n,
      packetsLost: 0,
      jitter: 0.01,
      framesDecoded: over.framesDecoded ?? 30 * n,
      framesPerSecond: 30,
      frameWidth: 640,
      frameHeight: 480,
    },
    { id: 'OA', type: 'outbound-rtp', kind: 'audio', timestamp: t, bytesSent: 4000 * n, packetsSent: 50 * n },
    {
      id: 'OV',
      type: 'outbound-rtp',
      kind: 'video',
      timestamp: t,
      bytesSent: 50_000 * n,
      packetsSent: 60 * n,
      framesEncoded: 30 * n,
      frameWidth: 320,
      frameHeight: 240,
    },
    {
      id: 'RA',
      type: 'remote-inbound-rtp',
      kind: 'audio',
      timestamp: t,
      packetsLost: 0,
      fractionLost: over.fractionLost ?? 0,
      roundTripTime: over.rtt ?? 0.004,
      jitter: 0.003,
    },
    {
      id: 'MA',
      type: 'media-source',
      kind: 'audio',
      timestamp: t,
      totalAudioEnergy: over.energy ?? n * 0.2,
      audioLevel: 0.3,
    },
  ]
  return new Map(entries.map((e) => [e.id as string, e]))
}

const snap = (t: number, n: number, over?: Parameters<typeof report>[2]): StatsSnapshot =>
  readStats(report(t, n, over), 1_700_000_000_000 + t)

describe('computeSample() on canned stats reports', () => {
  it('derives bitrates from byte deltas, loss, jitter, RTT, fps and resolution', () => {
    const sample = computeSample('c1', snap(1000, 1), snap(3000, 2))!
    // 5000 bytes in 2 s = 20 kbit/s; video 100 000 bytes in 2 s = 400 kbit/s.
    expect(sample.audio.inbound).toMatchObject({ bitrate: 20, packetLoss: 0, jitter: 4 })
    expect(sample.audio.outbound).toMatchObject({ bitrate: 16, packetLoss: 0, jitter: 3 })
    expect(sample.video.inbound).toEqual({
      bitrate: 400,
      packetLoss: 0,
      jitter: 10,
      framesPerSecond: 30,
      width: 640,
      height: 480,
    })
    // No framesPerSecond in the outbound stats: frames encoded over the interval.
    expect(sample.video.outbound).toMatchObject({
      bitrate: 200,
      framesPerSecond: 15,
      width: 320,
      height: 240,
    })
    expect(sample.rtt).toBe(4)
    expect(sample.duration).toBe(2000)
    expect(sample.timestamp).toBe(1_700_000_003_000)
    expect(sample.mos).toBeGreaterThan(4.3)
    expect(sample.mos).toBeLessThanOrEqual(4.5)
  })

  it('inbound loss is lost / (lost + received) over the interval; outbound loss the RTCP fractionLost', () => {
    const sample = computeSample('c1', snap(1000, 1), snap(2000, 2, { lostIn: 50, fractionLost: 0.1 }))!
    // 50 lost and 50 received in the interval: half of the packets.
    expect(sample.audio.inbound!.packetLoss).toBe(0.5)
    expect(sample.audio.outbound!.packetLoss).toBe(0.1)
    expect(sample.mos).toBeLessThan(2)
  })

  it('RTT falls back to the selected candidate pair without RTCP round-trip times', () => {
    const prev = report(1000, 1)
    const cur = report(2000, 2)
    prev.delete('RA')
    cur.delete('RA')
    expect(computeSample('c1', readStats(prev), readStats(cur))!.rtt).toBe(2)
  })

  it('is undefined when no time passed or counters went backwards (a new peer connection)', () => {
    expect(computeSample('c1', snap(1000, 2), snap(1000, 2))).toBeUndefined()
    expect(computeSample('c1', snap(1000, 5), snap(2000, 1))).toBeUndefined()
  })

  it('leaves out directions the report does not have', () => {
    const only = new Map([
      [
        'IA',
        { id: 'IA', type: 'inbound-rtp', kind: 'audio', timestamp: 1, bytesReceived: 0, packetsReceived: 0 },
      ],
    ])
    const later = new Map([
      [
        'IA',
        {
          id: 'IA',
          type: 'inbound-rtp',
          kind: 'audio',
          timestamp: 1001,
          bytesReceived: 1000,
          packetsReceived: 10,
        },
      ],
    ])
    const sample = computeSample('c1', readStats(only), readStats(later))!
    expect(sample.audio.outbound).toBeUndefined()
    expect(sample.video).toEqual({})
    expect(sample.rtt).toBeUndefined()
    expect(sample.audio.inbound!.bitrate).toBe(8)
  })
})

describe('estimateMos() — simplified E-model (ITU-T G.107)', () => {
  it('scores a clean call about 4.4 and degrades with loss, delay and jitter', () => {
    expect(estimateMos({ rtt: 2, jitter: 1, packetLoss: 0 })).toBeCloseTo(4.4, 1)
    expect(estimateMos({ rtt: 20, jitter: 5, packetLoss: 0.05 })).toBeCloseTo(3.9, 1)
    expect(estimateMos({ rtt: 300, jitter: 20, packetLoss: 0 })).toBeCloseTo(4.2, 1)
    expect(estimateMos({ rtt: 20, jitter: 5, packetLoss: 0.2 })).toBeCloseTo(2.6, 1)
    expect(estimateMos({ rtt: 2000, jitter: 200, packetLoss: 0.5 })).toBe(1)
  })

  it('is R = 93.2 − Id − Ie,eff mapped by G.107 Annex B', () => {
    // Le = 100/2 + 2·10 + 10 = 80 ms → Id = 1.92; Ppl = 2 % → Ie,eff = 95·2/27.1 = 7.011; R = 84.269.
    const r = 93.2 - 0.024 * 80 - (95 * 2) / (2 + 25.1)
    const mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)
    expect(estimateMos({ rtt: 100, jitter: 10, packetLoss: 0.02, codec: 'audio/PCMU' })).toBeCloseTo(mos, 2)
  })
})

const options = { raiseAfter: 3, clearAfter: 2 }
const facts = { sendingAudio: true, receivingVideo: true }

describe('warnings with hysteresis', () => {
  it('high-rtt is raised after 3 samples above 400 ms and cleared after 2 within', () => {
    let state = initialWarningState()
    const events: string[] = []
    const feed = (rtt: number) => {
      const step = stepWarnings(
        state,
        { 'high-rtt': rtt > 400 ? { value: rtt, threshold: 400 } : false },
        options,
      )
      state = step.state
      events.push(...step.raised.map((r) => `+${r.warning}@${r.value}`), ...step.cleared.map((w) => `-${w}`))
    }
    for (const rtt of [500, 500, 20, 500, 500, 600]) feed(rtt)
    expect(events).toEqual(['+high-rtt@600'])
    expect(activeWarnings(state)).toEqual(['high-rtt'])
    for (const rtt of [20, 700, 20, 20]) feed(rtt)
    expect(events).toEqual(['+high-rtt@600', '-high-rtt'])
    expect(activeWarnings(state)).toEqual([])
  })

  it('a condition that cannot be measured keeps a pending streak, and clears a raised warning', () => {
    let step = stepWarnings(initialWarningState(), { 'low-mos': { value: 2, threshold: 3.5 } }, options)
    step = stepWarnings(step.state, {}, options)
    step = stepWarnings(step.state, { 'low-mos': { value: 2, threshold: 3.5 } }, options)
    step = stepWarnings(step.state, { 'low-mos': { value: 2, threshold: 3.5 } }, options)
    expect(step.raised.map((r) => r.warning)).toEqual(['low-mos'])
    step = stepWarnings(step.state, {}, options)
    step = stepWarnings(step.state, {}, options)
    expect(step.cleared).toEqual(['low-mos'])
  })

  it('evaluateConditions: thresholds of rtt, loss, jitter and MOS', () => {
    const prev = snap(1000, 1)
    const cur = snap(2000, 2, { rtt: 0.5, jitter: 0.05, lostIn: 20 })
    const sample = computeSample('c1', prev, cur)!
    const c = evaluateConditions(sample, prev, cur, facts, DEFAULT_THRESHOLDS)
    expect(c['high-rtt']).toEqual({ value: 500, threshold: 400 })
    expect((c['high-packet-loss'] as Breach).value).toBeCloseTo(20 / 70, 3)
    expect(c['high-jitter']).toEqual({ value: 50, threshold: 30 })
    expect((c['low-mos'] as Breach).value).toBeLessThan(3.5)
    expect(c['frozen-video']).toBe(false)
    expect(c['silent-microphone']).toBe(false)
    const fine = computeSample('c1', snap(1000, 1), snap(2000, 2))!
    expect(evaluateConditions(fine, snap(1000, 1), snap(2000, 2), facts, DEFAULT_THRESHOLDS)).toEqual({
      'high-rtt': false,
      'high-packet-loss': false,
      'high-jitter': false,
      'low-mos': false,
      'frozen-video': false,
      'silent-microphone': false,
    })
  })

  it('frozen-video: no frames decoded while video is received; nothing when no video is expected', () => {
    const prev = snap(1000, 1)
    const cur = snap(2000, 2, { framesDecoded: 30 })
    const sample = computeSample('c1', prev, cur)!
    expect(evaluateConditions(sample, prev, cur, facts, DEFAULT_THRESHOLDS)['frozen-video']).toEqual({
      value: 0,
      threshold: 0,
    })
    const noVideo = { ...facts, receivingVideo: false }
    expect(evaluateConditions(sample, prev, cur, noVideo, DEFAULT_THRESHOLDS)['frozen-video']).toBeUndefined()
  })

  it('silent-microphone: the microphone energy stops growing while sending unmuted; muted is not silent', () => {
    const prev = snap(1000, 1, { energy: 0.5 })
    const cur = snap(2000, 2, { energy: 0.5 })
    const sample = computeSample('c1', prev, cur)!
    expect(evaluateConditions(sample, prev, cur, facts, DEFAULT_THRESHOLDS)['silent-microphone']).toEqual({
      value: 0,
      threshold: 0,
    })
    const muted = { ...facts, sendingAudio: false }
    expect(
      evaluateConditions(sample, prev, cur, muted, DEFAULT_THRESHOLDS)['silent-microphone'],
    ).toBeUndefined()
  })
})

describe('QualityReporter: batched, bounded, never blocking', () => {
  const sample = (timestamp: number): QualitySample => ({
    callId: 'c1',
    timestamp,
    duration: 2000,
    rtt: 3,
    mos: 4.4,
    audio: { inbound: { bitrate: 30, packetLoss: 0, jitter: 2 } },
    video: {},
    warnings: ['high-rtt'],
  })

  it('toWire() is the compact form with the raised warnings', () => {
    expect(toWire(sample(5), ['high-rtt'])).toEqual({
      timestamp: 5,
      duration: 2000,
      rtt: 3,
      mos: 4.4,
      audioIn: { bitrate: 30, packetLoss: 0, jitter: 2 },
      warnings: ['high-rtt'],
      raised: ['high-rtt'],
    })
  })

  it('sends a batch every batchSize samples, one request at a time, drops the oldest beyond the limit, flushes the rest', async () => {
    const sent: Array<{ ts: number[]; final: boolean }> = []
    let release: () => void = () => {}
    const reporter = new QualityReporter({
      send: (samples, final) => {
        sent.push({ ts: samples.map((s) => s.timestamp), final })
        return new Promise<void>((resolve) => (release = resolve))
      },
      debug: () => {},
    })
    const opts = { batchSize: 2, limit: 3 }
    reporter.push(toWire(sample(1)), opts)
    reporter.push(toWire(sample(2)), opts)
    expect(sent).toEqual([{ ts: [1, 2], final: false }])
    // The first request is still in flight: samples wait, and the queue keeps the newest 3.
    for (const t of [3, 4, 5, 6]) reporter.push(toWire(sample(t)), opts)
    expect(sent).toHaveLength(1)
    expect(reporter.pending).toBe(3)
    expect(reporter.dropped).toBe(1)
    release()
    await new Promise((r) => setTimeout(r, 0))
    reporter.push(toWire(sample(7)), opts)
    expect(sent[1]).toEqual({ ts: [5, 6], final: false })
    reporter.flush()
    expect(sent[2]).toEqual({ ts: [7], final: true })
    expect(reporter.pending).toBe(0)
  })

  it('a failed or throwing send is only logged', async () => {
    const logged: string[] = []
    const reporter = new QualityReporter({
      send: () => {
        throw new Error('offline')
      },
      debug: (message) => logged.push(message),
    })
    reporter.push(toWire(sample(1)), { batchSize: 1, limit: 10 })
    await new Promise((r) => setTimeout(r, 0))
    expect(logged).toEqual(['quality report of 1 samples failed; dropped'])
  })
})
