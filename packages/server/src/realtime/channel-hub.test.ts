import { ProtocolClient, startTestPlatform, waitFor, type TestPlatform } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'

let p: TestPlatform | undefined
afterEach(async () => {
  await p?.close()
  p = undefined
})

/** Opens a raw websocket and resolves with it, or rejects with the refusal status. */
function rawSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

describe('channel websocket (protocol §5.3–§5.8)', () => {
  it('answers every connCheck with {"connAck":{}} and ignores garbage frames without closing', async () => {
    p = await startTestPlatform()
    const alice = await p.subscribed('alice')
    await waitFor(() => alice.acks >= 1, 3000, 'the first connAck')
    const ws = alice.ws!
    const frames: string[] = []
    ws.on('message', (d) => frames.push(String(d)))
    for (const garbage of [
      'not json',
      '[]',
      'null',
      '42',
      '{"unknown":{}}',
      '{"connAck":{}}',
      '{"message_type":"ping"}',
    ]) {
      ws.send(garbage)
    }
    ws.send(Buffer.from([0, 1, 2, 3]), { binary: true })
    ws.send(JSON.stringify({ connCheck: { interval: 30 } }))
    await waitFor(() => alice.acks >= 2, 3000, 'a connAck after the garbage')
    expect(frames).toEqual(['{"connAck":{}}']) // nothing but the ack: JSON text, exactly as §5.4 shows
    expect(ws.readyState).toBe(WebSocket.OPEN)
    // Still fully working: a call reaches alice.
    const bob = await p.subscribed('bob')
    await bob.call('sip:alice@example.com')
    await alice.invitation()
    expect(alice.wellFormedProblems()).toEqual([])
  })

  it('sends {"connCheck":{"interval":N}} on its own to channels created with x-connCheckRole server', async () => {
    p = await startTestPlatform()
    const alice = p.client('alice')
    await alice.login()
    await alice.subscribe({ connCheckRole: 'server' })
    await waitFor(() => alice.serverChecks >= 2, 5000, 'two server connChecks')
  })

  it('refuses upgrades: unknown channel 404, bad token 401, another user token 403', async () => {
    p = await startTestPlatform()
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const path = alice.channel!.channelData.channelURL
    const ws = alice.wsBase
    await expect(
      rawSocket(
        `${ws}${path.replace(/ch-[0-9a-f]+/, 'ch-00000000000000000000')}?access_token=${alice.accessToken}`,
      ),
    ).rejects.toThrow('status 404')
    await expect(rawSocket(`${ws}${path}?access_token=garbage`)).rejects.toThrow('status 401')
    await expect(rawSocket(`${ws}${path}`)).rejects.toThrow('status 401')
    await expect(rawSocket(`${ws}${path}?access_token=${bob.accessToken}`)).rejects.toThrow('status 403')
    await expect(rawSocket(`${ws}/cpaas/other?access_token=${alice.accessToken}`)).rejects.toThrow(
      'status 404',
    )
    // The server stays healthy.
    await bob.call('alice@example.com')
    await alice.invitation()
  })

  it('accepts an expired but validly signed token on upgrade to the subject own channel (§5.3 MUST)', async () => {
    p = await startTestPlatform({ tokenTtl: 1 })
    const alice = await p.subscribed('alice')
    const firstToken = alice.accessToken
    await waitFor(
      async () => (await alice.turn()).status === 401,
      5000,
      'the access token to expire for REST',
    )
    alice.kill()
    await alice.connect(firstToken)
    const bob = p.client('bob')
    await bob.login()
    await bob.subscribe()
    await bob.call('alice@example.com')
    await alice.invitation()
  })

  it('keeps channel and subscription across socket loss and flushes queued notifications in order (§5.6, §5.7)', async () => {
    p = await startTestPlatform()
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    bob.kill()
    await waitFor(() => p!.server.hub.socketCount === 1, 3000, 'the server to see bob socket gone')
    // The call proceeds while bob has no socket (§11.9) and the create is answered at once (§4.7).
    const { reply, legId: la } = await alice.call('sip:bob@example.com')
    expect(reply.status).toBe(201)
    expect((await alice.end(la)).status).toBe(204)
    await bob.connect()
    const inv = await bob.invitation()
    const cancelled = await bob.event('Cancelled', inv.legId)
    expect(bob.received.indexOf(inv)).toBeLessThan(bob.received.indexOf(cancelled))
    // And later calls still arrive on the same channel without a new subscription.
    await alice.call('sip:bob@example.com')
    await bob.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification' && r.legId !== inv.legId,
      'a second invitation',
    )
  })

  it('marks sent frames delivered in the store, the channels of one moment in one write', async () => {
    p = await startTestPlatform()
    const store = p.server.ctx.store
    const writes: string[][] = []
    const markDeliveredMany = store.markDeliveredMany.bind(store)
    store.markDeliveredMany = async (marks, at) => {
      writes.push(marks.map((m) => m.channelId))
      return markDeliveredMany(marks, at)
    }
    // Two devices of alice: an invitation goes to both channels at once (§11.2).
    const phone = await p.subscribed('alice')
    const laptop = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const channelIds = [phone, laptop].map((c) => c.channel!.resourceURL.split('/').at(-1)!)
    await bob.call('sip:alice@example.com')
    await phone.invitation()
    await laptop.invitation()

    await waitFor(
      async () =>
        (await Promise.all(channelIds.map((id) => store.listUndelivered(id, 10)))).flat().length === 0,
      3000,
      'both channels to have no undelivered frame in the store',
    )
    expect(writes.some((ids) => ids.length === 2 && channelIds.every((id) => ids.includes(id)))).toBe(true)
    expect((await store.listRecentlyDelivered(channelIds[0]!, 0, 10)).map((f) => f.kind)).toEqual([
      'wrtcsSessionInvitationNotification',
    ])
  })

  it('replays recently delivered frames with their original ids after a reconnect, but no invitation that stopped ringing', async () => {
    p = await startTestPlatform()
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const { legId: la } = await alice.call('sip:bob@example.com')
    const inv = await bob.invitation()
    expect((await bob.answer(inv.legId)).status).toBe(204)
    const acceptance = await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    const { legId: la2 } = await bob.call('sip:alice@example.com')
    const ringing = await alice.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification',
      'invitation from bob',
    )
    expect(la2).not.toBe('')
    // alice's socket dies; on reconnect she gets the acceptance again (same id) and bob's still-ringing invitation.
    alice.kill()
    const before = alice.received.length
    await alice.connect()
    const replayedAcceptance = await alice.next(
      (r) => r.kind === 'wrtcsAcceptanceNotification',
      'replayed acceptance',
      3000,
      before,
    )
    expect(replayedAcceptance.body.id).toBe(acceptance.body.id)
    const replayedInvite = await alice.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification',
      'replayed invitation',
      3000,
      before,
    )
    expect(replayedInvite.body.id).toBe(ringing.body.id)
    // Once bob cancels, a further reconnect does not replay that invitation.
    expect((await bob.end(la2)).status).toBe(204)
    await alice.event('Cancelled', ringing.legId)
    alice.kill()
    const before2 = alice.received.length
    await alice.connect()
    await alice.next(
      (r) => r.kind === 'wrtcsAcceptanceNotification',
      'acceptance replayed again',
      3000,
      before2,
    )
    expect(alice.received.slice(before2).some((r) => r.kind === 'wrtcsSessionInvitationNotification')).toBe(
      false,
    )
    expect(la).not.toBe('')
  })

  it('closes sockets of a deleted channel with 1001, never 1000 (§5.5 MUST)', async () => {
    p = await startTestPlatform()
    const alice = await p.subscribed('alice')
    const res = await alice.request('DELETE', alice.channel!.resourceURL)
    expect(res.status).toBe(204)
    await waitFor(() => alice.closes.length > 0, 3000, 'the socket to close')
    expect(alice.closes[0]!.code).toBe(1001)
  })

  it('closes every socket with 1001 on shutdown', async () => {
    p = await startTestPlatform()
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    await p.server.close()
    await waitFor(() => alice.closes.length > 0 && bob.closes.length > 0, 3000, 'both sockets to close')
    expect(alice.closes[0]!.code).toBe(1001)
    expect(bob.closes[0]!.code).toBe(1001)
  })

  it('never expires a channel while its socket is attached; expires it after the idle lifetime (§5.8)', async () => {
    p = await startTestPlatform()
    const alice = p.client('alice')
    await alice.login()
    // Lifetime 1 s → idle floor of the test timings (1.5 s).
    const created = await alice.request<{ notificationChannel: NonNullable<ProtocolClient['channel']> }>(
      'POST',
      `/cpaas/notificationchannel/v1/alice/channels`,
      { notificationChannel: { channelType: 'Websockets', channelLifetime: 1 } },
    )
    alice.channel = created.body.notificationChannel
    await alice.connect()
    // A witness channel that never gets a socket expires after 1.5 s: by then the sweep has run many times.
    const witness = await alice.request<{ notificationChannel: { resourceURL: string } }>(
      'POST',
      `/cpaas/notificationchannel/v1/alice/channels`,
      { notificationChannel: { channelType: 'Websockets' } },
    )
    const witnessId = witness.body.notificationChannel.resourceURL.split('/').pop()!
    await waitFor(
      async () => (await p!.server.ctx.store.getChannel(witnessId)) === undefined,
      10_000,
      'the never-connected witness channel to expire',
    )
    expect(alice.ws!.readyState).toBe(WebSocket.OPEN)
    expect(await p.server.ctx.store.getChannel(alice.channel.resourceURL.split('/').pop()!)).toBeDefined()
    // Without its socket, the channel goes after its idle lifetime.
    await alice.disconnect()
    await waitFor(
      async () =>
        (await p!.server.ctx.store.getChannel(alice.channel!.resourceURL.split('/').pop()!)) === undefined,
      10_000,
      'the idle channel to expire',
    )
  })

  it('records an attached channel as active every half of the idle floor, not at every ping (§5.8)', async () => {
    // Pings every 200 ms; expiry needs 2 s of inactivity, so a touch is due every second.
    p = await startTestPlatform({ timings: { socketPingMs: 200, channelMinIdleMs: 2_000 } })
    const store = p.server.ctx.store
    const alice = p.client('alice')
    await alice.login()
    await alice.subscribe({ connCheckRole: 'server' })
    const channelId = alice.channel!.resourceURL.split('/').at(-1)!
    const touches: number[] = []
    const touchChannels = store.touchChannels.bind(store)
    store.touchChannels = async (ids, at, connected) => {
      if (ids.includes(channelId)) touches.push(Date.now())
      return touchChannels(ids, at, connected)
    }
    const checksBefore = alice.serverChecks

    await waitFor(() => touches.length >= 4, 10_000, 'four keepalive touches of the attached channel')

    const gaps = touches.slice(1).map((t, i) => t - touches[i]!)
    expect(Math.max(...gaps), `gaps between touches: ${gaps.join(', ')} ms`).toBeLessThan(2_000)
    expect(alice.serverChecks - checksBefore).toBeGreaterThan(2 * touches.length)
    expect(await store.getChannel(channelId)).toBeDefined()
    expect(alice.ws!.readyState).toBe(WebSocket.OPEN)
  })

  it('closes a socket that sends a frame above the size limit with 1009; the channel and server stay usable', async () => {
    p = await startTestPlatform()
    const alice = await p.subscribed('alice')
    alice.ws!.send('x'.repeat(p.server.ctx.config.maxFrameBytes + 1))
    await waitFor(() => alice.closes.length > 0, 5000, 'the oversized frame to close the socket')
    expect(alice.closes[0]!.code).toBe(1009)
    await alice.connect()
    const bob = await p.subscribed('bob')
    await bob.call('alice@example.com')
    await alice.invitation()
  })

  it('completes 20 upgrades in a row reliably (§5.3)', async () => {
    p = await startTestPlatform()
    const alice = await p.subscribed('alice')
    const url = `${alice.wsBase}${alice.channel!.channelData.channelURL}?access_token=${alice.accessToken}`
    for (let i = 0; i < 20; i++) {
      const ws = await rawSocket(url)
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve())
        ws.close()
      })
    }
  })
})
