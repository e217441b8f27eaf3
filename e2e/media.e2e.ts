/**
 * Mid-call media changes in real Chromium, two users through the real server (issue #4):
 * addMedia / removeMedia / startVideo / stopVideo, screen share, muteTracks and replaceTrack.
 * Each test asserts what the OTHER side sees: track events, rendered video, inbound media.
 */

import type { Page } from 'playwright-core'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  clearEvents,
  connectCall,
  inboundBytes,
  inboundStreams,
  pageEvents,
  playingVideos,
  sdk,
  videoBrightness,
  waitForCall,
  waitForEvent,
  waitForGrowth,
  waitForStall,
  waitForValue,
  usersFixture,
} from './harness.js'

const fixture = usersFixture(['alice', 'bob'], { timings: { livenessMs: 75_000, noAnswerMs: 60_000 } })
let alice: Page
let bob: Page
beforeEach(() => {
  ;[alice, bob] = fixture.pages() as [Page, Page]
})

const kinds = (page: Page, ids: unknown) =>
  sdk<string[]>(page, '(c, ids) => ids.map((id) => c.media.getTrackById(id).kind)', ids)

describe('addMedia / removeMedia / startVideo / stopVideo (sdk-api §5.3.10–5.3.13)', () => {
  it('startVideo on an audio call: the remote gets call:newMedia + track events and renders decoded video', async () => {
    const { callerId, calleeId } = await connectCall(alice, bob, 'bob', { audio: true })
    expect(await playingVideos(bob)).toBe(0)
    await clearEvents(bob)
    await sdk(alice, '(c, id) => c.call.startVideo(id)', callerId)
    const local = await waitForEvent(alice, 'call:newMedia', { local: true })
    expect(local.error).toBeUndefined()
    const remote = await waitForEvent(bob, 'call:newMedia', { local: false })
    expect(await kinds(bob, remote.tracks)).toEqual(['video'])
    const types = (await pageEvents(bob))
      .map((e) => e.type)
      .filter((t) => /^call:(operation|tracksAdded|newTrack|newMedia)$/.test(t))
    expect(types).toEqual(['call:operation', 'call:tracksAdded', 'call:newTrack', 'call:newMedia'])
    expect((await pageEvents(bob, 'call:operation'))[0]!.payload).toMatchObject({
      operation: 'ADD_MEDIA',
      transition: 'FINISH',
      isLocal: false,
    })
    const call = await waitForCall(
      bob,
      (c) => (c.remoteTracks as string[]).length === 2,
      'two remote tracks',
      calleeId,
    )
    expect(call.remoteTracks).toContain((remote.tracks as string[])[0])
    // The demo renders call:newTrack; the new video plays with decoded frames on bob's page.
    await bob.waitForFunction(
      () =>
        [...document.querySelectorAll('#remote-container video')].some(
          (v) => (v as HTMLVideoElement).videoWidth > 0,
        ),
      undefined,
      { timeout: 20_000 },
    )
    await waitForGrowth(
      async () =>
        (await inboundStreams(bob))
          .filter((s) => s.kind === 'video')
          .reduce((n, s) => n + s.framesDecoded, 0),
      'frames decoded by bob',
      5,
    )
  })

  it('stopVideo: the remote sees the video removed and its inbound video stops; audio keeps flowing', async () => {
    const { callerId, calleeId } = await connectCall(alice, bob, 'bob')
    await waitForGrowth(() => inboundBytes(bob, 'video'), 'bob inbound video')
    await clearEvents(bob)
    await sdk(alice, '(c, id) => c.call.stopVideo(id)', callerId)
    const removed = await waitForEvent(bob, 'call:removedMedia', { local: false })
    expect(await kinds(bob, removed.tracks)).toEqual(['video'])
    expect((await pageEvents(bob, 'call:trackEnded')).map((e) => e.payload.trackId)).toEqual(removed.tracks)
    const call = await waitForCall(
      bob,
      (c) => (c.remoteTracks as string[]).length === 1,
      'one remote track',
      calleeId,
    )
    expect(await kinds(bob, call.remoteTracks)).toEqual(['audio'])
    await waitForStall(() => inboundBytes(bob, 'video'), 'bob inbound video')
    await waitForGrowth(() => inboundBytes(bob, 'audio'), 'bob inbound audio')
    // Alice still receives bob's video (her m-line is recvonly now, protocol.md §10.3).
    await waitForGrowth(() => inboundBytes(alice, 'video'), 'alice inbound video')
    const aliceCall = await waitForCall(alice, (c) => c.state === 'Connected', 'alice connected', callerId)
    expect(await kinds(alice, aliceCall.localTracks)).toEqual(['audio'])
  })

  it('addMedia({ screen: true }) then removeMedia: the remote renders the screen as a second video and then drops it', async () => {
    const { callerId, calleeId } = await connectCall(alice, bob, 'bob')
    await bob.waitForFunction(
      () => document.querySelectorAll('#remote-container video').length === 1,
      undefined,
      {
        timeout: 20_000,
      },
    )
    await sdk(alice, '(c, id) => c.call.addMedia(id, { screen: true })', callerId)
    const local = await waitForEvent(alice, 'call:newMedia', { local: true })
    expect(local.error).toBeUndefined()
    const screenId = (local.tracks as string[])[0]!
    expect(await sdk(alice, '(c, id) => c.media.getTrackById(id).label', screenId)).toMatch(/screen/)
    const remote = await waitForEvent(bob, 'call:newMedia', { local: false })
    await waitForCall(bob, (c) => (c.remoteTracks as string[]).length === 3, 'three remote tracks', calleeId)
    await bob.waitForFunction(
      () =>
        [...document.querySelectorAll('#remote-container video')].filter(
          (v) => (v as HTMLVideoElement).videoWidth > 0,
        ).length === 2,
      undefined,
      { timeout: 20_000 },
    )
    const [remoteScreen] = remote.tracks as string[]
    await waitForGrowth(() => inboundBytes(bob, 'video', remoteScreen), 'bob inbound screen video')

    await clearEvents(bob)
    await sdk(alice, '(c, id, t) => c.call.removeMedia(id, [t])', callerId, screenId)
    const removed = await waitForEvent(bob, 'call:removedMedia', { local: false })
    expect(removed.tracks).toEqual([remoteScreen])
    await waitForCall(
      bob,
      (c) => (c.remoteTracks as string[]).length === 2,
      'two remote tracks again',
      calleeId,
    )
    await bob.waitForFunction(
      () => document.querySelectorAll('#remote-container video').length === 1,
      undefined,
      {
        timeout: 20_000,
      },
    )
    await waitForStall(() => inboundBytes(bob, 'video', remoteScreen), 'bob inbound screen video')
    expect(await sdk(alice, '(c, id) => c.media.getTrackById(id).state', screenId)).toBe('ended')
  })
})

describe('muteTracks / unmuteTracks (sdk-api §6.7) and replaceTrack (§5.3.17)', () => {
  it('a muted local track reaches the remote as silence and black frames — media keeps flowing', async () => {
    const { callerId } = await connectCall(alice, bob, 'bob')
    const call = await waitForCall(alice, (c) => c.state === 'Connected', 'connected', callerId)
    const bobCall = await waitForCall(
      bob,
      (c) => (c.remoteTracks as string[]).length === 2,
      'bob remote tracks',
    )
    const [remoteVideoId] = await sdk<string[]>(
      bob,
      '(c, ids) => ids.filter((id) => c.media.getTrackById(id).kind === "video")',
      bobCall.remoteTracks,
    )
    expect(remoteVideoId).toBeDefined()
    const energy = async () =>
      (await inboundStreams(bob))
        .filter((s) => s.kind === 'audio')
        .reduce((n, s) => n + s.totalAudioEnergy, 0)
    const frames = async () =>
      (await inboundStreams(bob)).filter((s) => s.kind === 'video').reduce((n, s) => n + s.framesDecoded, 0)
    /** Audio energy received in 1.5 s: the fake microphone's beep gives ~0.3 here, silence ~1e-8. */
    const energyRate = async () => {
      const a = await energy()
      await new Promise((r) => setTimeout(r, 1500))
      return (await energy()) - a
    }
    // Before: the fake camera is bright and the fake microphone beeps.
    await bob.waitForFunction(() => document.querySelector('#remote-container video') !== null, undefined, {
      timeout: 20_000,
    })
    await waitForValue(energyRate, (d) => d > 1e-4, 'sound at the remote before mute')
    await waitForValue(
      () => videoBrightness(bob, remoteVideoId!),
      (b) => b > 20,
      'a bright remote frame',
    )

    await sdk(alice, '(c, ids) => c.media.muteTracks(ids)', call.localTracks)
    const muted = await waitForEvent(alice, 'media:muted')
    expect((muted.trackIds as string[]).sort()).toEqual([...(call.localTracks as string[])].sort())
    // Silence: the energy stops rising; black: the frame goes dark — while bytes and frames keep coming.
    await waitForValue(energyRate, (d) => d < 1e-6, 'silence at the remote')
    await bob.waitForFunction(
      (id) => {
        const v = [...document.querySelectorAll('video')].find((el) =>
          ((el as HTMLVideoElement).srcObject as MediaStream | null)?.getTracks().some((t) => t.id === id),
        ) as HTMLVideoElement | undefined
        if (!v) return false
        const c = document.createElement('canvas')
        c.width = 32
        c.height = 24
        const ctx = c.getContext('2d')!
        ctx.drawImage(v, 0, 0, 32, 24)
        const d = ctx.getImageData(0, 0, 32, 24).data
        let max = 0
        for (let i = 0; i < d.length; i += 4) max = Math.max(max, d[i]!, d[i + 1]!, d[i + 2]!)
        return max < 16
      },
      remoteVideoId,
      { timeout: 20_000, polling: 200 },
    )
    await waitForGrowth(() => inboundBytes(bob, 'audio'), 'inbound audio bytes while muted')
    await waitForGrowth(() => inboundBytes(bob, 'video'), 'inbound video bytes while muted')
    await waitForGrowth(frames, 'frames decoded while muted')
    expect(await videoBrightness(bob, remoteVideoId!)).toBeLessThan(8)
    // No renegotiation and no track events on the remote side.
    expect(await pageEvents(bob, 'call:tracksRemoved')).toEqual([])

    await sdk(alice, '(c, ids) => c.media.unmuteTracks(ids)', call.localTracks)
    await waitForEvent(alice, 'media:unmuted')
    await waitForValue(energyRate, (d) => d > 1e-4, 'sound at the remote after unmute')
    await waitForValue(
      () => videoBrightness(bob, remoteVideoId!),
      (b) => b > 20,
      'a bright frame after unmute',
    )
  })

  it('replaceTrack swaps the camera without renegotiation: call:trackReplaced locally, nothing remotely, video keeps flowing', async () => {
    const { callerId } = await connectCall(alice, bob, 'bob')
    const call = await waitForCall(alice, (c) => c.state === 'Connected', 'connected', callerId)
    const [oldVideo] = await sdk<string[]>(
      alice,
      '(c, ids) => ids.filter((id) => c.media.getTrackById(id).kind === "video")',
      call.localTracks,
    )
    await clearEvents(bob)
    await clearEvents(alice)
    await sdk(
      alice,
      '(c, id, t) => c.call.replaceTrack(id, t, { video: true, videoOptions: { width: 320, height: 240 } })',
      callerId,
      oldVideo,
    )
    const replaced = await waitForEvent(alice, 'call:trackReplaced')
    expect(replaced.error).toBeUndefined()
    expect(replaced.oldTrack as { trackId: string; state: string }).toMatchObject({
      trackId: oldVideo,
      state: 'ended',
    })
    const after = await callOfAlice(callerId)
    expect(after.localTracks).toContain(replaced.newTrackId)
    expect(after.localTracks).not.toContain(oldVideo)
    expect(await pageEvents(alice, 'call:tracksAdded')).toEqual([])
    // Bob keeps receiving video, now at the new size, with no event and no renegotiation.
    await bob.waitForFunction(
      () =>
        [...document.querySelectorAll('#remote-container video')].some(
          (v) => (v as HTMLVideoElement).videoWidth === 320,
        ),
      undefined,
      { timeout: 20_000 },
    )
    await waitForGrowth(() => inboundBytes(bob, 'video'), 'bob inbound video after replace')
    expect(
      (await pageEvents(bob)).filter(
        (e) => e.type.startsWith('call:') && e.type !== 'call:mediaConnectionChange',
      ),
    ).toEqual([])
    expect(await pageEvents(bob, 'call:operation')).toEqual([])
  })
})

function callOfAlice(id: string) {
  return waitForCall(alice, () => true, 'alice call', id)
}

describe('media started while ringing (call.prepareAnswerMedia, issue 14)', () => {
  /** The senders of the page's open peer connection: kind and whether a track is on it. */
  const senders = (page: Page) =>
    page.evaluate(() => {
      const pcs = (window as unknown as { __parleyTest: { pcs: RTCPeerConnection[] } }).__parleyTest.pcs
      const pc = pcs.find((p) => p.signalingState !== 'closed')
      return (pc?.getTransceivers() ?? []).map((t) => ({
        kind: t.receiver.track.kind,
        sending: t.sender.track?.readyState === 'live',
        direction: t.currentDirection,
      }))
    })

  it('an audio-only answer to a video offer, after the ringing callee attached its early camera: only audio flows', async () => {
    await clearEvents(bob)
    const callerId = await sdk<string>(
      alice,
      "(c) => c.call.make('bob@example.com', { audio: true, video: true })",
    )
    const received = await waitForEvent(bob, 'call:receive')
    const calleeId = received.callId as string
    // The camera and microphone started while ringing are on bob's senders before he answers.
    await waitForValue(
      () => senders(bob),
      (s) => s.length === 2 && s.every((x) => x.sending),
      'early tracks on the senders',
    )
    await sdk(bob, '(c, id) => c.call.answer(id, { audio: true, video: false })', calleeId)
    await waitForCall(alice, (c) => c.state === 'Connected', 'caller Connected', callerId)
    await waitForCall(bob, (c) => c.state === 'Connected', 'callee Connected', calleeId)
    expect(await senders(bob)).toEqual([
      { kind: 'audio', sending: true, direction: 'sendrecv' },
      { kind: 'video', sending: false, direction: 'recvonly' },
    ])
    // alice hears bob and receives no video from him; bob's early camera is off.
    await waitForGrowth(() => inboundBytes(alice, 'audio'), 'audio bytes at alice', 2000)
    expect(await inboundBytes(alice, 'video')).toBe(0)
    expect(
      await bob.evaluate(() =>
        (window as unknown as { __parleyTest: { liveLocalTracks(): number } }).__parleyTest.liveLocalTracks(),
      ),
    ).toBe(1)
    await sdk(alice, '(c, id) => c.call.end(id)', callerId)
    await waitForCall(bob, (c) => c.state === 'Ended', 'callee Ended', calleeId)
  })
})
