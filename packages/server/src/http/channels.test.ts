import { createHmac } from 'node:crypto'
import type { ChannelResponse, SubscriptionResponse } from '@parley/protocol'
import { startTestPlatform, waitFor, type ProtocolClient, type TestPlatform } from '@parley/test-kit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

let p: TestPlatform
beforeEach(async () => {
  p = await startTestPlatform()
})
afterEach(async () => {
  await p.close()
})

const channelsPath = (username: string) => `/cpaas/notificationchannel/v1/${username}/channels`

/** `POST …/channels` with the given `notificationChannel` object (§5.1). */
function createChannel(
  c: ProtocolClient,
  notificationChannel: Record<string, unknown>,
  username = c.username,
) {
  return c.request<ChannelResponse>('POST', channelsPath(username), { notificationChannel })
}

/** `POST …/subscriptions` with the given `notifyURL` and correlator (§6.2). */
function subscribeCall(c: ProtocolClient, notifyURL: string, clientCorrelator?: string) {
  return c.request<SubscriptionResponse>('POST', `${c.signaling}/subscriptions`, {
    wrtcsNotificationSubscription: {
      callbackReference: { notifyURL },
      ...(clientCorrelator !== undefined ? { clientCorrelator } : {}),
    },
  })
}

/** A logged-in client with no channel yet. */
async function loggedIn(name: 'alice' | 'bob' | 'carol' | 'mallory'): Promise<ProtocolClient> {
  const c = p.client(name)
  await c.login()
  return c
}

/** Creates a channel with `correlator`, opens its websocket on the client, and returns the channel body. */
async function channelWithSocket(c: ProtocolClient, correlator: string) {
  const res = await createChannel(c, { channelType: 'Websockets', clientCorrelator: correlator })
  expect(res.status).toBe(201)
  c.channel = res.body.notificationChannel
  await c.connect()
  return res.body.notificationChannel
}

/** Places a call from `caller` to `callee`'s identity and, if it rang, hangs it up again. */
async function callStatus(caller: ProtocolClient, callee: string): Promise<number> {
  const { reply, legId } = await caller.call(`sip:${callee}@example.com`)
  if (reply.status === 201) expect((await caller.end(legId)).status).toBe(204)
  return reply.status
}

const notSubscribedBody = {
  requestError: {
    serviceException: {
      messageId: 'SVC0002',
      text: 'Invalid input value for message part %1',
      variables: ['tParticipantAddress'],
    },
  },
}

describe('POST …/channels (protocol §5.1)', () => {
  it('answers 201 with channelType exactly "websockets" whatever the request said', async () => {
    const alice = await loggedIn('alice')
    for (const nc of [
      { channelType: 'Websockets', clientCorrelator: 'sampleCorrelator', 'x-connCheckRole': 'client' },
      { clientCorrelator: 'sampleCorrelator' },
      { channelType: 'WEBSOCKETS' },
      {},
    ]) {
      const res = await createChannel(alice, nc)
      expect(res.status, JSON.stringify(nc)).toBe(201)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(res.body.notificationChannel.channelType).toBe('websockets')
    }
  })

  it('names the user before /channels/ in resourceURL and gives an absolute, query-free channelURL', async () => {
    const alice = await loggedIn('alice')
    const res = await createChannel(alice, {
      channelType: 'Websockets',
      clientCorrelator: 'sampleCorrelator',
    })
    const nc = res.body.notificationChannel
    const m = /\/([^/]+)\/channels\/([^/?#]+)$/.exec(nc.resourceURL)
    expect(m, nc.resourceURL).not.toBeNull()
    expect(m![1]).toBe('alice')
    const channelId = m![2]!
    const url = nc.channelData.channelURL
    expect(url.startsWith('/')).toBe(true)
    expect(url.startsWith('//')).toBe(false)
    expect(url).not.toMatch(/[?#]|:\/\//)
    expect(url).toContain(channelId)
    // The client appends it verbatim after the port and adds ?access_token= (§2.3); that opens the socket.
    alice.channel = nc
    await alice.connect()
    expect(alice.ws?.readyState).toBe(alice.ws?.OPEN)
  })

  it('gives every channel its own callbackURL, also two channels of one user', async () => {
    const alice = await loggedIn('alice')
    const bob = await loggedIn('bob')
    const body = { channelType: 'Websockets', clientCorrelator: 'sampleCorrelator' }
    const urls = [
      (await createChannel(alice, body)).body.notificationChannel,
      (await createChannel(alice, body)).body.notificationChannel,
      (await createChannel(bob, body)).body.notificationChannel,
    ]
    for (const nc of urls) expect(typeof nc.callbackURL === 'string' && nc.callbackURL !== '').toBe(true)
    expect(new Set(urls.map((nc) => nc.callbackURL)).size).toBe(3)
    expect(new Set(urls.map((nc) => nc.resourceURL)).size).toBe(3)
  })

  it('echoes channelLifetime and clientCorrelator, and defaults the lifetime to 3600', async () => {
    const alice = await loggedIn('alice')
    const given = await createChannel(alice, {
      channelType: 'Websockets',
      channelLifetime: 7200,
      clientCorrelator: 'corr-1',
    })
    expect(given.status).toBe(201)
    expect(given.body.notificationChannel.channelLifetime).toBe(7200)
    expect(given.body.notificationChannel.clientCorrelator).toBe('corr-1')
    // The quickstart never sends channelLifetime (§5.1 MUST accept).
    const absent = await createChannel(alice, { channelType: 'Websockets', clientCorrelator: 'corr-2' })
    expect(absent.status).toBe(201)
    expect(absent.body.notificationChannel.channelLifetime).toBe(3600)
    expect(absent.body.notificationChannel.clientCorrelator).toBe('corr-2')
  })
})

describe('DELETE …/channels/{channelId} (protocol §5.2)', () => {
  it('answers 204, closes the socket, and the user is no longer callable through it', async () => {
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    expect((await alice.request('DELETE', alice.channel!.resourceURL)).status).toBe(204)
    await waitFor(() => alice.closes.length > 0, 5000, 'the server to close the deleted channel socket')
    expect(alice.closes[0]!.code).not.toBe(1000) // §5.5: never 1000
    const res = await bob.call('sip:alice@example.com')
    expect(res.reply.status).toBe(404)
    expect(res.reply.body).toEqual(notSubscribedBody)
  })

  it('answers 204 for an unknown channel id', async () => {
    const alice = await loggedIn('alice')
    const res = await alice.request('DELETE', `${channelsPath('alice')}/ch-0123456789abcdef01234567`)
    expect(res.status).toBe(204)
  })

  it('answers 204 to bob and mallory naming alice channel in their own path, but alice keeps receiving calls', async () => {
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const mallory = await loggedIn('mallory')
    const channelId = alice.channel!.resourceURL.split('/channels/')[1]!
    expect((await bob.request('DELETE', `${channelsPath('bob')}/${channelId}`)).status).toBe(204)
    expect((await mallory.request('DELETE', `${channelsPath('mallory')}/${channelId}`)).status).toBe(204)
    // Under alice's path the token subject is wrong: 403.
    expect((await bob.request('DELETE', alice.channel!.resourceURL)).status).toBe(403)
    const { legId } = await bob.call('sip:alice@example.com')
    const inv = await alice.invitation()
    expect(inv.body.originatorAddress).toBe('sip:bob@example.com')
    expect((await bob.end(legId)).status).toBe(204)
    expect(alice.closes).toEqual([])
  })
})

describe('PUT {channel resourceURL}/channelLifetime (protocol §14.3)', () => {
  it('answers 200 with the same body shape and the new lifetime', async () => {
    const alice = await p.subscribed('alice')
    const res = await alice.request('PUT', `${alice.channel!.resourceURL}/channelLifetime`, {
      notificationChannelLifetime: { channelLifetime: 600 },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.body).toEqual({ notificationChannelLifetime: { channelLifetime: 600 } })
  })

  it('is 404 SVC0004 for an unknown channel and for another user channel', async () => {
    const alice = await p.subscribed('alice')
    const bob = await loggedIn('bob')
    const body = { notificationChannelLifetime: { channelLifetime: 600 } }
    const unknown = await alice.request(
      'PUT',
      `${channelsPath('alice')}/ch-0123456789abcdef01234567/channelLifetime`,
      body,
    )
    expect(unknown.status).toBe(404)
    expect(unknown.body).toMatchObject({ requestError: { serviceException: { messageId: 'SVC0004' } } })
    const channelId = alice.channel!.resourceURL.split('/channels/')[1]!
    const others = await bob.request('PUT', `${channelsPath('bob')}/${channelId}/channelLifetime`, body)
    expect(others.status).toBe(404)
    expect(others.body).toMatchObject({ requestError: { serviceException: { messageId: 'SVC0004' } } })
  })
})

describe('POST …/subscriptions (protocol §6.2)', () => {
  it('answers 201 with resourceURL ending /subscriptions/{id}, echoing notifyURL and clientCorrelator', async () => {
    const alice = await loggedIn('alice')
    const nc = await channelWithSocket(alice, 'sampleCorrelator')
    const res = await subscribeCall(alice, nc.callbackURL, 'sampleCorrelator')
    expect(res.status).toBe(201)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const sub = res.body.wrtcsNotificationSubscription
    expect(sub.resourceURL).toMatch(/\/subscriptions\/[^/?#]+$/)
    expect(sub.resourceURL.startsWith('/cpaas/webrtcsignaling/v1/alice/subscriptions/')).toBe(true)
    expect(sub.callbackReference).toEqual({ notifyURL: nc.callbackURL })
    expect(sub.clientCorrelator).toBe('sampleCorrelator')
    // Bound: alice is now callable on that channel.
    const bob = await loggedIn('bob')
    await bob.call('sip:alice@example.com')
    await alice.invitation()
  })

  it('a repeated subscribe for the same channel returns the same resourceURL', async () => {
    const alice = await loggedIn('alice')
    const nc = await channelWithSocket(alice, 'sampleCorrelator')
    const first = await subscribeCall(alice, nc.callbackURL, 'sampleCorrelator')
    const second = await subscribeCall(alice, nc.callbackURL, 'sampleCorrelator')
    expect(first.status).toBe(201)
    expect(second.status).toBe(201)
    expect(second.body.wrtcsNotificationSubscription.resourceURL).toBe(
      first.body.wrtcsNotificationSubscription.resourceURL,
    )
  })

  it('a notifyURL matching no channel is 400 SVC0002 [notifyURL] when no single channel has the correlator', async () => {
    const alice = await loggedIn('alice')
    await channelWithSocket(alice, 'sampleCorrelator')
    const bad = {
      requestError: {
        serviceException: {
          messageId: 'SVC0002',
          text: 'Invalid input value for message part %1',
          variables: ['notifyURL'],
        },
      },
    }
    const noCorrelator = await subscribeCall(alice, '/nowhere/callback')
    expect(noCorrelator.status).toBe(400)
    expect(noCorrelator.headers.get('content-type')).toMatch(/^application\/json/)
    expect(noCorrelator.body).toEqual(bad)
    const otherCorrelator = await subscribeCall(alice, '/nowhere/callback', 'corr-nobody-has')
    expect(otherCorrelator.body).toEqual(bad)
    // Two channels with the same correlator: ambiguous, so no fallback either.
    await createChannel(alice, { channelType: 'Websockets', clientCorrelator: 'sampleCorrelator' })
    const ambiguous = await subscribeCall(alice, '/nowhere/callback', 'sampleCorrelator')
    expect(ambiguous.status).toBe(400)
    expect(ambiguous.body).toEqual(bad)
    const bob = await loggedIn('bob')
    expect(await callStatus(bob, 'alice')).toBe(404)
  })

  it('falls back to the one channel of the user with the same clientCorrelator', async () => {
    const alice = await loggedIn('alice')
    await channelWithSocket(alice, 'corr-only-one')
    const res = await subscribeCall(alice, 'https://elsewhere.example.org/not-a-callback', 'corr-only-one')
    expect(res.status).toBe(201)
    const bob = await loggedIn('bob')
    await bob.call('sip:alice@example.com')
    const inv = await alice.invitation()
    expect(inv.body.originatorAddress).toBe('sip:bob@example.com')
  })

  it('another user callbackURL does not bind that user channel', async () => {
    const alice = await p.subscribed('alice')
    const bob = await loggedIn('bob')
    const res = await subscribeCall(bob, alice.channel!.callbackURL, 'corr-bob-has-none')
    expect(res.status).toBe(400)
    const carol = await loggedIn('carol')
    expect(await callStatus(carol, 'bob')).toBe(404)
    expect(alice.received).toEqual([])
  })

  it('the constant sampleCorrelator of alice and of two bob channels replaces nothing: all keep ringing (§4.2)', async () => {
    const alice = await p.subscribed('alice')
    const bob1 = await p.subscribed('bob')
    const bob2 = await p.subscribed('bob')
    expect(bob1.subscriptionUrl).not.toBe(bob2.subscriptionUrl)
    const alice2 = await p.subscribed('alice') // a second tab of alice, same correlator again
    const carol = await loggedIn('carol')
    const { legId: toBob } = await carol.call('sip:bob@example.com')
    const i1 = await bob1.invitation()
    const i2 = await bob2.invitation()
    expect(i1.legId).not.toBe(i2.legId)
    expect((await carol.end(toBob)).status).toBe(204)
    const { legId: toAlice } = await carol.call('sip:alice@example.com')
    await alice.invitation()
    await alice2.invitation()
    expect((await carol.end(toAlice)).status).toBe(204)
    // alice's and bob's subscriptions did not touch each other either: bob calls alice, alice calls bob.
    const before = [bob1.received.length, bob2.received.length]
    await alice.call('sip:bob@example.com')
    await bob1.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification',
      'invitation from alice',
      5000,
      before[0],
    )
    await bob2.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification',
      'invitation from alice',
      5000,
      before[1],
    )
  })
})

describe('DELETE …/subscriptions/{subscriptionId} (protocol §6.3)', () => {
  it('answers 204, after which the user is not callable (404 SVC0002 [tParticipantAddress])', async () => {
    const alice = await p.subscribed('alice')
    const bob = await loggedIn('bob')
    expect(await callStatus(bob, 'alice')).toBe(201)
    await alice.invitation()
    const res = await alice.request('DELETE', alice.subscriptionUrl)
    expect(res.status).toBe(204)
    const call = await bob.call('sip:alice@example.com')
    expect(call.reply.status).toBe(404)
    expect(call.reply.headers.get('content-type')).toMatch(/^application\/json/)
    expect(call.reply.body).toEqual(notSubscribedBody)
    // The channel itself stays; subscribing it again makes alice callable again.
    expect((await subscribeCall(alice, alice.channel!.callbackURL, 'sampleCorrelator')).status).toBe(201)
    expect(await callStatus(bob, 'alice')).toBe(201)
  })

  it('an unknown subscription id, or one already deleted, is 404 SVC0004', async () => {
    const alice = await p.subscribed('alice')
    const unknown = await alice.request(
      'DELETE',
      `${alice.signaling}/subscriptions/sub-0123456789abcdef01234567`,
    )
    expect(unknown.status).toBe(404)
    expect(unknown.headers.get('content-type')).toMatch(/^application\/json/)
    expect(unknown.body).toEqual({
      requestError: {
        serviceException: { messageId: 'SVC0004', text: 'No such subscription', variables: [] },
      },
    })
    expect((await alice.request('DELETE', alice.subscriptionUrl)).status).toBe(204)
    expect((await alice.request('DELETE', alice.subscriptionUrl)).status).toBe(404)
  })

  it('another user cannot delete alice subscription: 404 SVC0004 and alice stays callable', async () => {
    const alice = await p.subscribed('alice')
    const bob = await loggedIn('bob')
    const subId = alice.subscriptionUrl.split('/subscriptions/')[1]!
    const res = await bob.request('DELETE', `${bob.signaling}/subscriptions/${subId}`)
    expect(res.status).toBe(404)
    expect(res.body).toMatchObject({ requestError: { serviceException: { messageId: 'SVC0004' } } })
    expect(await callStatus(bob, 'alice')).toBe(201)
    await alice.invitation()
  })
})

describe('POST …/turn (protocol §7)', () => {
  it('answers 200 at once with <expiry>:alice valid ≥ 23 h and base64(HMAC-SHA1(secret, username))', async () => {
    const turnPlatform = await startTestPlatform({ turnSecret: 'test-secret' })
    try {
      const alice = turnPlatform.client('alice')
      await alice.login()
      const started = Date.now()
      const res = await alice.turn()
      expect(Date.now() - started).toBeLessThan(2000) // §7.2 MUST: at once, nothing slow in the way
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      const { username, password } = res.body.wrtcsTurnCredentials
      const m = /^(\d+):alice$/.exec(username)
      expect(m, username).not.toBeNull()
      const expiry = Number(m![1])
      const now = Math.floor(Date.now() / 1000)
      expect(expiry).toBeGreaterThanOrEqual(now + 23 * 3600)
      expect(expiry).toBeLessThanOrEqual(now + 24 * 3600 + 60)
      expect(password).toBe(createHmac('sha1', 'test-secret').update(username).digest('base64'))
      // Another user gets their own name in the username.
      const bob = turnPlatform.client('bob')
      await bob.login()
      expect((await bob.turn()).body.wrtcsTurnCredentials.username).toMatch(/^\d+:bob$/)
    } finally {
      await turnPlatform.close()
    }
  })

  it('without a configured turnSecret still answers non-empty credentials', async () => {
    const alice = await loggedIn('alice')
    const res = await alice.turn()
    expect(res.status).toBe(200)
    const { username, password } = res.body.wrtcsTurnCredentials
    expect(username).toMatch(/^\d+:alice$/)
    expect(typeof password).toBe('string')
    expect(password.length).toBeGreaterThan(0)
  })
})
