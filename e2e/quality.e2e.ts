/**
 * Call quality in real Chromium (issue 12): two users call through the real server; each page's SDK samples
 * its peer connection, emits `call:qualityChange` with plausible values, raises and clears warnings when
 * media is blocked and restored or the loopback link is congested, and reports its samples to the server, which serves them back and counts
 * them in `/metrics`.
 */

import { execFileSync } from 'node:child_process'
import type { Page } from 'playwright-core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  clearEvents,
  connectCall,
  pageEvents,
  sdk,
  usersFixture,
  waitForEvent,
  waitForValue,
} from './harness.js'

const fixture = usersFixture(['alice', 'bob'], {
  metricsPort: 0,
  timings: { livenessMs: 75_000, noAnswerMs: 60_000 },
})
let alice: Page
let bob: Page
/** The quality report URLs each page's SDK posted to. */
const reports = new Map<Page, string[]>()

/** Fast sampling for the test: 500 ms samples, warnings after 2 and cleared after 2, reports every 2 samples. */
const QUALITY = { interval: 500, raiseAfter: 2, clearAfter: 2, reportBatchSize: 2 }

beforeEach(async () => {
  ;[alice, bob] = fixture.pages() as [Page, Page]
  for (const page of [alice, bob]) {
    const urls: string[] = []
    reports.set(page, urls)
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().includes('/parley/v1/')) urls.push(r.url())
    })
    await sdk(page, '(c, quality) => c.updateConfig({ call: { quality } })', QUALITY)
  }
})

/**
 * Shapes the namespace's loopback (e2e/run.sh runs the tests under `unshare -n`, so this touches nothing
 * else). The kernel here has no netem; a token bucket far below the call's bitrate builds a queue instead,
 * which delays every packet (RTT) and drops what overflows it (loss), as a congested uplink does.
 */
const tc = (...args: string[]) =>
  execFileSync('tc', ['qdisc', ...args, 'dev', 'lo', 'root'], { stdio: 'pipe' })
let shaped = false
afterEach(() => {
  if (shaped) tc('del')
  shaped = false
})

interface Sample {
  callId: string
  timestamp: number
  rtt?: number
  mos?: number
  warnings: string[]
  audio: { inbound?: Stream; outbound?: Stream }
  video: { inbound?: Stream; outbound?: Stream }
}
interface Stream {
  bitrate: number
  packetLoss: number
  jitter?: number
  framesPerSecond?: number
  width?: number
  height?: number
}

const samples = async (page: Page): Promise<Sample[]> =>
  (await pageEvents(page, 'call:qualityChange')).map((e) => e.payload.sample as Sample)

/** Waits for a sample newer than `since` that satisfies `ok`. */
function waitForSample(page: Page, ok: (s: Sample) => boolean, what: string, since = 0): Promise<Sample[]> {
  return waitForValue(
    () => samples(page),
    (list) => list.some((s) => s.timestamp > since && ok(s)),
    what,
    20_000,
  )
}

/** Runs `fn(sender)` in the page on the RTCRtpSender of `kind` of its open peer connection. */
function onSender(page: Page, kind: 'audio' | 'video', fn: string): Promise<unknown> {
  return page.evaluate(
    ([k, body]) => {
      const t = (window as unknown as { __parleyTest: { pcs: RTCPeerConnection[] } }).__parleyTest
      const pc = t.pcs.find((p) => p.signalingState !== 'closed')!
      const sender = pc.getSenders().find((s) => s.track?.kind === k)!
      return new Function('sender', `return (${body})(sender)`)(sender) as unknown
    },
    [kind, fn] as const,
  )
}

describe('call quality (Parley extension, README "Call quality")', () => {
  it('a loopback call produces call:qualityChange samples with plausible values', async () => {
    const { callerId } = await connectCall(alice, bob, 'bob')
    const list = await waitForSample(
      alice,
      (s) => (s.video.inbound?.bitrate ?? 0) > 0 && s.mos !== undefined && s.rtt !== undefined,
      'a sample with video, MOS and RTT',
    )
    const s = list.find(
      (x) => (x.video.inbound?.bitrate ?? 0) > 0 && x.mos !== undefined && x.rtt !== undefined,
    )!
    expect(s.callId).toBe(callerId)
    expect(s.audio.inbound!.bitrate).toBeGreaterThan(0)
    expect(s.audio.outbound!.bitrate).toBeGreaterThan(0)
    expect(s.video.outbound!.bitrate).toBeGreaterThan(0)
    expect(s.mos).toBeGreaterThanOrEqual(1)
    expect(s.mos).toBeLessThanOrEqual(4.5)
    // Loopback: no loss to speak of, a clean MOS, and a round trip well under 50 ms.
    expect(s.mos).toBeGreaterThan(4)
    // RTT: the median of 5 samples, so that one RTCP report delayed by a busy machine does not decide.
    const withRtt = await waitForValue(
      async () => (await samples(alice)).filter((x) => x.rtt !== undefined),
      (list) => list.length >= 5,
      'five samples with an RTT',
      20_000,
    )
    const rtts = withRtt.map((x) => x.rtt!).sort((a, b) => a - b)
    expect(rtts[Math.floor(rtts.length / 2)], `RTTs ${JSON.stringify(rtts)}`).toBeLessThan(50)
    expect(s.audio.inbound!.packetLoss).toBeLessThan(0.02)
    // Chromium's fake camera: 640×480 (or scaled down by the encoder under load).
    expect(s.video.inbound!.width).toBeGreaterThan(0)
    expect(s.video.inbound!.height).toBeGreaterThan(0)
    expect(s.warnings).toEqual([])
    // A clean call raises nothing on either side.
    for (const page of [alice, bob]) expect(await pageEvents(page, 'call:qualityWarning')).toEqual([])
  })

  it('RTCRtpSender.setParameters: a 60 kbit/s cap shows in the receiver bitrate; paused video raises frozen-video, resumed clears it', async () => {
    await connectCall(alice, bob, 'bob')
    await waitForSample(
      bob,
      (s) => (s.video.inbound?.bitrate ?? 0) > 150,
      'bob receiving video above 150 kbit/s',
    )
    await onSender(
      alice,
      'video',
      '(s) => { const p = s.getParameters(); p.encodings[0].maxBitrate = 60000; return s.setParameters(p) }',
    )
    let since = Date.now()
    await waitForSample(
      bob,
      (s) => s.video.inbound !== undefined && s.video.inbound.bitrate < 90,
      'bob receiving video below 90 kbit/s after the 60 kbit/s cap',
      since,
    )

    await clearEvents(bob)
    await onSender(
      alice,
      'video',
      '(s) => { const p = s.getParameters(); p.encodings[0].active = false; return s.setParameters(p) }',
    )
    const raised = await waitForEvent(bob, 'call:qualityWarning', { warning: 'frozen-video' })
    expect(raised).toMatchObject({ warning: 'frozen-video', value: 0, threshold: 0 })
    await waitForSample(bob, (s) => s.warnings.includes('frozen-video'), 'a sample listing frozen-video')

    since = Date.now()
    await onSender(
      alice,
      'video',
      '(s) => { const p = s.getParameters(); p.encodings[0].active = true; delete p.encodings[0].maxBitrate; return s.setParameters(p) }',
    )
    await waitForEvent(bob, 'call:qualityWarningCleared', { warning: 'frozen-video' })
    await waitForSample(
      bob,
      (s) => !s.warnings.includes('frozen-video') && (s.video.inbound?.framesPerSecond ?? 0) > 0,
      'frames again',
      since,
    )
  })

  it('a microphone that goes silent while not muted raises silent-microphone; sound again clears it; muting does not', async () => {
    const { callerId } = await connectCall(alice, bob, 'bob')
    await waitForSample(alice, (s) => s.audio.outbound !== undefined, 'alice sending audio')
    await clearEvents(alice)
    // The track is disabled behind the SDK's back (as a dead or hardware-muted microphone sends silence).
    await onSender(alice, 'audio', '(s) => { s.track.enabled = false }')
    const raised = await waitForEvent(alice, 'call:qualityWarning', { warning: 'silent-microphone' })
    expect(raised.callId).toBe(callerId)
    await onSender(alice, 'audio', '(s) => { s.track.enabled = true }')
    await waitForEvent(alice, 'call:qualityWarningCleared', { warning: 'silent-microphone' })

    // Muting through the SDK is the user's choice: no warning while muted.
    await clearEvents(alice)
    await sdk(
      alice,
      '(c, id) => c.media.muteTracks(c.call.getById(id).localTracks.filter((t) => c.media.getTrackById(t).kind === "audio"))',
      callerId,
    )
    const since = Date.now()
    await waitForValue(
      () => samples(alice),
      (list) => list.filter((s) => s.timestamp > since).length >= 6,
      'six samples while muted',
      20_000,
    )
    expect((await pageEvents(alice, 'call:qualityWarning')).map((e) => e.payload.warning)).not.toContain(
      'silent-microphone',
    )
  })

  it("the server keeps both legs' samples, serves them to the participants, and /metrics has the aggregates", async () => {
    const { callerId } = await connectCall(alice, bob, 'bob')
    // Video must have started: a stream that never decoded a frame is not "frozen".
    await waitForSample(bob, (s) => (s.video.inbound?.framesPerSecond ?? 0) > 0, 'bob decoding video')
    await onSender(
      alice,
      'video',
      '(s) => { const p = s.getParameters(); p.encodings[0].active = false; return s.setParameters(p) }',
    )
    await waitForEvent(bob, 'call:qualityWarning', { warning: 'frozen-video' })
    const url = (
      await waitForValue(
        async () => reports.get(alice)!,
        (list) => list.length > 0,
        'alice posting a quality report',
        20_000,
      )
    )[0]!
    expect(url).toMatch(/\/parley\/v1\/alice\/sessions\/[^/]+\/quality$/)
    // End the call: the rest of the queue is flushed.
    await sdk(alice, '(c, id) => c.call.end(id)', callerId)
    const read = async () => {
      const res = await alice.evaluate(async (u) => {
        const token = (eval('client') as { getUserInfo(): { token: string } }).getUserInfo().token
        const r = await fetch(u, { headers: { Authorization: `Bearer ${token}` } })
        return { status: r.status, body: (await r.json()) as { samples: Array<Record<string, unknown>> } }
      }, url)
      expect(res.status).toBe(200)
      return res.body.samples
    }
    const sdkSamples = await samples(alice)
    const stored = await waitForValue(
      read,
      (list) =>
        // Everything alice's SDK sampled reached the server (the end of the call flushed the rest).
        list.filter((s) => s.username === 'alice').length === sdkSamples.length &&
        list.some(
          (s) => s.username === 'bob' && (s.raised as string[] | undefined)?.includes('frozen-video'),
        ),
      "samples of both legs on the server, bob's frozen-video among them",
      20_000,
    )
    const own = stored.filter((s) => s.username === 'alice')
    expect(own.every((s) => s.role === 'caller')).toBe(true)
    expect(own.some((s) => typeof s.mos === 'number' && (s.audioIn as { bitrate: number }).bitrate > 0)).toBe(
      true,
    )

    const metrics = await (await fetch(fixture.platform.server.metricsUrl!)).text()
    const value = (name: string) =>
      Number(
        metrics
          .split('\n')
          .find((l) => l.startsWith(`${name} `))
          ?.slice(name.length + 1) ?? NaN,
      )
    expect(value('parley_call_quality_samples_total')).toBeGreaterThanOrEqual(stored.length)
    expect(value('parley_call_quality_mos_count')).toBeGreaterThan(0)
    expect(value('parley_call_quality_rtt_seconds_count')).toBeGreaterThan(0)
    expect(value('parley_call_quality_packet_loss_ratio_count')).toBeGreaterThan(0)
    expect(value('parley_call_quality_jitter_seconds_count')).toBeGreaterThan(0)
    expect(value('parley_call_quality_rtt_seconds_bucket{le="0.05"}')).toBe(
      value('parley_call_quality_rtt_seconds_count'),
    )
    expect(value('parley_call_quality_warnings_total{warning="frozen-video"}')).toBeGreaterThanOrEqual(1)
  })

  it('a congested link (token bucket on loopback) raises high-rtt, high-packet-loss and low-mos (real queueing and drops); lifting it clears them', async () => {
    await connectCall(alice, bob, 'bob')
    await waitForSample(
      bob,
      (s) => (s.video.inbound?.bitrate ?? 0) > 150,
      'bob receiving video above 150 kbit/s',
    )
    await clearEvents(alice)
    await clearEvents(bob)
    execFileSync(
      'tc',
      ['qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', '300kbit', 'burst', '8kb', 'latency', '800ms'],
      { stdio: 'pipe' },
    )
    shaped = true
    const warnings = async () =>
      [
        ...(await pageEvents(alice, 'call:qualityWarning')),
        ...(await pageEvents(bob, 'call:qualityWarning')),
      ].map((e) => e.payload as { warning: string; value: number; threshold: number })
    const raised = await waitForValue(
      warnings,
      (w) => ['high-rtt', 'high-packet-loss', 'low-mos'].every((n) => w.some((x) => x.warning === n)),
      'high-rtt, high-packet-loss and low-mos on either side',
      30_000,
    )
    const rtt = raised.find((x) => x.warning === 'high-rtt')!
    expect(rtt.value).toBeGreaterThan(400)
    expect(rtt.threshold).toBe(400)
    const loss = raised.find((x) => x.warning === 'high-packet-loss')!
    expect(loss.value).toBeGreaterThan(0.03)
    tc('del')
    shaped = false
    // Every warning the congestion raised is cleared once the link is free again.
    const cleared = async () =>
      [
        ...(await pageEvents(alice, 'call:qualityWarningCleared')),
        ...(await pageEvents(bob, 'call:qualityWarningCleared')),
      ].map((e) => e.payload.warning as string)
    const names = [...new Set((await warnings()).map((x) => x.warning))]
    await waitForValue(
      async () => ({
        raised: [...new Set((await warnings()).map((x) => x.warning))],
        cleared: await cleared(),
      }),
      (v) => v.raised.every((w) => v.cleared.includes(w)),
      `${names.join(', ')} cleared after the link is free`,
      40_000,
    )
  })
})
