// @vitest-environment happy-dom
/** The facade and the Parley extras of protocol.md §14, through the fake server. */
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from './client.js'
import { FakeEngine, type FakeTrack } from './test-support/fake-media.js'
import { FakeServer, accessTokenFor, idTokenFor } from './test-support/fake-server.js'
import { makeClient, subscribe, tick, until, type TestClient } from './test-support/harness.js'

const clients: TestClient[] = []
const client = (...args: Parameters<typeof makeClient>) => {
  const c = makeClient(...args)
  clients.push(c)
  return c
}
afterEach(async () => {
  clients.splice(0).forEach((c) => c.api.destroy())
  await tick()
})

async function connectedPair(server: FakeServer, aliceConfig: Record<string, unknown> = {}) {
  const alice = client(server, 'alice', aliceConfig)
  const bob = client(server, 'bob')
  await subscribe(alice)
  await subscribe(bob)
  const callId = alice.api.call.make('bob', { audio: true, video: true })
  const r = await bob.rec.waitFor('call:receive')
  const bobCallId = r.callId as string
  await until(() => bob.api.call.getById(bobCallId)?.state === 'Ringing')
  bob.api.call.answer(bobCallId, { audio: true, video: true })
  await until(() => alice.api.call.getById(callId)?.state === 'Connected')
  await until(() => bob.api.call.getById(bobCallId)?.state === 'Connected')
  await tick()
  return { alice, bob, callId, bobCallId }
}

describe('top-level API (sdk-api §2)', () => {
  it('getConfig reports the normalised config; updateConfig merges; getUserInfo; getBrowserDetails', () => {
    const api = createClient(
      {
        authentication: { server: { base: 'localhost:8443', protocol: 'http' }, clientCorrelator: 'c' },
        call: { iceServers: [{ urls: 'stun:s' }] },
        logs: { logLevel: 'silent' },
      },
      {
        mediaEngine: new FakeEngine(),
        userAgent:
          'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
      },
    )
    const cfg = api.getConfig()
    expect(cfg.call.defaultPeerConfig.iceServers).toEqual([{ urls: 'stun:s' }])
    cfg.call.removeH264Codecs = false
    expect(api.getConfig().call.removeH264Codecs).toBe(true)
    api.updateConfig({ call: { ringingFeedbackMode: 'manual' } })
    expect(api.getConfig().call.ringingFeedbackMode).toBe('manual')
    expect(api.getUserInfo()).toEqual({ username: undefined, token: undefined })
    api.setTokens({ accessToken: 'at', idToken: idTokenFor('alice') })
    expect(api.getUserInfo()).toEqual({ username: 'alice', token: 'at' })
    expect(api.getBrowserDetails()).toEqual({ browser: 'chrome', version: 126 })
    expect(api.getVersion()).toMatch(/^\d+\.\d+\.\d+/)
    expect(api.call.states.ON_HOLD).toBe('On Hold')
    expect(api.call.mediaConnectionStates.FAILED).toBe('failed')
    expect(api.logger.levels.DEBUG).toBe('debug')
    expect(api.connection.getSocketState().wsInfo).toMatchObject({
      protocol: 'ws',
      server: 'localhost',
      port: 8443,
    })
    api.destroy()
  })

  it('request:error accompanies a 401 (sdk-api §2.12)', async () => {
    const server = new FakeServer(['alice'])
    const alice = client(server, 'alice')
    alice.api.setTokens({ accessToken: 'wrong', idToken: idTokenFor('alice') })
    alice.api.services.subscribe(['call'], 'websocket')
    const err = await alice.rec.waitFor('request:error')
    expect((err.error as { code: string }).code).toBe('authentication:1')
    const sub = await alice.rec.waitFor('subscription:error')
    expect((sub.error as { code: string }).code).toBe('subscription:2')
  })

  it('after destroy every function is a no-op and no event is emitted; live calls get a goodbye DELETE', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const { alice, bob, bobCallId } = await connectedPair(server)
    alice.api.destroy()
    await tick(10)
    expect(alice.api.call.getAll()).toBeUndefined()
    expect(server.requestsTo('DELETE', /\/sessions\/leg-/).filter((r) => r.user === 'alice')).toHaveLength(1)
    expect(server.requestsTo('DELETE', /\/channels\//).filter((r) => r.user === 'alice')).toHaveLength(1)
    expect(alice.engine.liveLocalTracks()).toEqual([])
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Ended')
    const count = alice.rec.events.length
    alice.api.call.make('bob', { audio: true })
    await tick(10)
    expect(alice.rec.events.length).toBe(count)
  })

  it('unsubscribe deletes the subscription, closes the socket, deletes the channel', async () => {
    const server = new FakeServer(['alice'])
    const alice = client(server, 'alice')
    await subscribe(alice)
    alice.rec.clear()
    alice.api.services.unsubscribe(['call'])
    await alice.rec.waitFor(
      'subscription:change',
      () => alice.api.services.getSubscriptions().isPending === false,
    )
    expect(alice.api.services.getSubscriptions().subscribed).toEqual([])
    expect(server.requestsTo('DELETE', '/subscriptions/')).toHaveLength(1)
    expect(server.requestsTo('DELETE', '/channels/')).toHaveLength(1)
    expect(server.sockets[0]!.closedByClient).toBe(true)
    expect(alice.api.connection.getSocketState().connected).toBe(false)
  })

  it('muteTracks disables the track and emits media:muted; unmuteTracks reverses it', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const { alice, callId } = await connectedPair(server)
    const [trackId] = alice.api.call.getById(callId)!.localTracks
    alice.api.media.muteTracks([trackId!])
    expect(alice.api.media.getTrackById(trackId!)?.muted).toBe(true)
    expect(alice.engine.tracks.find((t) => t.id === trackId)!.enabled).toBe(false)
    await alice.rec.waitFor('media:muted')
    expect(alice.rec.of('media:muted')[0]).toEqual({ tracks: [trackId], trackIds: [trackId] })
    alice.api.media.unmuteTracks([trackId!])
    expect(alice.engine.tracks.find((t) => t.id === trackId)!.enabled).toBe(true)
  })

  it('getStats resolves a Map with the parley_sdk_info entry', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const { alice, callId } = await connectedPair(server)
    const stats = await alice.api.call.getStats(callId)
    expect(stats.get('parley_sdk_info')).toMatchObject({ type: 'parley_sdk_info', callId })
    await alice.rec.waitFor('call:statsReceived')
  })

  it('addMedia in a wrong state fails the §5.6.2 way with call:6 and the call stays usable', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const { alice, callId } = await connectedPair(server)
    alice.api.call.hold(callId)
    await until(() => alice.api.call.getById(callId)?.state === 'On Hold')
    await tick()
    alice.rec.clear()
    alice.api.call.addMedia(callId, { video: true })
    const err = await alice.rec.waitFor('call:error')
    expect((err.error as { code: string }).code).toBe('call:6')
    expect(alice.rec.types()).toEqual(['call:operation', 'call:operation', 'call:newMedia', 'call:error'])
    alice.api.call.unhold(callId)
    await until(() => alice.api.call.getById(callId)?.state === 'Connected')
  })
})

describe('Parley extras (protocol.md §14)', () => {
  it('TURN credentials are written into every ICE server entry (protocol.md §7.2)', async () => {
    const servers = [{ urls: 'turn:turn.test:3478' }, { urls: 'stun:turn.test:3478' }]
    const server = new FakeServer(['alice', 'bob'])
    const { alice } = await connectedPair(server, { call: { iceServers: servers } })
    const cfg = alice.engine.peers[0]!.config
    expect(cfg.iceServers).toHaveLength(2)
    for (const s of cfg.iceServers!) {
      expect(s.username).toMatch(/^\d+:alice$/)
      expect(s.credential).toBe('c2VjcmV0')
    }
    expect(alice.api.getConfig().call.defaultPeerConfig.iceServers).toEqual(servers)
  })

  it('the socket reconnects after a loss with the newest token, without re-subscribing, and calls still arrive', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const alice = client(server, 'alice', { connectivity: { reconnectDelay: 20 } })
    const bob = client(server, 'bob')
    await subscribe(alice)
    await subscribe(bob)
    server.answerConnChecks = true
    const before = server.requests.length
    // A renewed token: the fake accepts `at-alice` only, so reuse it but check that the socket reads it anew.
    alice.api.setTokens({ accessToken: accessTokenFor('alice'), idToken: idTokenFor('alice') })
    server.socketOf('alice')!.drop(1011)
    await until(() => alice.api.connection.getSocketState().connected === false)
    await until(() => alice.api.connection.getSocketState().connected === true, 2000, 'reconnected')
    expect(server.requests.slice(before).filter((r) => r.user === 'alice')).toEqual([])
    expect(alice.api.services.getSubscriptions().subscribed).toEqual(['call'])
    bob.api.call.make('alice', { audio: true })
    await alice.rec.waitFor('call:receive')
  })

  it('a late ringing reply never takes a cancelled call out of Cancelled (Q1)', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const alice = client(server, 'alice')
    const bob = client(server, 'bob')
    await subscribe(alice)
    await subscribe(bob)
    let release: () => void = () => undefined
    const gate = new Promise<void>((r) => (release = r))
    server.intercept = async (req) => {
      if (req.user === 'bob' && req.path.endsWith('/status')) await gate
      return undefined
    }
    const callId = alice.api.call.make('bob', { audio: true })
    await until(
      () => server.requestsTo('PUT', '/status').some((r) => r.user === 'bob'),
      3000,
      'ringing request sent',
    )
    alice.api.call.end(callId)
    const bobCall = () => bob.api.call.getAll()[0]
    await until(() => bobCall()?.state === 'Cancelled', 3000, 'bob Cancelled')
    release()
    await tick(20)
    expect(bobCall()?.state).toBe('Cancelled')
    expect(bob.rec.types((t) => t === 'call:receive' || t === 'call:stateChange')).toEqual([
      'call:receive',
      'call:stateChange',
    ])
  })

  it('a re-offer right after the answer is kept until the acceptance is applied (Q4)', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const alice = client(server, 'alice')
    const bob = client(server, 'bob')
    await subscribe(alice)
    await subscribe(bob)
    const callId = alice.api.call.make('bob', { audio: true })
    const r = await bob.rec.waitFor('call:receive')
    const bobCallId = r.callId as string
    await until(() => bob.api.call.getById(bobCallId)?.state === 'Ringing')
    // Make the acceptance slow to apply on alice's side, and hold as soon as bob is connected.
    const peer = alice.engine.lastPeer()
    const srd = peer.setRemoteDescription.bind(peer)
    peer.setRemoteDescription = async (type, sdp) => {
      if (type === 'answer') await tick(30)
      return srd(type, sdp)
    }
    bob.api.on('call:stateChange', () => {
      if (bob.api.call.getById(bobCallId)?.state === 'Connected') bob.api.call.hold(bobCallId)
    })
    bob.api.call.answer(bobCallId, { audio: true })
    await until(() => alice.api.call.getById(callId)?.remoteHold === true, 3000, 'alice sees remote hold')
    expect(alice.api.call.getById(callId)?.state).toBe('On Hold')
    await until(() => bob.api.call.getById(bobCallId)?.state === 'On Hold', 3000, 'bob On Hold')
  })

  it('media:sourceMuted/Unmuted only for listed tracks, and unmuted only after a muted', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const { alice, callId } = await connectedPair(server)
    const remoteId = alice.api.call.getById(callId)!.remoteTracks[0]!
    const remote = alice.engine.peers[0]!.transceivers.map((t) => t.receiver).find(
      (t) => t.id === remoteId,
    ) as FakeTrack
    alice.rec.clear()
    remote.fireUnmute()
    await tick()
    expect(alice.rec.of('media:sourceUnmuted')).toEqual([])
    remote.fireMute()
    const muted = await alice.rec.waitFor('media:sourceMuted')
    expect(muted).toMatchObject({ trackId: remoteId, trackIds: [remoteId], isLocal: false })
    expect(alice.api.media.getTrackById(remoteId)?.sourceMuted).toBe(true)
    remote.fireUnmute()
    await alice.rec.waitFor('media:sourceUnmuted')
    expect(alice.api.media.getTrackById(remoteId)?.sourceMuted).toBe(false)
  })

  it('a local track that ends by itself emits media:trackEnded and stays listed', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const { alice, callId } = await connectedPair(server)
    const localId = alice.api.call.getById(callId)!.localTracks[0]!
    alice.engine.tracks.find((t) => t.id === localId)!.fireEnded()
    const ev = await alice.rec.waitFor('media:trackEnded')
    expect(ev).toEqual({ trackId: localId, callId, isLocal: true })
    expect(alice.api.call.getById(callId)!.localTracks).toContain(localId)
    expect(alice.api.media.getTrackById(localId)?.state).toBe('ended')
  })

  it('the media connection state mirrors the ICE state', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const { alice, callId } = await connectedPair(server)
    await until(() => alice.api.call.getById(callId)?.mediaConnectionState === 'connected')
    alice.rec.clear()
    alice.engine.peers[0]!.setIceState('failed')
    const ev = await alice.rec.waitFor('call:mediaConnectionChange')
    expect(ev).toEqual({ callId, previous: { state: 'connected' } })
    expect(alice.api.call.getById(callId)?.mediaConnectionState).toBe('failed')
  })

  it('removeH264Codecs strips H264 from offers and answers', async () => {
    const server = new FakeServer(['alice', 'bob'])
    const alice = client(server, 'alice', {}, { offerH264: true })
    const bob = client(server, 'bob', {}, { offerH264: true })
    await subscribe(alice)
    await subscribe(bob)
    alice.api.call.make('bob', { audio: true, video: true })
    const r = await bob.rec.waitFor('call:receive')
    await until(() => bob.api.call.getById(r.callId as string)?.state === 'Ringing')
    const offer = (
      server.requestsTo('POST', /sessions$/)[0]!.body!.wrtcsSession as { offer: { sdp: string } }
    ).offer.sdp
    expect(offer).not.toContain('H264')
    expect(alice.engine.peers[0]!.options.excludeCodecs).toEqual(['H264'])
    expect(bob.engine.peers[0]!.remoteSdp).not.toContain('H264')
  })
})

describe('create never throws on bad config (sdk-api §1)', () => {
  it('logs and keeps defaults', () => {
    const logs: string[] = []
    const api = createClient(
      {
        authentication: {},
        call: { ringingFeedbackMode: 42 },
        logs: { handler: (e: { level: string }) => logs.push(e.level) },
      },
      { mediaEngine: new FakeEngine() },
    )
    expect(logs.filter((l) => l === 'error')).toHaveLength(2)
    expect(logs.filter((l) => l === 'warn').length).toBeGreaterThanOrEqual(1)
    expect(api.getConfig().call.ringingFeedbackMode).toBe('auto')
    api.destroy()
  })
})
