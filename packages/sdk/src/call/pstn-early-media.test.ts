// @vitest-environment happy-dom
/**
 * Early media of a call to a phone number (issue 11): the server's Ringing event carries Parley's `earlyMedia`
 * extension (docs/protocol.md §9.5) when the far end sent a SIP 183 with SDP. The caller applies it as a
 * provisional answer: `Early Media` with the remote tracks (sdk-api §5.5.1 C8), then the acceptance connects it
 * (C11) without reporting those tracks again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeServer } from '../test-support/fake-server.js'
import { makeClient, subscribe, tick, until, type TestClient } from '../test-support/harness.js'

let server: FakeServer
let alice: TestClient
let bob: TestClient

beforeEach(async () => {
  server = new FakeServer(['alice', 'bob'])
  alice = makeClient(server, 'alice')
  bob = makeClient(server, 'bob')
  await subscribe(alice)
  await subscribe(bob)
})

afterEach(async () => {
  alice.api.destroy()
  bob.api.destroy()
  await tick()
})

describe('early media on a Ringing event (earlyMedia.sdp)', () => {
  it('the caller goes Early Media with the remote tracks (183), then Connected on the acceptance, tracks reported once', async () => {
    const callId = alice.api.call.make('bob@example.com', { audio: true, video: false })
    const received = await bob.rec.waitFor('call:receive')
    const bobCallId = received.callId as string
    await until(() => alice.api.call.getById(callId)?.state === 'Ringing', 3000, 'alice Ringing')
    const callerLeg = server.legOf('alice', 'caller')!
    // The far end's provisional answer (its m-lines match the offer's, sendrecv).
    const early = server.calls.get(callerLeg.callId)!.offerSdp
    server.pushToLeg(callerLeg.id, 'wrtcsEventNotification', {
      eventType: 'Ringing',
      statusCode: 180,
      reasonText: 'Ringing',
      earlyMedia: { sdp: early },
    })
    await until(() => alice.api.call.getById(callId)?.state === 'Early Media', 3000, 'alice Early Media')
    const change = alice.rec.of('call:stateChange').at(-1)
    expect(change).toMatchObject({
      callId,
      previous: { state: 'Ringing' },
      transition: { statusCode: 183, reasonText: 'Session Progress' },
    })
    const remote = alice.api.call.getById(callId)!.remoteTracks
    expect(remote).toHaveLength(1)
    expect(alice.rec.of('call:tracksAdded').flatMap((e) => e.trackIds as string[])).toEqual(
      expect.arrayContaining(remote),
    )
    const addedBefore = alice.rec.of('call:tracksAdded').length
    bob.api.call.answer(bobCallId, { audio: true, video: false })
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
    expect(alice.api.call.getById(callId)!.remoteTracks).toEqual(remote)
    const addedAfter = alice.rec.of('call:tracksAdded').slice(addedBefore)
    expect(addedAfter.flatMap((e) => e.trackIds as string[]).filter((id) => remote.includes(id))).toEqual([])
  })

  it('a Ringing event with earlyMedia to a callee changes nothing', async () => {
    alice.api.call.make('bob@example.com', { audio: true, video: false })
    const received = await bob.rec.waitFor('call:receive')
    const bobCallId = received.callId as string
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Ringing', 3000, 'bob Ringing')
    const calleeLeg = server.legOf('bob', 'callee')!
    server.pushToLeg(calleeLeg.id, 'wrtcsEventNotification', {
      eventType: 'Ringing',
      statusCode: 180,
      reasonText: 'Ringing',
      earlyMedia: { sdp: server.calls.get(calleeLeg.callId)!.offerSdp },
    })
    await tick(50)
    expect(bob.api.call.getById(bobCallId)?.state).toBe('Ringing')
  })
})
