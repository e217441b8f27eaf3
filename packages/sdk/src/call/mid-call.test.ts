// @vitest-environment happy-dom
/**
 * Mid-call operations through the fake server and the fake media engine: media changes
 * (sdk-api §5.3.10–5.3.14, §5.8.7), the negotiation queue and the glare rule (protocol.md §11.12),
 * SDP directions (protocol.md §10.3), slow start and peer-connection rebuilds (§9.4, §10.1),
 * forward and transfers (sdk-api §5.3.23), and every operation in a wrong state (sdk-api §5.6).
 */
import { parse } from 'sdp-transform'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FakeTrack } from '../test-support/fake-media.js'
import { FakeServer } from '../test-support/fake-server.js'
import { errorsIn, makeClient, subscribe, tick, until, type TestClient } from '../test-support/harness.js'

let server: FakeServer
let alice: TestClient
let bob: TestClient

beforeEach(async () => {
  server = new FakeServer(['alice', 'bob', 'carol'])
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

async function connect(media: object = { audio: true, video: true }, answerMedia: object = media) {
  const callId = alice.api.call.make('bob@example.com', media)
  const received = await bob.rec.waitFor('call:receive')
  const bobCallId = received.callId as string
  await until(() => bob.api.call.getById(bobCallId)?.state === 'Ringing', 3000, 'bob ringing')
  bob.api.call.answer(bobCallId, answerMedia)
  await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
  await until(() => bob.api.call.getById(bobCallId)?.state === 'Connected', 3000, 'bob Connected')
  await tick()
  alice.rec.clear()
  bob.rec.clear()
  return { callId, bobCallId }
}

const directions = (sdp: string) =>
  parse(sdp).media.map((m) => `${m.type}:${(m as { direction?: string }).direction ?? 'sendrecv'}`)
const updates = () => server.requestsTo('PUT', '/update')
const offerOf = (i: number) => (updates()[i]!.body!.wrtcsOffer as { sdp: string }).sdp
const kindOf = (c: TestClient, id: string) => c.api.media.getTrackById(id)?.kind

describe('addMedia / removeMedia / startVideo / stopVideo (sdk-api §5.3.10–5.3.13, §5.8.7)', () => {
  it('addMedia(video) on an audio call: events on both sides in the documented order, remote can render it', async () => {
    const { callId, bobCallId } = await connect({ audio: true })
    alice.api.call.addMedia(callId, { video: true })
    const media = await alice.rec.waitFor('call:newMedia')
    const remote = await bob.rec.waitFor('call:newMedia')
    const [newId] = media.tracks as string[]
    expect(media).toMatchObject({ callId, local: true, tracks: [newId], mediaId: expect.any(String) })
    expect(kindOf(alice, newId!)).toBe('video')
    const callEvents = (c: TestClient) =>
      c.rec.types((t) => t.startsWith('call:') && t !== 'call:mediaConnectionChange')
    expect(callEvents(alice)).toEqual([
      'call:operation',
      'call:operation',
      'call:operation',
      'call:tracksAdded',
      'call:newTrack',
      'call:newMedia',
    ])
    expect(alice.rec.of('call:operation').map((p) => [p.operation, p.transition])).toEqual([
      ['ADD_MEDIA', 'START'],
      ['ADD_MEDIA', 'UPDATE'],
      ['ADD_MEDIA', 'FINISH'],
    ])
    expect(alice.api.call.getById(callId)!.localTracks).toContain(newId)
    // Remote: FINISH (isLocal false), added, newMedia — and the new remote track is listed and renderable.
    expect(callEvents(bob)).toEqual(['call:operation', 'call:tracksAdded', 'call:newTrack', 'call:newMedia'])
    expect(bob.rec.of('call:operation')[0]).toMatchObject({ operation: 'ADD_MEDIA', isLocal: false })
    const [remoteId] = remote.tracks as string[]
    expect(bob.api.call.getById(bobCallId)!.remoteTracks).toContain(remoteId)
    expect(kindOf(bob, remoteId!)).toBe('video')
    expect(directions(offerOf(0))).toEqual(['audio:sendrecv', 'video:sendrecv'])
    expect(errorsIn(alice.logs)).toEqual([])
  })

  it('removeMedia stops the track, sends it recvonly, and the remote side sees it removed', async () => {
    const { callId, bobCallId } = await connect()
    const video = alice.api.call.getById(callId)!.localTracks.find((id) => kindOf(alice, id) === 'video')!
    const bobRemoteVideo = bob.api.call
      .getById(bobCallId)!
      .remoteTracks.find((id) => kindOf(bob, id) === 'video')!
    alice.api.call.removeMedia(callId, [video])
    const removed = await alice.rec.waitFor('call:removedMedia')
    expect(removed).toEqual({ callId, local: true, tracks: [video] })
    const remote = await bob.rec.waitFor('call:removedMedia')
    expect(remote).toEqual({ callId: bobCallId, local: false, tracks: [bobRemoteVideo] })
    expect(alice.api.media.getTrackById(video)!.state).toBe('ended')
    expect(alice.api.call.getById(callId)!.localTracks).not.toContain(video)
    expect(bob.api.call.getById(bobCallId)!.remoteTracks).not.toContain(bobRemoteVideo)
    expect(directions(offerOf(0))).toEqual(['audio:sendrecv', 'video:recvonly'])
    // Bob still sends his video to alice.
    expect(
      alice.api.call
        .getById(callId)!
        .remoteTracks.map((id) => kindOf(alice, id))
        .sort(),
    ).toEqual(['audio', 'video'])
  })

  it('startVideo fails with call:7 when video is already sent; stopVideo then startVideo works', async () => {
    const { callId, bobCallId } = await connect()
    alice.api.call.startVideo(callId)
    const err = await alice.rec.waitFor('call:error')
    expect(err.error).toMatchObject({ code: 'call:7' })
    expect(alice.rec.of('call:newMedia')).toEqual([{ callId, local: true, tracks: [], error: err.error }])
    alice.rec.clear()
    alice.api.call.stopVideo(callId)
    await alice.rec.waitFor('call:removedMedia')
    await bob.rec.waitFor('call:removedMedia')
    alice.api.call.startVideo(callId)
    const added = await alice.rec.waitFor('call:newMedia')
    expect(added.error).toBeUndefined()
    await bob.rec.waitFor('call:newMedia')
    expect(
      bob.api.call
        .getById(bobCallId)!
        .remoteTracks.map((id) => kindOf(bob, id))
        .sort(),
    ).toEqual(['audio', 'video'])
  })

  it('screen share with addMedia({ screen: true }) reaches the other side as a second video track', async () => {
    const { callId, bobCallId } = await connect()
    alice.api.call.addMedia(callId, { screen: true })
    const media = await alice.rec.waitFor('call:newMedia')
    await bob.rec.waitFor('call:newMedia')
    expect(media.tracks).toHaveLength(1)
    expect(
      bob.api.call.getById(bobCallId)!.remoteTracks.filter((id) => kindOf(bob, id) === 'video'),
    ).toHaveLength(2)
    // stopVideo refuses to guess between camera and screen.
    alice.rec.clear()
    alice.api.call.stopVideo(callId)
    expect((await alice.rec.waitFor('call:error')).error).toMatchObject({ code: 'call:7' })
  })

  it('removeMedia with a track that is not a local track of the call fails with call:7', async () => {
    const { callId, bobCallId } = await connect()
    const remote = alice.api.call.getById(callId)!.remoteTracks[0]!
    alice.api.call.removeMedia(callId, [remote])
    const err = await alice.rec.waitFor('call:error')
    expect(err).toMatchObject({ callId, operation: 'REMOVE_MEDIA', error: { code: 'call:7' } })
    expect(updates()).toEqual([])
    expect(bob.api.call.getById(bobCallId)!.state).toBe('Connected')
  })

  it('a refused addMedia releases the new tracks and leaves the call as it was', async () => {
    const { callId } = await connect({ audio: true })
    server.intercept = (req) =>
      req.method === 'PUT' && req.path.endsWith('/update')
        ? new Response(
            JSON.stringify({
              requestError: { serviceException: { messageId: 'SVC0004', text: 'Gone', variables: [] } },
            }),
            { status: 404 },
          )
        : undefined
    alice.api.call.addMedia(callId, { video: true })
    const media = await alice.rec.waitFor('call:newMedia')
    expect(media).toMatchObject({ local: true, tracks: [], error: { code: 'SVC0004' } })
    await alice.rec.waitFor('call:error')
    const video = alice.engine.tracks.filter((t) => t.kind === 'video')
    expect(video.every((t: FakeTrack) => t.stopped)).toBe(true)
    expect(alice.api.call.getById(callId)).toMatchObject({ state: 'Connected' })
    expect(alice.api.call.getById(callId)!.localTracks.map((id) => kindOf(alice, id))).toEqual(['audio'])
  })
})

describe('negotiation queue, glare and SDP directions (architecture §4, protocol.md §10.3, §11.12)', () => {
  it('glare: both hold at once → one /update refused, it rolls back, answers, retries → double hold, no error', async () => {
    const { callId, bobCallId } = await connect()
    alice.api.call.hold(callId)
    bob.api.call.hold(bobCallId)
    await until(
      () => alice.api.call.getById(callId)!.localHold && bob.api.call.getById(bobCallId)!.localHold,
      5000,
      'both held locally',
    )
    await tick(20)
    for (const [c, id] of [
      [alice, callId],
      [bob, bobCallId],
    ] as const) {
      expect(c.api.call.getById(id)).toMatchObject({ state: 'On Hold', localHold: true, remoteHold: true })
      expect(c.rec.of('call:error')).toEqual([])
      const mine = c.rec.of('call:operation').filter((p) => p.isLocal)
      expect(mine.map((p) => p.transition)).toEqual(['START', 'UPDATE', 'FINISH'])
      expect(mine.at(-1)!.error).toBeUndefined()
      expect(c.engine.lastPeer().signalingState).toBe('stable')
    }
    // Three /update requests: the winner's, the refused one, and its retry; every offer all-inactive.
    expect(updates()).toHaveLength(3)
    for (let i = 0; i < 3; i++)
      expect(new Set(directions(offerOf(i)).map((d) => d.split(':')[1]))).toEqual(new Set(['inactive']))

    // Both unhold: media comes back only when no hold remains (M5–M8).
    alice.api.call.unhold(callId)
    await until(() => !alice.api.call.getById(callId)!.localHold, 3000, 'alice unheld')
    await tick(20)
    expect(alice.api.call.getById(callId)!.state).toBe('On Hold')
    bob.api.call.unhold(bobCallId)
    await until(() => alice.api.call.getById(callId)!.state === 'Connected', 3000, 'alice Connected')
    await until(() => bob.api.call.getById(bobCallId)!.state === 'Connected', 3000, 'bob Connected')
    expect(alice.api.call.getById(callId)!.remoteTracks).toHaveLength(2)
  })

  it('a held side answers every offer inactive; unhold offers sendrecv with a track and recvonly without', async () => {
    const { callId, bobCallId } = await connect({ audio: true, video: true }, { audio: true })
    bob.api.call.hold(bobCallId)
    await until(() => alice.api.call.getById(callId)!.remoteHold, 3000, 'alice remotely held')
    // Bob answered audio-only: his hold offer is inactive everywhere.
    expect(new Set(directions(offerOf(0)).map((d) => d.split(':')[1]))).toEqual(new Set(['inactive']))
    alice.api.call.restartMedia(callId)
    await alice.rec.waitFor('call:mediaRestart')
    const answer = server
      .requestsTo('PUT', '/answer')
      .map((r) => (r.body!.wrtcsAnswer as { sdp: string }).sdp)
      .at(-1)!
    expect(new Set(directions(answer).map((d) => d.split(':')[1]))).toEqual(new Set(['inactive']))
    bob.api.call.unhold(bobCallId)
    await until(() => bob.api.call.getById(bobCallId)!.state === 'Connected', 3000, 'bob Connected')
    expect(directions(offerOf(2))).toEqual(['audio:sendrecv', 'video:recvonly'])
  })

  it('a local operation queued behind a remote one emits START at once and runs after it', async () => {
    const { callId, bobCallId } = await connect()
    bob.api.call.hold(bobCallId)
    // Alice's addMedia is invoked while bob's hold offer is on its way; whichever comes first, the
    // calls end consistent and alice's operation is reported once, START first.
    alice.api.call.addMedia(callId, { screen: true })
    expect(await alice.rec.waitFor('call:operation')).toMatchObject({
      operation: 'ADD_MEDIA',
      transition: 'START',
    })
    await until(() => bob.api.call.getById(bobCallId)!.localHold, 3000, 'bob held')
    const finish = await alice.rec.waitFor(
      'call:operation',
      (p) => p.operation === 'ADD_MEDIA' && p.transition === 'FINISH',
    )
    await tick(20)
    expect(alice.api.call.getById(callId)!.state).toBe('On Hold')
    if (finish.error) expect(finish.error).toMatchObject({ code: 'call:6' })
    expect(alice.engine.lastPeer().signalingState).toBe('stable')
    expect(bob.engine.lastPeer().signalingState).toBe('stable')
  })
})

describe('slow start and rebuilt peer connections (protocol.md §9.4, §10.1)', () => {
  it('an offer without SDP: new peer connection, fresh offer sent as PUT …/answer, then the answer notification unholds', async () => {
    const { callId, bobCallId } = await connect()
    alice.api.call.hold(callId)
    await until(() => bob.api.call.getById(bobCallId)!.remoteHold, 3000, 'bob remotely held')
    const oldPeer = bob.engine.lastPeer()
    const leg = server.legOf('bob', 'callee')!
    let slowOffer: string | undefined
    server.intercept = (req) => {
      if (req.method === 'PUT' && req.path.endsWith(`${leg.id}/answer`)) {
        slowOffer = (req.body!.wrtcsAnswer as { sdp: string }).sdp
        return new Response(null, { status: 204 })
      }
      return undefined
    }
    await tick()
    bob.rec.clear()
    server.pushToLeg(leg.id, 'wrtcsOfferNotification', { offer: {} })
    await until(() => slowOffer !== undefined, 3000, 'the slow-start offer')
    expect(oldPeer.closed).toBe(true)
    const newPeer = bob.engine.lastPeer()
    expect(newPeer).not.toBe(oldPeer)
    expect(directions(slowOffer!)).toEqual(['audio:sendrecv', 'video:sendrecv'])
    expect(slowOffer).toMatch(/a=candidate:/)
    // The new party (played by a second fake peer) answers the fresh offer.
    const carolPeer = alice.engine.createPeer({}, { excludeCodecs: [] })
    await carolPeer.setRemoteDescription('offer', slowOffer!)
    const carolMedia = await alice.engine.getUserMedia({ audio: true, video: true })
    for (const t of carolMedia.getTracks()) carolPeer.addTrack(t, carolMedia)
    const answer = await carolPeer.createAnswer()
    server.pushToLeg(leg.id, 'wrtcsAnswerNotification', { answer: { sdp: answer } })
    await until(() => bob.api.call.getById(bobCallId)!.state === 'Connected', 3000, 'bob Connected')
    await tick()
    expect(bob.rec.of('call:operation')).toEqual([
      { callId: bobCallId, operation: 'UNHOLD', transition: 'FINISH', isLocal: false },
    ])
    const snap = bob.api.call.getById(bobCallId)!
    expect(snap).toMatchObject({ localHold: false, remoteHold: false })
    expect(snap.localTracks).toHaveLength(2)
    expect(snap.remoteTracks).toHaveLength(2)
    expect(newPeer.signalingState).toBe('stable')
    carolPeer.close()
  })

  it('while held locally, the slow-start offer is inactive and the call stays held', async () => {
    const { bobCallId } = await connect()
    bob.api.call.hold(bobCallId)
    await until(() => bob.api.call.getById(bobCallId)!.localHold, 3000, 'bob held')
    const leg = server.legOf('bob', 'callee')!
    let slowOffer: string | undefined
    server.intercept = (req) => {
      if (req.method === 'PUT' && req.path.endsWith(`${leg.id}/answer`)) {
        slowOffer = (req.body!.wrtcsAnswer as { sdp: string }).sdp
        return new Response(null, { status: 204 })
      }
      return undefined
    }
    server.pushToLeg(leg.id, 'wrtcsOfferNotification', { offer: {} })
    await until(() => slowOffer !== undefined, 3000, 'the slow-start offer')
    expect(new Set(directions(slowOffer!).map((d) => d.split(':')[1]))).toEqual(new Set(['inactive']))
  })

  it('a re-offer with a new o= session id rebuilds the peer connection and keeps the local track ids', async () => {
    const { callId, bobCallId } = await connect()
    alice.api.call.hold(callId)
    await until(() => bob.api.call.getById(bobCallId)!.remoteHold, 3000, 'bob remotely held')
    const before = bob.api.call.getById(bobCallId)!
    const oldPeer = bob.engine.lastPeer()
    // A different peer connection offers (as after a consultative transfer, protocol.md §11.17).
    const other = alice.engine.createPeer({}, { excludeCodecs: [] })
    const stream = await alice.engine.getUserMedia({ audio: true, video: true })
    for (const t of stream.getTracks()) other.addTrack(t, stream)
    const offer = await other.createOffer()
    await other.setLocalDescription('offer', offer)
    const leg = server.legOf('bob', 'callee')!
    const call = [...server.calls.values()].at(-1)!
    call.offerFrom = server.legOf('alice', 'caller')!.id
    server.intercept = (req) =>
      req.method === 'PUT' && req.path.endsWith(`${leg.id}/answer`)
        ? new Response(null, { status: 204 })
        : undefined
    server.pushToLeg(leg.id, 'wrtcsOfferNotification', { offer: { sdp: offer } })
    await until(() => bob.api.call.getById(bobCallId)!.state === 'Connected', 3000, 'bob Connected')
    expect(oldPeer.closed).toBe(true)
    expect(bob.engine.lastPeer()).not.toBe(oldPeer)
    const after = bob.api.call.getById(bobCallId)!
    expect(after.localTracks.sort()).toEqual(bob.api.call.getById(bobCallId)!.localTracks.sort())
    expect(after.localTracks).toHaveLength(2)
    expect(after.remoteTracks).toHaveLength(2)
    expect(before.remoteTracks).toEqual([])
    other.close()
  })
})

describe('forward and transfers (sdk-api §5.3.23, protocol.md §8.6, §8.7)', () => {
  const ok = () => new Response(null, { status: 204 })

  it('forward: PUT …/forward with the normalised address; the callee call ends; a refusal keeps it ringing', async () => {
    const callId = alice.api.call.make('bob@example.com', { audio: true })
    const bobCallId = (await bob.rec.waitFor('call:receive')).callId as string
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Ringing', 3000, 'bob ringing')
    let refuse = true
    server.intercept = (req) =>
      req.path.endsWith('/forward')
        ? refuse
          ? new Response(
              JSON.stringify({
                requestError: {
                  serviceException: {
                    messageId: 'SVC0002',
                    text: 'Invalid input value for message part %1',
                    variables: ['address'],
                  },
                },
              }),
              { status: 404 },
            )
          : ok()
        : undefined
    await tick()
    bob.rec.clear()
    bob.api.call.forward(bobCallId, 'nobody')
    const err = await bob.rec.waitFor('call:error')
    expect(err).toMatchObject({ operation: 'FORWARD_CALL', error: { code: 'SVC0002' } })
    expect(bob.api.call.getById(bobCallId)!.state).toBe('Ringing')
    refuse = false
    bob.rec.clear()
    bob.api.call.forward(bobCallId, 'carol')
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Ended', 3000, 'bob Ended')
    await tick()
    const req = server.requestsTo('PUT', '/forward').at(-1)!
    expect(req.body).toEqual({
      wrtcsForward: { clientCorrelator: 'sampleCorrelator', address: 'sip:carol@example.com' },
    })
    expect(bob.rec.of('call:operation').map((p) => p.transition)).toEqual(['START', 'FINISH'])
    expect(bob.rec.of('call:error')).toEqual([])
    expect(server.requestsTo('DELETE', /sessions/)).toEqual([])
    expect(alice.api.call.getById(callId)!.state).toBe('Ringing')
  })

  it('directTransfer: only when held locally; PUT …/transfer; PENDING until SessionEnded completes it', async () => {
    const { callId } = await connect()
    alice.api.call.directTransfer(callId, 'carol')
    expect((await alice.rec.waitFor('call:error')).error).toMatchObject({ code: 'call:6' })
    alice.api.call.hold(callId)
    await until(() => alice.api.call.getById(callId)!.localHold, 3000, 'held')
    server.intercept = (req) => (req.path.endsWith('/transfer') ? ok() : undefined)
    alice.rec.clear()
    alice.api.call.directTransfer(callId, 'carol@example.com')
    await alice.rec.waitFor('call:operation', (p) => p.transition === 'UPDATE')
    expect(server.requestsTo('PUT', '/transfer')[0]!.body).toEqual({
      wrtcsTransfer: { clientCorrelator: 'sampleCorrelator', address: 'sip:carol@example.com' },
    })
    server.pushToLeg(server.legOf('alice', 'caller')!.id, 'wrtcsEventNotification', {
      eventType: 'SessionEnded',
      statusCode: 200,
      reasonText: 'Call transferred',
    })
    await until(() => alice.api.call.getById(callId)!.state === 'Ended', 3000, 'alice Ended')
    await tick()
    const ops = alice.rec.of('call:operation').filter((p) => p.operation === 'DIRECT_TRANSFER')
    expect(ops.map((p) => [p.transition, p.error])).toEqual([
      ['START', undefined],
      ['UPDATE', undefined],
      ['FINISH', undefined],
    ])
    expect(alice.rec.of('call:error')).toEqual([])
  })

  it('consultativeTransfer: both calls held; sessionId and address of the second call; both end', async () => {
    const carol = makeClient(server, 'carol')
    await subscribe(carol)
    const { callId } = await connect()
    // Second call: carol calls alice.
    const call2 = carol.api.call.make('alice@example.com', { audio: true })
    const aliceCall2 = (await alice.rec.waitFor('call:receive')).callId as string
    await until(() => alice.api.call.getById(aliceCall2)?.state === 'Ringing', 3000, 'alice ringing')
    alice.api.call.answer(aliceCall2, { audio: true })
    await until(() => carol.api.call.getById(call2)?.state === 'Connected', 3000, 'carol Connected')
    alice.api.call.hold(callId)
    await until(() => alice.api.call.getById(callId)!.localHold, 3000, 'call 1 held')
    alice.rec.clear()
    alice.api.call.consultativeTransfer(callId, aliceCall2)
    expect((await alice.rec.waitFor('call:error')).error).toMatchObject({ code: 'call:6' })
    alice.api.call.consultativeTransfer(callId, callId)
    await tick()
    expect(alice.rec.of('call:error')[1]!.error).toMatchObject({ code: 'call:7' })
    alice.api.call.hold(aliceCall2)
    await until(() => alice.api.call.getById(aliceCall2)!.localHold, 3000, 'call 2 held')
    server.intercept = (req) => (req.path.endsWith('/transfer') ? ok() : undefined)
    alice.rec.clear()
    alice.api.call.consultativeTransfer(callId, aliceCall2)
    await until(() => server.requestsTo('PUT', '/transfer').length === 1, 3000, 'transfer request')
    const req = server.requestsTo('PUT', '/transfer')[0]!
    const aliceLeg2 = server.legOf('alice', 'callee')!
    expect(req.path).toMatch(new RegExp(`/sessions/${server.legOf('alice', 'caller')!.id}/transfer$`))
    expect(req.body).toEqual({
      wrtcsTransfer: {
        clientCorrelator: 'sampleCorrelator',
        address: 'sip:carol@example.com',
        sessionId: aliceLeg2.id,
      },
    })
    for (const leg of [server.legOf('alice', 'caller')!, aliceLeg2])
      server.pushToLeg(leg.id, 'wrtcsEventNotification', {
        eventType: 'SessionEnded',
        statusCode: 200,
        reasonText: 'Call transferred',
      })
    await until(
      () =>
        alice.api.call.getById(callId)!.state === 'Ended' &&
        alice.api.call.getById(aliceCall2)!.state === 'Ended',
      3000,
      'both of alice calls Ended',
    )
    await tick()
    expect(alice.rec.of('call:error')).toEqual([])
    carol.api.destroy()
  })
})

describe('every operation in a wrong state (sdk-api §5.6.2) leaves the call usable', () => {
  const cases: Array<[string, (c: TestClient, id: string) => unknown, string | undefined]> = [
    ['answer', (c, id) => c.api.call.answer(id, { audio: true }), 'call:stateChange'],
    ['reject', (c, id) => c.api.call.reject(id), 'call:stateChange'],
    ['ignore', (c, id) => c.api.call.ignore(id), 'call:stateChange'],
    ['sendRingingFeedback', (c, id) => c.api.call.sendRingingFeedback(id), 'call:stateChange'],
    ['unhold', (c, id) => c.api.call.unhold(id), 'call:stateChange'],
    ['forward', (c, id) => c.api.call.forward(id, 'carol'), undefined],
    ['directTransfer', (c, id) => c.api.call.directTransfer(id, 'carol'), undefined],
    ['sendDTMF (bad tone)', (c, id) => c.api.call.sendDTMF(id, 'x'), undefined],
    [
      'replaceTrack (remote track)',
      (c, id) => c.api.call.replaceTrack(id, c.api.call.getById(id)!.remoteTracks[0]!, { audio: true }),
      'call:trackReplaced',
    ],
    ['removeMedia (no tracks)', (c, id) => c.api.call.removeMedia(id, []), 'call:removedMedia'],
    ['addMedia (nothing)', (c, id) => c.api.call.addMedia(id, {}), 'call:newMedia'],
  ]
  it.each(cases)('%s on a connected outgoing call', async (_name, run, ownEvent) => {
    const { callId, bobCallId } = await connect()
    await run(alice, callId)
    const err = await alice.rec.waitFor('call:error')
    expect(['call:5', 'call:6', 'call:7']).toContain((err.error as { code: string }).code)
    const types = alice.rec.types((t) => t !== 'call:mediaConnectionChange')
    expect(types.slice(0, 2)).toEqual(['call:operation', 'call:operation'])
    expect(types.at(-1)).toBe('call:error')
    if (ownEvent) expect(types).toContain(ownEvent)
    expect(alice.rec.of('call:operation')[1]!.error).toEqual(err.error)
    // Still usable: hold and unhold work.
    alice.api.call.hold(callId)
    await until(() => alice.api.call.getById(callId)!.state === 'On Hold', 3000, 'held')
    await until(() => bob.api.call.getById(bobCallId)!.state === 'On Hold', 3000, 'held')
    alice.api.call.unhold(callId)
    await until(() => bob.api.call.getById(bobCallId)!.state === 'Connected', 3000, 'unheld')
  })

  it('media operations while On Hold fail with call:6; getStats, replaceTrack and restartMedia work', async () => {
    const { callId } = await connect()
    alice.api.call.hold(callId)
    await until(() => alice.api.call.getById(callId)!.state === 'On Hold', 3000, 'held')
    await tick()
    const owned = alice.engine.tracks.filter((t) => t.kind === 'audio')[0]!.id
    for (const run of [
      () => alice.api.call.addMedia(callId, { video: true }),
      () => alice.api.call.removeMedia(callId, [owned]),
      () => alice.api.call.startVideo(callId),
      () => alice.api.call.stopVideo(callId),
      () => alice.api.call.sendDTMF(callId, '1'),
      () => alice.api.call.hold(callId),
    ]) {
      alice.rec.clear()
      run()
      expect((await alice.rec.waitFor('call:error')).error).toMatchObject({ code: 'call:6' })
    }
    await expect(alice.api.call.getStats(callId)).resolves.toBeInstanceOf(Map)
    alice.rec.clear()
    alice.api.call.restartMedia(callId)
    expect((await alice.rec.waitFor('call:mediaRestart')).error).toBeUndefined()
    alice.api.call.replaceTrack(callId, owned, { audio: true })
    expect((await alice.rec.waitFor('call:trackReplaced')).error).toBeUndefined()
    expect(alice.api.call.getById(callId)!.state).toBe('On Hold')
  })

  it('a second local renegotiation while one runs fails with call:6 (one at a time)', async () => {
    const { callId } = await connect()
    alice.api.call.hold(callId)
    alice.api.call.addMedia(callId, { screen: true })
    const err = await alice.rec.waitFor('call:error')
    expect(err).toMatchObject({ operation: 'ADD_MEDIA', error: { code: 'call:6' } })
    await until(() => alice.api.call.getById(callId)!.state === 'On Hold', 3000, 'held')
  })

  it('an operation on an unknown call id: START, FINISH(call:7), call:error and nothing else', async () => {
    for (const run of [
      () => alice.api.call.addMedia('nope', { video: true }),
      () => alice.api.call.forward('nope', 'carol'),
      () => alice.api.call.consultativeTransfer('nope', 'other'),
    ]) {
      alice.rec.clear()
      run()
      await alice.rec.waitFor('call:error')
      expect(alice.rec.types()).toEqual(['call:operation', 'call:operation', 'call:error'])
    }
  })
})
