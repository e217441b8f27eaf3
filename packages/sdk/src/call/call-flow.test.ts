// @vitest-environment happy-dom
/**
 * Integration tests of the call flows (sdk-api §5.8, protocol.md §11.4–11.7): two SDK clients talk
 * through the fake server, which plays protocol.md's server; media is the fake engine.
 */
import { FIRST_AUDIT_DELAY_MS } from './audit.js'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createClient } from '../client.js'
import { FakeEngine } from '../test-support/fake-media.js'
import { FakeServer } from '../test-support/fake-server.js'
import { errorsIn, makeClient, subscribe, tick, until, type TestClient } from '../test-support/harness.js'

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

/** Makes a call from alice to bob and waits until bob's side rings. */
async function ring(media = { audio: true, video: true }) {
  alice.rec.clear()
  bob.rec.clear()
  const callId = alice.api.call.make('bob@example.com', media)
  const received = await bob.rec.waitFor('call:receive')
  const bobCallId = received.callId as string
  await bob.rec.waitFor('call:stateChange', (p) => p.callId === bobCallId)
  await alice.rec.waitFor(
    'call:stateChange',
    (p) => alice.api.call.getById(callId)?.state === 'Ringing' && p.callId === callId,
  )
  return { callId, bobCallId }
}

async function connect(media = { audio: true, video: true }) {
  const ids = await ring(media)
  bob.api.call.answer(ids.bobCallId, media)
  await until(() => alice.api.call.getById(ids.callId)?.state === 'Connected', 3000, 'alice Connected')
  await until(() => bob.api.call.getById(ids.bobCallId)?.state === 'Connected', 3000, 'bob Connected')
  await tick()
  return ids
}

describe('subscribe (protocol.md §6.1)', () => {
  it('creates a channel, opens the socket with the access token, subscribes, then fetches TURN when ICE servers are set', async () => {
    const s = new FakeServer(['carol'])
    const carol = makeClient(s, 'carol', {
      call: { iceServers: [{ urls: 'turn:turn.test:3478' }, { urls: 'stun:turn.test:3478' }] },
    })
    await subscribe(carol)
    await until(() => s.requestsTo('POST', '/turn').length === 1, 1000, 'TURN request')
    const seq = s.requests.map((r) => `${r.method} ${r.path.replace(/\/(ch|sub)-[0-9a-f]+/, '/$1-X')}`)
    expect(seq).toEqual([
      'POST /cpaas/notificationchannel/v1/carol/channels',
      'POST /cpaas/webrtcsignaling/v1/carol/subscriptions',
      'POST /cpaas/webrtcsignaling/v1/carol/turn',
    ])
    const channelReq = s.requests[0]!
    expect(channelReq.url.startsWith('https://parley.test:443/cpaas/')).toBe(true)
    expect(channelReq.body).toEqual({
      notificationChannel: {
        channelLifetime: 3600,
        channelType: 'Websockets',
        clientCorrelator: 'sampleCorrelator',
        'x-connCheckRole': 'client',
      },
    })
    expect(channelReq.headers.Authorization).toBe('Bearer at-carol')
    expect(channelReq.headers['Content-Type']).toBe('application/json')
    const sock = s.sockets[0]!
    expect(sock.url).toMatch(
      /^wss:\/\/parley\.test:443\/cpaas\/notificationchannel\/v1\/carol\/channels\/ch-[0-9a-f]+\/websocket\?access_token=at-carol$/,
    )
    expect(sock.sent[0]).toEqual({ connCheck: { interval: 30 } })
    expect(s.requests[1]!.body).toEqual({
      wrtcsNotificationSubscription: {
        callbackReference: { notifyURL: expect.stringMatching(/\/callback$/) },
        clientCorrelator: 'sampleCorrelator',
      },
    })
    const changes = carol.rec.of('subscription:change')
    expect(changes.length).toBe(2)
    expect(carol.api.services.getSubscriptions()).toEqual({
      subscribed: ['call'],
      available: ['call'],
      isPending: false,
    })
    expect(carol.rec.of('ws:change').length).toBeGreaterThan(0)
    expect(carol.api.connection.getSocketState().connected).toBe(true)
    carol.api.destroy()
  })

  it('sends no TURN request without ICE servers (protocol.md §7.1)', async () => {
    await tick(10)
    expect(server.requestsTo('POST', '/turn')).toHaveLength(0)
  })

  it('accepts the 5.x form subscribe([{service}], {type})', async () => {
    const s = new FakeServer(['carol'])
    const carol = makeClient(s, 'carol')
    carol.api.services.subscribe([{ service: 'call' }], { type: 'websocket' })
    await carol.rec.waitFor(
      'subscription:change',
      () => carol.api.services.getSubscriptions().subscribed.length === 1,
    )
    carol.api.destroy()
  })

  it('fails without tokens with subscription:5', async () => {
    const s = new FakeServer(['carol'])
    const noTokens = createClient(
      {
        authentication: { server: { base: 'parley.test' }, clientCorrelator: 'c' },
        logs: { logLevel: 'silent' },
      },
      { fetch: s.fetch, WebSocket: s.WebSocket, mediaEngine: new FakeEngine() },
    )
    const errs: unknown[] = []
    noTokens.on('subscription:error', (p) => errs.push(p))
    noTokens.services.subscribe(['call'])
    await tick(10)
    expect(errs).toEqual([{ error: { code: 'subscription:5', message: expect.any(String) } }])
    expect(s.requests).toEqual([])
    noTokens.destroy()
  })
})

describe('outgoing and incoming call (sdk-api §5.8.1, §5.8.2, protocol.md §11.4)', () => {
  it('make → 201 → Initiated → Ringing → answer → Connected on both sides, with the wire as specified', async () => {
    const callId = alice.api.call.make('bob@example.com', { audio: true, video: true })
    expect(alice.api.call.getById(callId)?.state).toBe('Initiating')
    const { bobCallId } = await (async () => {
      const r = await bob.rec.waitFor('call:receive')
      return { bobCallId: r.callId as string }
    })()
    await until(() => alice.api.call.getById(callId)?.state === 'Ringing', 3000, 'Ringing')
    await tick()

    // Create request (protocol.md §8.1).
    const create = server.requestsTo('POST', /\/sessions$/)[0]!
    const ws = create.body!.wrtcsSession as Record<string, unknown>
    expect(ws.tParticipantAddress).toBe('sip:bob@example.com')
    expect(ws.clientCorrelator).toBe('sampleCorrelator')
    const sdp = (ws.offer as { sdp: string }).sdp
    expect(sdp).toContain('a=candidate:')
    expect(sdp).not.toContain('a=ice-options:trickle')
    expect(sdp).toMatch(/a=msid:\S+ \S+/)

    // Callee side: invitation → call:receive → automatic Ringing status → Ringing.
    const bobCall = bob.api.call.getById(bobCallId)!
    expect(bobCall.direction).toBe('incoming')
    expect(bobCall.state).toBe('Ringing')
    expect(bobCall.mediaOffered).toEqual({ audio: true, video: true })
    expect(bobCall.from).toBe('alice@example.com')
    expect(bobCall.remoteParticipant).toEqual({ displayNumber: 'alice@example.com', displayName: 'alice' })
    const ringing = server.requestsTo('PUT', '/status').find((r) => r.user === 'bob')!
    expect(ringing.body).toEqual({
      wrtcsSessionStatus: { clientCorrelator: 'sampleCorrelator', status: 'Ringing' },
    })
    expect(bob.rec.types((t) => t === 'call:receive' || t === 'call:stateChange')).toEqual([
      'call:receive',
      'call:stateChange',
    ])
    expect(bob.rec.of('call:stateChange')[0]!.previous).toEqual({
      state: 'Initiating',
      localHold: false,
      remoteHold: false,
    })

    // Caller events so far (§5.8.1 steps 1–6).
    const aliceTypes = alice.rec.types((t) => t.startsWith('call:') && t !== 'call:mediaConnectionChange')
    expect(aliceTypes).toEqual([
      'call:operation',
      'call:start',
      'call:operation',
      'call:tracksAdded',
      'call:newTrack',
      'call:newTrack',
      'call:stateChange',
      'call:stateChange',
    ])
    const [, ringingChange] = alice.rec.of('call:stateChange')
    expect(ringingChange!.transition).toEqual({ statusCode: 180, reasonText: 'Ringing' })
    expect(alice.rec.of('call:newTrack').every((p) => p.local === true)).toBe(true)

    // Answer.
    alice.rec.clear()
    bob.rec.clear()
    bob.api.call.answer(bobCallId, { audio: true, video: true })
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Connected', 3000, 'bob Connected')
    await tick()
    const answer = server.requestsTo('PUT', '/answer')[0]!
    expect((answer.body!.wrtcsAnswer as { sdp: string }).sdp).toContain('a=candidate:')
    expect(bob.rec.types((t) => t.startsWith('call:') && t !== 'call:mediaConnectionChange')).toEqual([
      'call:operation',
      'call:operation',
      'call:tracksAdded',
      'call:newTrack',
      'call:newTrack',
      'call:newTrack',
      'call:newTrack',
      'call:stateChange',
    ])
    const aliceAfter = alice.api.call.getById(callId)!
    expect(aliceAfter.remoteTracks).toHaveLength(2)
    expect(aliceAfter.localTracks).toHaveLength(2)
    const connected = alice.rec.of('call:stateChange').at(-1)!
    expect(connected.transition).toEqual({ statusCode: 200, reasonText: 'OK' })
    expect(alice.rec.of('call:operation').at(-1)).toMatchObject({
      operation: 'MAKE',
      transition: 'FINISH',
      previous: { operation: 'MAKE', status: 'PENDING' },
    })
    for (const id of aliceAfter.remoteTracks) {
      expect(alice.api.media.getTrackById(id)).toMatchObject({ isLocal: false, state: 'live' })
    }
    expect(alice.rec.types()).toContain('call:mediaConnectionChange')
    expect(errorsIn(alice.logs)).toEqual([])
    expect(errorsIn(bob.logs)).toEqual([])
  })

  it('local end: DELETE, local tracks stopped, peer closed, remote sees Ended (200)', async () => {
    const { callId, bobCallId } = await connect()
    alice.rec.clear()
    alice.api.call.end(callId)
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Ended', 3000, 'bob Ended')
    await tick()
    expect(alice.api.call.getById(callId)?.state).toBe('Ended')
    expect(server.requestsTo('DELETE', /\/sessions\/leg-/)).toHaveLength(1)
    expect(alice.engine.liveLocalTracks()).toEqual([])
    expect(alice.engine.peers.every((p) => p.closed)).toBe(true)
    expect(alice.rec.types((t) => t.startsWith('call:') && t !== 'call:mediaConnectionChange')).toEqual([
      'call:operation',
      'call:operation',
      'call:tracksRemoved',
      'call:trackEnded',
      'call:trackEnded',
      'call:trackEnded',
      'call:trackEnded',
      'call:stateChange',
    ])
    const bobEnd = bob.rec.of('call:stateChange').at(-1)!
    expect(bobEnd.transition).toEqual({ statusCode: 200, reasonText: 'Ended by remote party' })
    expect(bob.rec.of('call:operation').at(-1)).toMatchObject({
      operation: 'END',
      transition: 'FINISH',
      isLocal: false,
    })
    expect(bob.engine.liveLocalTracks()).toEqual([])
    expect(alice.api.call.getById(callId)?.endTime).toBeTypeOf('number')
    expect(alice.api.call.getById(callId)?.localTracks).toEqual([])
  })

  it('reject: DELETE, callee Ended, caller Ended with 603', async () => {
    const { callId, bobCallId } = await ring()
    bob.api.call.reject(bobCallId)
    await until(() => alice.api.call.getById(callId)?.state === 'Ended', 3000, 'alice Ended')
    await tick()
    expect(bob.api.call.getById(bobCallId)?.state).toBe('Ended')
    const end = alice.rec.of('call:stateChange').at(-1)!
    expect(end.transition).toEqual({ statusCode: 603, reasonText: 'Declined' })
    expect(end.previous).toMatchObject({ state: 'Ringing' })
    expect(alice.engine.liveLocalTracks()).toEqual([])
  })

  it('caller cancels before the answer: callee Cancelled with 487', async () => {
    const { callId, bobCallId } = await ring()
    alice.api.call.end(callId)
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Cancelled', 3000, 'bob Cancelled')
    await tick()
    const change = bob.rec.of('call:stateChange').at(-1)!
    expect(change.transition).toEqual({ statusCode: 487, reasonText: 'Request Terminated' })
    expect(bob.engine.peers.every((p) => p.closed)).toBe(true)
  })

  it('ignore sends nothing to the server', async () => {
    const { bobCallId } = await ring()
    const before = server.requests.length
    bob.api.call.ignore(bobCallId)
    await tick(10)
    expect(bob.api.call.getById(bobCallId)?.state).toBe('Ended')
    const after = server.requests.slice(before).filter((r) => r.user === 'bob' && r.method === 'DELETE')
    expect(after).toEqual([])
  })

  it('a callee answering audio-only a video call gets call:newTrack for its audio and the remote video', async () => {
    const { bobCallId } = await ring()
    bob.api.call.answer(bobCallId, { audio: true, video: false })
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Connected')
    const call = bob.api.call.getById(bobCallId)!
    expect(call.localTracks).toHaveLength(1)
    expect(call.remoteTracks).toHaveLength(2)
  })

  it('callee unknown → call:start with SVC0002, Ended with the error, call:error last', async () => {
    const callId = alice.api.call.make('nobody@example.com', { audio: true })
    await alice.rec.waitFor('call:error')
    expect(alice.api.call.getById(callId)?.state).toBe('Ended')
    const start = alice.rec.of('call:start')[0]!
    expect(start.error).toEqual({
      code: 'SVC0002',
      message: 'Invalid input value for message part tParticipantAddress',
    })
    expect(alice.rec.types((t) => t.startsWith('call:') && t !== 'call:mediaConnectionChange')).toEqual([
      'call:operation',
      'call:operation',
      'call:start',
      'call:stateChange',
      'call:error',
    ])
    expect(alice.rec.of('call:newTrack')).toEqual([])
    expect(alice.engine.liveLocalTracks()).toEqual([])
  })

  it('media failure → call:4, devices:error, no create request', async () => {
    const s = new FakeServer(['carol', 'bob'])
    const carol = makeClient(s, 'carol', {}, { failGetUserMedia: 'NotAllowedError' })
    await subscribe(carol)
    carol.api.call.make('bob', { audio: true })
    const err = await carol.rec.waitFor('call:error')
    expect((err.error as { code: string }).code).toBe('call:4')
    expect(carol.rec.of('devices:error')).toHaveLength(1)
    expect(s.requestsTo('POST', /\/sessions$/)).toEqual([])
    carol.api.destroy()
  })

  it('not subscribed → call:2', async () => {
    const s = new FakeServer(['carol'])
    const carol = makeClient(s, 'carol')
    carol.api.call.make('bob', { audio: true })
    const err = await carol.rec.waitFor('call:error')
    expect((err.error as { code: string }).code).toBe('call:2')
    carol.api.destroy()
  })

  it('manual ringing mode: callee stays Initiated until sendRingingFeedback', async () => {
    const s = new FakeServer(['alice', 'carol'])
    const a = makeClient(s, 'alice')
    const c = makeClient(s, 'carol', { call: { ringingFeedbackMode: 'manual' } })
    await subscribe(a)
    await subscribe(c)
    const callId = a.api.call.make('carol', { audio: true })
    const r = await c.rec.waitFor('call:receive')
    const cid = r.callId as string
    await c.rec.waitFor('call:stateChange')
    expect(c.api.call.getById(cid)?.state).toBe('Initiated')
    expect(
      s
        .requestsTo('PUT', '/status')
        .filter(
          (x) =>
            x.user === 'carol' &&
            (x.body as { wrtcsSessionStatus: { status: string } }).wrtcsSessionStatus.status === 'Ringing',
        ),
    ).toEqual([])
    c.api.call.sendRingingFeedback(cid)
    await until(() => a.api.call.getById(callId)?.state === 'Ringing')
    expect(c.api.call.getById(cid)?.state).toBe('Ringing')
    a.api.destroy()
    c.api.destroy()
  })
})

describe('notifications that overtake their create-session reply (protocol.md §11)', () => {
  it('holds the Ringing and acceptance that arrive before the 201 and applies them after it, in order', async () => {
    // The reply reaches alice only once bob has answered: both notifications are on her socket by then.
    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    server.delayReply = (req) =>
      req.method === 'POST' && /\/sessions$/.test(req.path) ? released : undefined
    bob.api.on('call:receive', ({ callId }: { callId: string }) =>
      bob.api.call.answer(callId, { audio: true, video: true }),
    )
    const callId = alice.api.call.make('bob@example.com', { audio: true, video: true })
    await until(
      () => server.framesFor('alice').some((f) => 'wrtcsAcceptanceNotification' in (f as object)),
      3000,
      'the acceptance pushed to alice',
    )
    await tick()
    expect(alice.api.call.getById(callId)?.state).toBe('Initiating')
    release()
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
    expect(alice.rec.of('call:stateChange').map((p) => (p.previous as { state: string }).state)).toEqual([
      'Initiating',
      'Initiated',
      'Ringing',
    ])
  })

  it('a notification for another leg, held during the request, does not touch the new call', async () => {
    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    server.delayReply = (req) =>
      req.method === 'POST' && /\/sessions$/.test(req.path) ? released : undefined
    const callId = alice.api.call.make('bob@example.com', { audio: true, video: true })
    await until(() => server.requestsTo('POST', /\/sessions$/).length === 1, 3000, 'create request')
    // A stray notification for a leg nobody created, while the request is in flight.
    const ch = [...server.channels.values()].find((c) => c.user === 'alice')!
    server.push(ch.id, {
      wrtcsEventNotification: {
        id: 'stray',
        eventType: 'SessionEnded',
        link: [{ href: '/cpaas/webrtcsignaling/v1/alice/sessions/leg-stray', rel: 'WebrtcSession' }],
      },
    })
    await tick()
    release()
    await until(() => alice.api.call.getById(callId)?.state === 'Ringing', 3000, 'alice Ringing')
    expect(alice.api.call.getById(callId)?.state).toBe('Ringing')
  })
})

describe('wrong-state and unknown-id operations (sdk-api §5.6)', () => {
  it('answer on an ended call: START, FINISH(error call:6), stateChange(error), call:error — nothing thrown', async () => {
    const { bobCallId } = await ring()
    bob.api.call.ignore(bobCallId)
    await tick()
    bob.rec.clear()
    expect(() => bob.api.call.answer(bobCallId, { audio: true })).not.toThrow()
    await bob.rec.waitFor('call:error')
    expect(bob.rec.types()).toEqual(['call:operation', 'call:operation', 'call:stateChange', 'call:error'])
    const change = bob.rec.of('call:stateChange')[0]!
    expect(change.previous).toEqual({ state: 'Ended', localHold: false, remoteHold: false })
    expect((change.error as { code: string }).code).toBe('call:6')
    expect(bob.api.call.getById(bobCallId)?.state).toBe('Ended')
  })

  it('end with an unknown id: START, FINISH(call:7), call:error', async () => {
    alice.rec.clear()
    alice.api.call.end('nope')
    await alice.rec.waitFor('call:error')
    expect(alice.rec.types()).toEqual(['call:operation', 'call:operation', 'call:error'])
    expect(alice.rec.of('call:error')[0]).toEqual({
      callId: 'nope',
      operation: 'END',
      error: { code: 'call:7', message: expect.any(String) },
    })
  })

  it('answering an outgoing call fails with call:6', async () => {
    const { callId } = await ring()
    alice.rec.clear()
    alice.api.call.answer(callId, { audio: true })
    const err = await alice.rec.waitFor('call:error')
    expect((err.error as { code: string }).code).toBe('call:6')
    expect(alice.api.call.getById(callId)?.state).toBe('Ringing')
  })

  it('missing arguments throw TypeError synchronously', () => {
    expect(() => alice.api.call.make(undefined as unknown as string, { audio: true })).toThrow(TypeError)
    expect(() => alice.api.call.end(undefined as unknown as string)).not.toThrow() // §5.6.3: an unknown id
    expect(() => alice.api.on('call:start', 'x' as unknown as () => void)).toThrow(Error)
  })

  it('a listener that throws does not break the flow', async () => {
    alice.api.on('call:stateChange', () => {
      throw new Error('app bug')
    })
    const { callId } = await connect()
    expect(alice.api.call.getById(callId)?.state).toBe('Connected')
    expect(errorsIn(alice.logs).some((l) => String(l.messages[0]).includes('call:stateChange'))).toBe(true)
  })
})

describe('remote end, audit (protocol.md §8.2, §11.6)', () => {
  it('remote SessionEnded ends the call with the event status', async () => {
    const { callId, bobCallId } = await connect()
    bob.api.call.end(bobCallId)
    await until(() => alice.api.call.getById(callId)?.state === 'Ended')
    expect(alice.engine.liveLocalTracks()).toEqual([])
    expect(alice.engine.peers.every((p) => p.closed)).toBe(true)
  })

  it('audits with PUT status Connected once Initiated, the first one shortly after set-up', async () => {
    const { callId } = await ring()
    const aliceAudits = () => server.requestsTo('PUT', '/status').filter((r) => r.user === 'alice')
    expect(aliceAudits()).toHaveLength(0) // not while the call is being set up
    await until(() => aliceAudits().length >= 1, FIRST_AUDIT_DELAY_MS + 2000, 'the first audit')
    const audits = aliceAudits()
    expect(audits[0]!.body).toEqual({
      wrtcsSessionStatus: { clientCorrelator: 'sampleCorrelator', status: 'Connected' },
    })
    alice.api.call.end(callId)
  })

  it('an audit answered 404 ends the call with 9909', async () => {
    server.intercept = (req) =>
      req.method === 'PUT' && req.path.endsWith('/status') && req.user === 'alice'
        ? new Response(
            JSON.stringify({
              requestError: {
                serviceException: { messageId: 'SVC0004', text: 'Session ended', variables: [] },
              },
            }),
            { status: 404 },
          )
        : undefined
    const callId = alice.api.call.make('bob', { audio: true })
    await until(
      () => alice.api.call.getById(callId)?.state === 'Ended',
      FIRST_AUDIT_DELAY_MS + 3000,
      'Ended by audit',
    )
    await tick()
    const change = alice.rec.of('call:stateChange').at(-1)!
    expect(change.transition).toEqual({
      statusCode: 9909,
      reasonText: 'Call has ended due to call audit failure.',
    })
    expect((change.error as { code: string }).code).toBe('call:8')
    await alice.rec.waitFor('call:error')
    expect(alice.engine.liveLocalTracks()).toEqual([])
  })
})

describe('hold and unhold (sdk-api §5.8.3, protocol.md §11.11)', () => {
  it('local hold: inactive re-offer, both sides On Hold, tracks removed; unhold brings the same ids back', async () => {
    const { callId, bobCallId } = await connect()
    const before = alice.api.call.getById(callId)!
    alice.rec.clear()
    bob.rec.clear()
    alice.api.call.hold(callId)
    await until(() => alice.api.call.getById(callId)?.state === 'On Hold', 3000, 'alice On Hold')
    await until(() => bob.api.call.getById(bobCallId)?.state === 'On Hold', 3000, 'bob On Hold')
    const update = server.requestsTo('PUT', '/update')[0]!
    const offer = (update.body!.wrtcsOffer as { sdp: string }).sdp
    expect(offer.match(/a=inactive/g)?.length).toBe(2)
    expect(offer).not.toMatch(/a=sendrecv/)
    expect(alice.api.call.getById(callId)).toMatchObject({
      localHold: true,
      remoteHold: false,
      localTracks: [],
      remoteTracks: [],
    })
    expect(bob.api.call.getById(bobCallId)).toMatchObject({
      localHold: false,
      remoteHold: true,
      localTracks: [],
      remoteTracks: [],
    })
    await tick()
    expect(alice.rec.of('call:operation').map((p) => p.transition)).toEqual(['START', 'UPDATE', 'FINISH'])
    expect(bob.rec.of('call:operation')).toEqual([
      { callId: bobCallId, operation: 'HOLD', transition: 'FINISH', isLocal: false },
    ])
    expect(bob.rec.of('call:trackEnded')).toHaveLength(4)

    alice.rec.clear()
    alice.api.call.unhold(callId)
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected again')
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Connected', 3000, 'bob Connected again')
    const after = alice.api.call.getById(callId)!
    expect(after.localTracks.sort()).toEqual([...before.localTracks].sort())
    expect(after.remoteTracks.sort()).toEqual([...before.remoteTracks].sort())
    await tick()
    expect(alice.rec.of('call:newTrack')).toHaveLength(4)
  })

  it('hold while not connected fails with call:6', async () => {
    const { callId } = await ring()
    alice.rec.clear()
    alice.api.call.hold(callId)
    const err = await alice.rec.waitFor('call:error')
    expect((err.error as { code: string }).code).toBe('call:6')
  })

  it('a refused update rolls back and reports the error without ending the call (protocol.md §14.6)', async () => {
    const { callId } = await connect()
    server.intercept = (req) =>
      req.method === 'PUT' && req.path.endsWith('/update')
        ? new Response(
            JSON.stringify({
              requestError: {
                serviceException: { messageId: 'SVC0003', text: 'Offer already pending', variables: [] },
              },
            }),
            { status: 409 },
          )
        : undefined
    alice.rec.clear()
    alice.api.call.hold(callId)
    const err = await alice.rec.waitFor('call:error')
    expect(err.error).toEqual({ code: 'SVC0003', message: 'Offer already pending' })
    expect(alice.api.call.getById(callId)).toMatchObject({ state: 'Connected', localHold: false })
    expect(alice.engine.lastPeer().signalingState).toBe('stable')
    expect(server.requestsTo('DELETE', /sessions/)).toEqual([])
  })
})

describe('rendering (sdk-api §6.5, seed)', () => {
  it('renders tracks like the seed does and removes them when the call ends', async () => {
    document.body.innerHTML = '<div id="remote-container"></div><div id="local-container"></div>'
    bob.api.on('call:newTrack', (params: { local: boolean; trackId: string }) => {
      if (params.local) {
        if (bob.api.media.getTrackById(params.trackId)?.kind === 'video')
          bob.api.media.renderTracks([params.trackId], '#local-container')
      } else bob.api.media.renderTracks([params.trackId], '#remote-container')
    })
    bob.api.on('call:trackEnded', (params: { local: boolean; trackId: string }) => {
      bob.api.media.removeTracks([params.trackId], params.local ? '#local-container' : '#remote-container')
    })
    const { callId } = await connect()
    await tick()
    const remote = document.querySelectorAll('#remote-container > *')
    expect([...remote].map((e) => e.tagName.toLowerCase()).sort()).toEqual(['audio', 'video'])
    const local = document.querySelectorAll('#local-container > video')
    expect(local).toHaveLength(1)
    expect((local[0] as HTMLVideoElement).muted).toBe(true)
    expect(local[0]!.hasAttribute('playsinline')).toBe(true)
    expect((remote[0] as HTMLMediaElement).autoplay).toBe(true)
    const rendered = bob.rec.of('media:trackRendered')
    expect(rendered.every((p) => p.error === undefined)).toBe(true)
    const videoId = bob.api.call
      .getAll()[0]!
      .remoteTracks.find((id) => bob.api.media.getTrackById(id)?.kind === 'video')!
    expect(bob.api.media.getTrackById(videoId)?.containers).toEqual(['#remote-container'])
    alice.api.call.end(callId)
    await until(
      () => document.querySelectorAll('#remote-container > *, #local-container > *').length === 0,
      3000,
      'elements removed',
    )
  })

  it('renderTracks into a missing container reports media:1', async () => {
    alice.api.media.renderTracks(['x'], '#missing')
    const ev = await alice.rec.waitFor('media:trackRendered')
    expect((ev.error as { code: string }).code).toBe('media:1')
  })
})

describe('resources (architecture §6)', () => {
  it('50 calls in a row leave no track, peer or element behind', async () => {
    for (let i = 0; i < 50; i++) {
      const { callId } = await connect({ audio: true, video: false })
      if (i % 2) alice.api.call.end(callId)
      else bob.api.call.end(bob.api.call.getAll().at(-1)!.id)
      await until(() => alice.api.call.getById(callId)?.state === 'Ended', 3000, `call ${i} ended`)
      await until(() => bob.api.call.getAll().at(-1)!.state === 'Ended', 3000, `bob call ${i} ended`)
    }
    expect(alice.engine.liveLocalTracks()).toEqual([])
    expect(bob.engine.liveLocalTracks()).toEqual([])
    expect(alice.engine.peers.every((p) => p.closed)).toBe(true)
    expect(bob.engine.peers.every((p) => p.closed)).toBe(true)
    expect(alice.api.call.getAll().every((c) => c.state === 'Ended')).toBe(true)
  }, 30_000)
})

/**
 * Early media of a call to a phone number (issue 11): the server's Ringing event carries Parley's `earlyMedia`
 * extension (docs/protocol.md §14) when the far end sent a SIP 183 with SDP. The caller applies it as a
 * provisional answer: `Early Media` with the remote tracks (sdk-api §5.5.1 C8), then the acceptance connects it
 * (C11) without reporting those tracks again.
 */
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
