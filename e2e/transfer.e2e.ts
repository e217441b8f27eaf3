/**
 * Forward, direct (blind) and consultative transfer in real Chromium: three users in three pages
 * through the real server (sdk-api §5.3.23; protocol.md §8.6, §8.7, §9.4, §11.15–11.17). Each test
 * ends with the parties that were joined really talking: inbound media between them grows.
 */

import type { Page } from 'playwright-core'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  clearEvents,
  connectCall,
  inboundBytes,
  leftovers,
  pageEvents,
  sdk,
  waitForCall,
  waitForEvent,
  waitForGrowth,
  waitForValue,
  usersFixture,
} from './harness.js'

const fixture = usersFixture(['alice', 'bob', 'carol'], {
  timings: { livenessMs: 75_000, noAnswerMs: 60_000, transferMs: 10_000 },
})
let alice: Page
let bob: Page
let carol: Page
beforeEach(() => {
  ;[alice, bob, carol] = fixture.pages() as [Page, Page, Page]
})

/** Both pages receive audio and video from each other, growing. */
async function talking(a: Page, b: Page): Promise<void> {
  for (const page of [a, b]) {
    await waitForGrowth(() => inboundBytes(page, 'audio'), 'inbound audio')
    await waitForGrowth(() => inboundBytes(page, 'video'), 'inbound video')
  }
}

describe('forward (sdk-api §5.3.23, protocol.md §11.15)', () => {
  it('the callee forwards a ringing call to carol: bob Ended, alice keeps ringing, carol answers and talks to alice', async () => {
    await clearEvents(bob)
    const callerId = await sdk<string>(
      alice,
      '(c) => c.call.make("bob@example.com", { audio: true, video: true })',
    )
    const bobCallId = (await waitForEvent(bob, 'call:receive')).callId as string
    await waitForCall(bob, (c) => c.state === 'Ringing', 'bob Ringing', bobCallId)
    await sdk(bob, '(c, id) => c.call.forward(id, "carol@example.com")', bobCallId)
    await waitForCall(bob, (c) => c.state === 'Ended', 'bob Ended', bobCallId)
    expect((await pageEvents(bob, 'call:operation')).map((e) => e.payload.transition)).toEqual([
      'START',
      'FINISH',
    ])
    expect(await pageEvents(bob, 'call:error')).toEqual([])
    expect(await leftovers(bob)).toEqual({ pcs: 0, tracks: 0 })

    const received = await waitForEvent(carol, 'call:receive')
    const carolCallId = received.callId as string
    const incoming = await waitForCall(carol, (c) => c.state === 'Ringing', 'carol Ringing', carolCallId)
    expect(incoming.remoteParticipant).toMatchObject({ displayNumber: 'alice@example.com' })
    expect((await waitForCall(alice, () => true, 'alice', callerId)).state).toMatch(/Initiated|Ringing/)
    expect(await pageEvents(alice, 'call:error')).toEqual([])

    await sdk(carol, '(c, id) => c.call.answer(id, { audio: true, video: true })', carolCallId)
    await waitForCall(alice, (c) => c.state === 'Connected', 'alice Connected', callerId)
    await waitForCall(carol, (c) => c.state === 'Connected', 'carol Connected', carolCallId)
    await talking(alice, carol)
  })
})

describe('directTransfer (sdk-api §5.3.23, protocol.md §11.16)', () => {
  it('alice holds bob and transfers him to carol: bob rebuilds and re-offers (slow start), carol answers, bob and carol talk, alice Ended', async () => {
    const { callerId, calleeId } = await connectCall(alice, bob, 'bob')
    await sdk(alice, '(c, id) => c.call.directTransfer(id, "carol@example.com")', callerId)
    expect((await waitForEvent(alice, 'call:error')).error).toMatchObject({ code: 'call:6' })
    await sdk(alice, '(c, id) => c.call.hold(id)', callerId)
    await waitForCall(bob, (c) => c.remoteHold === true, 'bob held', calleeId)
    await waitForCall(alice, (c) => c.localHold === true, 'alice held', callerId)
    await clearEvents(alice)
    await clearEvents(bob)
    await clearEvents(carol)

    await sdk(alice, '(c, id) => c.call.directTransfer(id, "carol@example.com")', callerId)
    await waitForEvent(alice, 'call:operation', { operation: 'DIRECT_TRANSFER', transition: 'UPDATE' })
    const received = await waitForEvent(carol, 'call:receive')
    const carolCallId = received.callId as string
    const incoming = await waitForCall(carol, (c) => c.state === 'Ringing', 'carol Ringing', carolCallId)
    // The invitation carries bob's fresh offer, from bob.
    expect(incoming.remoteParticipant).toMatchObject({ displayNumber: 'bob@example.com' })
    await sdk(carol, '(c, id) => c.call.answer(id, { audio: true, video: true })', carolCallId)

    const b = await waitForCall(bob, (c) => c.state === 'Connected', 'bob Connected with carol', calleeId)
    expect([b.localHold, b.remoteHold]).toEqual([false, false])
    expect(b.localTracks).toHaveLength(2)
    expect(b.remoteTracks).toHaveLength(2)
    // To bob it is the remote side unholding (sdk-api §5.3.23).
    expect((await pageEvents(bob, 'call:operation')).map((e) => e.payload)).toEqual([
      { callId: calleeId, operation: 'UNHOLD', transition: 'FINISH', isLocal: false },
    ])
    expect(await pageEvents(bob, 'call:error')).toEqual([])
    await waitForCall(alice, (c) => c.state === 'Ended', 'alice Ended', callerId)
    const finish = await waitForEvent(alice, 'call:operation', {
      operation: 'DIRECT_TRANSFER',
      transition: 'FINISH',
    })
    expect(finish.error).toBeUndefined()
    expect(await pageEvents(alice, 'call:error')).toEqual([])
    await waitForValue(
      () => leftovers(alice),
      (l) => l.pcs === 0 && l.tracks === 0,
      'alice released everything',
    )
    // Bob's old peer connection is closed; one is open, with carol.
    expect((await leftovers(bob)).pcs).toBe(1)
    await talking(bob, carol)
    await bob.waitForFunction(
      () =>
        [...document.querySelectorAll('#remote-container video')].some(
          (v) => (v as HTMLVideoElement).videoWidth > 0,
        ),
      undefined,
      { timeout: 20_000 },
    )
  })
})

describe('consultativeTransfer (sdk-api §5.3.23, protocol.md §11.17)', () => {
  it('alice holds bob and carol and joins them: both see a remote unhold and talk to each other; both of alice calls end', async () => {
    const call1 = await connectCall(alice, bob, 'bob')
    await sdk(alice, '(c, id) => c.call.hold(id)', call1.callerId)
    await waitForCall(alice, (c) => c.localHold === true, 'call 1 held', call1.callerId)
    const call2 = await connectCall(alice, carol, 'carol')
    await sdk(alice, '(c, id) => c.call.hold(id)', call2.callerId)
    await waitForCall(alice, (c) => c.localHold === true, 'call 2 held', call2.callerId)
    await waitForCall(carol, (c) => c.remoteHold === true, 'carol held', call2.calleeId)
    for (const p of [alice, bob, carol]) await clearEvents(p)

    await sdk(alice, '(c, a, b) => c.call.consultativeTransfer(a, b)', call1.callerId, call2.callerId)
    const b = await waitForCall(
      bob,
      (c) => c.state === 'Connected',
      'bob Connected with carol',
      call1.calleeId,
    )
    const c = await waitForCall(
      carol,
      (x) => x.state === 'Connected',
      'carol Connected with bob',
      call2.calleeId,
    )
    for (const x of [b, c]) {
      expect([x.localHold, x.remoteHold]).toEqual([false, false])
      expect(x.remoteTracks).toHaveLength(2)
    }
    for (const [page, id] of [
      [bob, call1.calleeId],
      [carol, call2.calleeId],
    ] as const) {
      await waitForEvent(page, 'call:operation', { callId: id, operation: 'UNHOLD', isLocal: false })
      expect(await pageEvents(page, 'call:error')).toEqual([])
    }
    await waitForCall(alice, (x) => x.state === 'Ended', 'call 1 Ended', call1.callerId)
    await waitForCall(alice, (x) => x.state === 'Ended', 'call 2 Ended', call2.callerId)
    const finishes = (await pageEvents(alice, 'call:operation')).filter(
      (e) => e.payload.operation === 'CONSULTATIVE_TRANSFER' && e.payload.transition === 'FINISH',
    )
    expect(finishes.map((e) => [e.payload.callId, e.payload.error]).sort()).toEqual(
      [
        [call1.callerId, undefined],
        [call2.callerId, undefined],
      ].sort(),
    )
    expect(await pageEvents(alice, 'call:error')).toEqual([])
    await talking(bob, carol)
  })
})
