// @vitest-environment happy-dom
/**
 * Media prepared while an incoming call rings (`call.prepareAnswerMedia`, issue 14), and the timing
 * hook (`logs.timingHandler`): the devices start early only with access already granted, an answer with
 * the same media uses them, and every other ending stops them (no leaked camera or microphone).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { TimingMark } from '../core/timing.js'
import type { FakeEngineOptions } from '../test-support/fake-media.js'
import { FakeServer } from '../test-support/fake-server.js'
import { makeClient, subscribe, tick, until, type TestClient } from '../test-support/harness.js'

let clients: TestClient[] = []

afterEach(async () => {
  for (const c of clients) c.api.destroy()
  clients = []
  await tick()
})

async function setup(bobEngine: FakeEngineOptions, bobConfig: Record<string, unknown> = {}) {
  const server = new FakeServer(['alice', 'bob'])
  const marks: TimingMark[] = []
  const alice = makeClient(server, 'alice', {
    logs: { logLevel: 'error', timingHandler: (m: TimingMark) => marks.push(m) },
  })
  const bob = makeClient(server, 'bob', bobConfig, bobEngine)
  clients.push(alice, bob)
  await subscribe(alice)
  await subscribe(bob)
  return { server, alice, bob, marks }
}

/** alice calls bob; resolves once bob's call rings. */
async function ring(alice: TestClient, bob: TestClient, media = { audio: true, video: true }) {
  const callId = alice.api.call.make('bob@example.com', media)
  const received = await bob.rec.waitFor('call:receive')
  const bobCallId = received.callId as string
  await until(() => bob.api.call.getById(bobCallId)?.state === 'Ringing', 3000, 'bob Ringing')
  return { callId, bobCallId }
}

describe('media prepared while ringing (call.prepareAnswerMedia)', () => {
  it('starts the offered camera and microphone when access is granted; the answer uses them', async () => {
    const { alice, bob } = await setup({ permissionsGranted: true })
    const { callId, bobCallId } = await ring(alice, bob)
    await until(() => bob.engine.tracks.length === 2, 3000, 'early tracks started')
    // Started, but not on the call: nothing is sent or shown before the answer.
    expect(bob.api.call.getById(bobCallId)?.localTracks).toEqual([])
    expect(bob.rec.of('call:tracksAdded')).toEqual([])
    bob.api.call.answer(bobCallId, { audio: true, video: true })
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Connected', 3000, 'bob Connected')
    expect(bob.engine.constraints).toHaveLength(1)
    const ids = bob.engine.tracks.map((t) => t.id).sort()
    expect([...(bob.api.call.getById(bobCallId)?.localTracks ?? [])].sort()).toEqual(ids)
    alice.api.call.end(callId)
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Ended', 3000, 'bob Ended')
    expect(bob.engine.liveLocalTracks()).toEqual([])
  })

  for (const [name, finish] of [
    [
      'reject',
      (_a: TestClient, b: TestClient, ids: { bobCallId: string }) => b.api.call.reject(ids.bobCallId),
    ],
    [
      'ignore',
      (_a: TestClient, b: TestClient, ids: { bobCallId: string }) => b.api.call.ignore(ids.bobCallId),
    ],
    ['caller cancel', (a: TestClient, _b: TestClient, ids: { callId: string }) => a.api.call.end(ids.callId)],
  ] as const) {
    it(`${name} stops the tracks started while ringing`, async () => {
      const { alice, bob } = await setup({ permissionsGranted: true })
      const ids = await ring(alice, bob)
      await until(() => bob.engine.tracks.length === 2, 3000, 'early tracks started')
      finish(alice, bob, ids)
      await until(() => bob.api.call.getById(ids.bobCallId)?.state !== 'Ringing', 3000, 'bob ended')
      await until(() => bob.engine.liveLocalTracks().length === 0, 3000, 'no live local track')
      expect(bob.engine.tracks.every((t) => t.readyState === 'ended')).toBe(true)
    })
  }

  it('an answer with other media stops the early tracks and asks for its own', async () => {
    const { alice, bob } = await setup({ permissionsGranted: true })
    const { callId, bobCallId } = await ring(alice, bob)
    await until(() => bob.engine.tracks.length === 2, 3000, 'early tracks started')
    bob.api.call.answer(bobCallId, { audio: true, video: false })
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Connected', 3000, 'bob Connected')
    expect(bob.engine.constraints).toHaveLength(2)
    expect(bob.engine.constraints[1]).toEqual({ audio: true, video: false })
    const live = bob.engine.liveLocalTracks()
    expect(live.map((t) => t.kind)).toEqual(['audio'])
    // The early tracks had been attached while ringing: the answer sends only the new audio, no video.
    const senders = bob.engine.peers[0]!.transceivers.map((t) => [t.kind, t.sender?.track.id])
    expect(senders).toEqual([
      ['audio', live[0]!.id],
      ['video', undefined],
    ])
    expect(alice.engine.peers[0]!.remoteSdp).not.toMatch(/m=video[^]*a=(sendrecv|sendonly)/)
    alice.api.call.end(callId)
    await until(() => bob.engine.liveLocalTracks().length === 0, 3000, 'no live local track')
  })

  it('early tracks that arrive while ringing wait on the senders, unsent, until the answer', async () => {
    const { alice, bob } = await setup({ permissionsGranted: true })
    const { callId, bobCallId } = await ring(alice, bob)
    const peer = bob.engine.peers[0]!
    await until(() => peer.transceivers.every((t) => t.sender !== undefined), 3000, 'early tracks attached')
    // Attached, but no answer applied: nothing negotiated, nothing on the call.
    expect(peer.signalingState).toBe('have-remote-offer')
    expect(bob.api.call.getById(bobCallId)?.localTracks).toEqual([])
    expect(bob.rec.of('call:tracksAdded')).toEqual([])
    bob.api.call.answer(bobCallId, { audio: true, video: true })
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
    expect(bob.engine.constraints).toHaveLength(1)
    expect(peer.transceivers.map((t) => t.sender?.track.id).sort()).toEqual(
      bob.engine.tracks.map((t) => t.id).sort(),
    )
    alice.api.call.end(callId)
    await until(() => bob.engine.liveLocalTracks().length === 0, 3000, 'no live local track')
  })

  it('with access known to be granted, the devices start in the invitation task, before the peer connection', async () => {
    const { alice, bob } = await setup({ permissionsGranted: true })
    // gUM calls made by the time each peer connection is created.
    const seen: number[] = []
    const createPeer = bob.engine.createPeer.bind(bob.engine)
    bob.engine.createPeer = (config, options) => {
      seen.push(bob.engine.constraints.length)
      return createPeer(config, options)
    }
    const { callId } = await ring(alice, bob)
    expect(seen).toEqual([1])
    alice.api.call.end(callId)
    await until(() => bob.engine.liveLocalTracks().length === 0, 3000, 'no live local track')
  })

  it('starts nothing before the answer without granted access, or when switched off', async () => {
    for (const [engine, config] of [
      [{}, {}],
      [{ permissionsGranted: true }, { call: { prepareAnswerMedia: false } }],
    ] as const) {
      const { alice, bob } = await setup(engine, config)
      const { callId, bobCallId } = await ring(alice, bob)
      await tick(20)
      expect(bob.engine.constraints).toEqual([])
      bob.api.call.answer(bobCallId, { audio: true, video: true })
      await until(() => bob.api.call.getById(bobCallId)?.state === 'Connected', 3000, 'bob Connected')
      expect(bob.engine.constraints).toHaveLength(1)
      alice.api.call.end(callId)
      await until(() => bob.engine.liveLocalTracks().length === 0, 3000, 'no live local track')
    }
  })
})

describe('outgoing set-up', () => {
  it("builds the caller's peer connection while getUserMedia is pending, and closes it when that fails", async () => {
    const { alice, bob } = await setup({})
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const getUserMedia = alice.engine.getUserMedia.bind(alice.engine)
    alice.engine.getUserMedia = async (constraints) => {
      await gate
      return getUserMedia(constraints)
    }
    const callId = alice.api.call.make('bob@example.com', { audio: true, video: true })
    await until(() => alice.engine.peers.length === 1, 3000, 'peer created while gUM pending')
    expect(alice.engine.tracks).toEqual([])
    release()
    await until(() => alice.api.call.getById(callId)?.state === 'Ringing', 3000, 'alice Ringing')
    expect(alice.engine.peers).toHaveLength(1)
    alice.api.call.end(callId)
    await until(
      () => bob.api.call.getAll().every((c) => c.state === 'Cancelled' || c.state === 'Ended'),
      3000,
      'bob ended',
    )

    alice.engine.options.failGetUserMedia = 'NotAllowedError'
    const failed = alice.api.call.make('bob@example.com', { audio: true, video: true })
    await until(() => alice.api.call.getById(failed)?.state === 'Ended', 3000, 'failed call Ended')
    expect(alice.engine.peers).toHaveLength(2)
    expect(alice.engine.peers.every((p) => p.closed)).toBe(true)
  })
})

describe('offer and answer in one step', () => {
  it('the initial offer and answer are created and applied in one step when nothing rewrites them', async () => {
    const { alice, bob } = await setup({})
    const { callId, bobCallId } = await ring(alice, bob)
    bob.api.call.answer(bobCallId, { audio: true, video: true })
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
    expect(alice.engine.peers[0]!.implicitLocal).toBe(1)
    expect(bob.engine.peers[0]!.implicitLocal).toBe(1)
    alice.api.call.end(callId)
  })

  it('with sdpHandlers, both are created, rewritten by the handlers, then applied', async () => {
    const seen: string[] = []
    const handler = (sdp: unknown, info: { type: string; step: string; endpoint: string }) => {
      seen.push(`${info.endpoint}:${info.type}:${info.step}`)
      return sdp
    }
    const server = new FakeServer(['alice', 'bob'])
    const alice = makeClient(server, 'alice', { call: { sdpHandlers: [handler] } })
    const bob = makeClient(server, 'bob', { call: { sdpHandlers: [handler] } })
    clients.push(alice, bob)
    await subscribe(alice)
    await subscribe(bob)
    const { callId, bobCallId } = await ring(alice, bob)
    bob.api.call.answer(bobCallId, { audio: true, video: true })
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
    expect(alice.engine.peers[0]!.implicitLocal).toBe(0)
    expect(bob.engine.peers[0]!.implicitLocal).toBe(0)
    expect(seen).toContain('local:offer:set')
    expect(seen).toContain('local:answer:set')
    alice.api.call.end(callId)
  })
})

describe('timing hook (logs.timingHandler)', () => {
  it('marks the steps of the caller set-up in order, with the call id and, once known, the leg id', async () => {
    const { alice, bob, marks } = await setup({})
    const { callId, bobCallId } = await ring(alice, bob)
    bob.api.call.answer(bobCallId, { audio: true, video: true })
    await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
    const steps = marks.map((m) => m.step)
    const order = [
      'make',
      'gum:start',
      'gum:done',
      'offer:created',
      'post:sent',
      'post:answered',
      'state:Connected',
    ]
    expect(order.map((s) => steps.indexOf(s))).toEqual(
      order.map((s) => steps.indexOf(s)).sort((a, b) => a - b),
    )
    expect(order.every((s) => steps.includes(s))).toBe(true)
    expect(marks.every((m) => m.callId === callId && typeof m.at === 'number')).toBe(true)
    expect(marks.find((m) => m.step === 'post:answered')?.legId).toBeTypeOf('string')
  })
})
