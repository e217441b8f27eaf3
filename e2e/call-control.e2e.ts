/**
 * Call control in real Chromium, two users through the real server (issue #4): sendDTMF,
 * getStats, getAvailableCodecs, SDP handlers, restartMedia and the media connection state,
 * manual ringing feedback, ignore, and operations in a wrong state.
 */

import type { Page } from 'playwright-core'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  clearEvents,
  connectCall,
  inboundBytes,
  pageEvents,
  sdk,
  waitForCall,
  waitForEvent,
  waitForGrowth,
  waitForValue,
  usersFixture,
} from './harness.js'

const fixture = usersFixture(['alice', 'bob'], { timings: { livenessMs: 75_000, noAnswerMs: 6_000 } })
let alice: Page
let bob: Page
beforeEach(() => {
  ;[alice, bob] = fixture.pages() as [Page, Page]
})

/** SDP of the page's open peer connection: `local` or `remote` description. */
function descriptionOf(page: Page, which: 'local' | 'remote'): Promise<string> {
  return page.evaluate((w) => {
    const pcs = (window as unknown as { __parleyTest: { pcs: RTCPeerConnection[] } }).__parleyTest.pcs
    const pc = pcs.filter((p) => p.signalingState !== 'closed').at(-1)
    return (w === 'local' ? pc?.localDescription?.sdp : pc?.remoteDescription?.sdp) ?? ''
  }, which)
}
const ufrags = (sdp: string) => [...new Set([...sdp.matchAll(/^a=ice-ufrag:(\S+)/gm)].map((m) => m[1]))]

describe('sendDTMF (sdk-api §5.3.15, RFC 4733)', () => {
  it('plays the tones through the RTCDTMFSender with the given duration and gap; telephone-event is negotiated', async () => {
    const { callerId } = await connectCall(alice, bob, 'bob', { audio: true })
    await alice.evaluate(() => {
      const pcs = (window as unknown as { __parleyTest: { pcs: RTCPeerConnection[] } }).__parleyTest.pcs
      const pc = pcs.filter((p) => p.signalingState !== 'closed').at(-1)!
      const dtmf = pc.getSenders().find((s) => s.track?.kind === 'audio')!.dtmf!
      const w = window as unknown as { __tones: Array<{ tone: string; at: number }> }
      w.__tones = []
      dtmf.addEventListener('tonechange', (e) => w.__tones.push({ tone: e.tone, at: performance.now() }))
    })
    await clearEvents(alice)
    await sdk(alice, '(c, id) => c.call.sendDTMF(id, "12#", 120, 80)', callerId)
    const tones = await waitForValue(
      () => alice.evaluate('window.__tones') as Promise<Array<{ tone: string; at: number }>>,
      (t) => t.at(-1)?.tone === '',
      'the tone sequence to end',
    )
    expect(tones.map((t) => t.tone)).toEqual(['1', '2', '#', ''])
    // Each tone lasts its duration plus the gap (RTCDTMFSender timing, with scheduling slack).
    const span = tones.at(-1)!.at - tones[0]!.at
    expect(span).toBeGreaterThanOrEqual(3 * (120 + 80) - 30)
    expect((await pageEvents(alice, 'call:operation')).map((e) => e.payload.transition)).toEqual([
      'START',
      'FINISH',
    ])
    expect(await pageEvents(alice, 'call:error')).toEqual([])
    // RFC 4733 out-of-band: telephone-event negotiated in both directions, and the sender can insert
    // DTMF. (Chromium's stats count telephone-event packets in the audio stream's own counters and
    // list only codecs in use, so the packets cannot be told apart there; the audio keeps flowing.)
    expect(await descriptionOf(bob, 'remote')).toMatch(/a=rtpmap:\d+ telephone-event\/8000/)
    expect(await descriptionOf(alice, 'remote')).toMatch(/a=rtpmap:\d+ telephone-event\/8000/)
    expect(
      await alice.evaluate(() => {
        const pcs = (window as unknown as { __parleyTest: { pcs: RTCPeerConnection[] } }).__parleyTest.pcs
        const pc = pcs.filter((p) => p.signalingState !== 'closed').at(-1)!
        return pc.getSenders().find((s) => s.track?.kind === 'audio')!.dtmf!.canInsertDTMF
      }),
    ).toBe(true)
    const sent = await sdk<number>(
      alice,
      '(c, id) => c.call.getStats(id).then((m) => [...m.values()].find((s) => s.type === "outbound-rtp" && s.kind === "audio").packetsSent)',
      callerId,
    )
    expect(sent).toBeGreaterThan(0)
    await waitForGrowth(() => inboundBytes(bob, 'audio'), 'bob inbound audio after the tones')
    // A bad tone fails with call:7 and sends nothing.
    await sdk(alice, '(c, id) => c.call.sendDTMF(id, "x")', callerId)
    expect((await waitForEvent(alice, 'call:error')).error).toMatchObject({ code: 'call:7' })
  })
})

describe('getStats, getAvailableCodecs, SDP handlers (sdk-api §5.3.16, §5.3.18, §5.3.19)', () => {
  it('getStats resolves the whole report plus parley_sdk_info and emits call:statsReceived; per track only that track', async () => {
    const { callerId } = await connectCall(alice, bob, 'bob')
    await waitForGrowth(() => inboundBytes(alice, 'video'), 'alice inbound video')
    const summary = await sdk<{ types: string[]; info: Record<string, unknown> }>(
      alice,
      '(c, id) => c.call.getStats(id).then((m) => ({ types: [...new Set([...m.values()].map((s) => s.type))], info: m.get("parley_sdk_info") }))',
      callerId,
    )
    expect(summary.types).toEqual(
      expect.arrayContaining(['inbound-rtp', 'outbound-rtp', 'candidate-pair', 'parley_sdk_info']),
    )
    expect(summary.info).toMatchObject({ type: 'parley_sdk_info', sdk: 'parley', callId: callerId })
    const received = await waitForEvent(alice, 'call:statsReceived')
    expect(received.callId).toBe(callerId)
    expect(Object.keys(received.result as object).length).toBeGreaterThan(3)
    const remoteVideo = await sdk<string>(
      alice,
      '(c, id) => c.call.getById(id).remoteTracks.find((t) => c.media.getTrackById(t).kind === "video")',
      callerId,
    )
    const perTrack = await sdk<Array<{ type: string; kind?: string }>>(
      alice,
      '(c, id, t) => c.call.getStats(id, t).then((m) => [...m.values()].filter((s) => s.type === "inbound-rtp" || s.type === "outbound-rtp"))',
      callerId,
      remoteVideo,
    )
    expect(perTrack.map((s) => `${s.type}:${s.kind}`)).toEqual(['inbound-rtp:video'])
  })

  it('getAvailableCodecs lists the browser codecs; a codec remover set with setSdpHandlers shapes the next call; H264 never appears', async () => {
    const codecs = await sdk<string[]>(
      alice,
      '(c) => c.call.getAvailableCodecs("video").then((l) => l.map((x) => x.mimeType))',
    )
    expect(codecs).toContain('video/VP8')
    expect(codecs).toContain('video/VP9')
    expect((await waitForEvent(alice, 'call:availableCodecs')).kind).toBe('video')
    await alice.evaluate(`(() => {
      window.__handlerCalls = []
      const remover = Kandy.sdpHandlers.createCodecRemover(['VP9'])
      client.call.setSdpHandlers([
        (sdp, info, original) => { window.__handlerCalls.push(info.type + '/' + info.step + '/' + info.endpoint); return remover(sdp, info, original) },
      ])
    })()`)
    await connectCall(alice, bob, 'bob')
    const calls = (await alice.evaluate('window.__handlerCalls')) as string[]
    expect(calls).toEqual(
      expect.arrayContaining(['offer/set/local', 'offer/send/local', 'answer/set/remote']),
    )
    const offerAtBob = await descriptionOf(bob, 'remote')
    expect(offerAtBob).toMatch(/VP8\/90000/)
    expect(offerAtBob).not.toMatch(/VP9\/90000/)
    for (const page of [alice, bob])
      for (const which of ['local', 'remote'] as const)
        expect(await descriptionOf(page, which)).not.toMatch(/H264\/90000/)
    await waitForGrowth(() => inboundBytes(bob, 'video'), 'bob inbound video with VP8')
  })
})

describe('restartMedia and the media connection state (sdk-api §5.3.20, §5.4.10)', () => {
  it('an ICE restart renegotiates new ICE credentials on both sides and media resumes', async () => {
    const { callerId, calleeId } = await connectCall(alice, bob, 'bob')
    // The media connection state mirrors the ICE state and was reported on the way to connected.
    const c = await waitForCall(
      alice,
      (x) => ['connected', 'completed'].includes(x.mediaConnectionState as string),
      'ICE connected',
      callerId,
    )
    expect(c.mediaConnectionState).toMatch(/connected|completed/)
    const changes = (await pageEvents(alice, 'call:mediaConnectionChange')).map(
      (e) => (e.payload.previous as { state: string }).state,
    )
    expect(changes[0]).toBe('new')
    expect(changes).toContain('checking')
    const before = {
      alice: ufrags(await descriptionOf(alice, 'local')),
      bob: ufrags(await descriptionOf(bob, 'local')),
    }
    await clearEvents(alice)
    await clearEvents(bob)
    await sdk(alice, '(c, id) => c.call.restartMedia(id)', callerId)
    const done = await waitForEvent(alice, 'call:mediaRestart')
    expect(done.error).toBeUndefined()
    const after = {
      alice: ufrags(await descriptionOf(alice, 'local')),
      bob: ufrags(await descriptionOf(bob, 'local')),
    }
    expect(after.alice).toHaveLength(1)
    expect(after.alice[0]).not.toBe(before.alice[0])
    expect(after.bob[0]).not.toBe(before.bob[0])
    expect(ufrags(await descriptionOf(bob, 'remote'))).toEqual(after.alice)
    expect(
      (await pageEvents(alice, 'call:operation')).map(
        (e) => `${e.payload.operation}:${e.payload.transition}`,
      ),
    ).toEqual(['MEDIA_RESTART:START', 'MEDIA_RESTART:UPDATE', 'MEDIA_RESTART:FINISH'])
    await waitForCall(
      alice,
      (x) => ['connected', 'completed'].includes(x.mediaConnectionState as string),
      'ICE connected again',
      callerId,
    )
    await waitForGrowth(() => inboundBytes(bob, 'video'), 'bob inbound video after restart')
    await waitForGrowth(() => inboundBytes(alice, 'audio'), 'alice inbound audio after restart')
    expect((await waitForCall(bob, () => true, 'bob', calleeId)).state).toBe('Connected')
  })
})

describe('ringing feedback, ignore, wrong state (sdk-api §5.3.4, §5.3.5, §5.6)', () => {
  it("ringingFeedbackMode 'manual': the callee stays Initiated until sendRingingFeedback, then both ring", async () => {
    await bob.evaluate('client.updateConfig({ call: { ringingFeedbackMode: "manual" } })')
    await clearEvents(bob)
    const callerId = await sdk<string>(alice, '(c) => c.call.make("bob@example.com", { audio: true })')
    const calleeId = (await waitForEvent(bob, 'call:receive')).callId as string
    await waitForCall(bob, (c) => c.state === 'Initiated', 'bob Initiated', calleeId)
    await waitForCall(alice, (c) => c.state === 'Initiated', 'alice Initiated', callerId)
    await new Promise((r) => setTimeout(r, 500))
    expect((await waitForCall(alice, () => true, 'alice', callerId)).state).toBe('Initiated')
    await sdk(bob, '(c, id) => c.call.sendRingingFeedback(id)', calleeId)
    await waitForCall(bob, (c) => c.state === 'Ringing', 'bob Ringing', calleeId)
    await waitForCall(alice, (c) => c.state === 'Ringing', 'alice Ringing', callerId)
    const ringing = (await pageEvents(alice, 'call:stateChange')).find(
      (e) => (e.payload.previous as { state: string }).state === 'Initiated',
    )!
    expect(ringing.payload.transition).toEqual({ statusCode: 180, reasonText: 'Ringing' })
    await sdk(bob, '(c, id) => c.call.answer(id, { audio: true })', calleeId)
    await waitForCall(alice, (c) => c.state === 'Connected', 'alice Connected', callerId)
  })

  it('ignore: the callee ends locally and tells nobody; the caller rings on until the no-answer timer (408)', async () => {
    const deletes: string[] = []
    bob.on('request', (r) => {
      if (r.method() === 'DELETE' && r.url().includes('/sessions/')) deletes.push(r.url())
    })
    await clearEvents(bob)
    const callerId = await sdk<string>(alice, '(c) => c.call.make("bob@example.com", { audio: true })')
    const calleeId = (await waitForEvent(bob, 'call:receive')).callId as string
    await waitForCall(alice, (c) => c.state === 'Ringing', 'alice Ringing', callerId)
    await sdk(bob, '(c, id) => c.call.ignore(id)', calleeId)
    await waitForCall(bob, (c) => c.state === 'Ended', 'bob Ended', calleeId)
    expect((await pageEvents(bob, 'call:operation')).map((e) => e.payload.operation)).toEqual([
      'IGNORE',
      'IGNORE',
    ])
    await new Promise((r) => setTimeout(r, 1000))
    expect((await waitForCall(alice, () => true, 'alice', callerId)).state).toBe('Ringing')
    expect(deletes).toEqual([])
    await waitForCall(alice, (c) => c.state === 'Ended', 'alice Ended by the no-answer timer', callerId)
    const last = (await pageEvents(alice, 'call:stateChange')).at(-1)!
    expect(last.payload.transition).toMatchObject({ statusCode: 408 })
  })

  it('operations in a wrong state report call:6 the documented way and the call stays usable', async () => {
    const { callerId, calleeId } = await connectCall(alice, bob, 'bob')
    await clearEvents(bob)
    await sdk(bob, '(c, id) => c.call.answer(id, { audio: true })', calleeId)
    const err = await waitForEvent(bob, 'call:error')
    expect(err).toMatchObject({ callId: calleeId, operation: 'ANSWER', error: { code: 'call:6' } })
    expect(
      (await pageEvents(bob)).map((e) => e.type).filter((t) => t !== 'call:mediaConnectionChange'),
    ).toEqual(['call:operation', 'call:operation', 'call:stateChange', 'call:error'])
    await sdk(alice, '(c, id) => c.call.hold(id)', callerId)
    await waitForCall(alice, (c) => c.state === 'On Hold', 'alice On Hold', callerId)
    await clearEvents(alice)
    await sdk(alice, '(c, id) => c.call.startVideo(id)', callerId)
    expect((await waitForEvent(alice, 'call:newMedia')).error).toMatchObject({ code: 'call:6' })
    await sdk(alice, '(c, id) => c.call.sendDTMF(id, "1")', callerId)
    await waitForValue(
      () => pageEvents(alice, 'call:error'),
      (e) => e.length === 2,
      'two errors',
    )
    expect((await waitForCall(alice, () => true, 'alice', callerId)).state).toBe('On Hold')
    await sdk(alice, '(c, id) => c.call.unhold(id)', callerId)
    await waitForCall(bob, (c) => c.state === 'Connected', 'bob Connected', calleeId)
    await waitForGrowth(() => inboundBytes(bob, 'audio'), 'bob inbound audio after the errors')
  })
})
