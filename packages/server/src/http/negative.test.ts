import { randomBytes } from 'node:crypto'
import { legIdFromUrl, type ChannelResponse, type SubscriptionResponse } from '@parley/protocol'
import {
  startTestPlatform,
  syntheticSdp,
  type HttpReply,
  type ProtocolClient,
  type TestPlatform,
  fetchReply,
} from '@parley/test-kit'
import { SignJWT } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

const ORIGIN = 'https://app.example.org'

interface SendOptions {
  /** Bearer token; `null` for no Authorization header. Default: alice's access token. */
  token?: string | null
  /** A raw Authorization header, instead of `token`. */
  authorization?: string
  /** Default `application/json`; `null` for none. */
  contentType?: string | null
  /** Default ORIGIN; `null` for none. */
  origin?: string | null
  /** Default the 4.35 value; `null` for none. */
  agent?: string | null
  /** A string (fetch adds `text/plain` when no Content-Type is set) or bytes (no Content-Type at all). */
  body?: string | Uint8Array
}

// One platform for the whole file: every test ends with assertHealthy(), so a request that broke the server
// would show up in the test that sent it.
let p: TestPlatform
let alice: ProtocolClient
beforeAll(async () => {
  p = await startTestPlatform()
  alice = p.client('alice')
  await alice.login()
})
afterAll(async () => {
  await p.close()
})
afterEach(async () => {
  await assertHealthy(p)
})

/** A REST request as a browser page sends it (protocol §4.1), each header switchable. */
async function send(method: string, path: string, o: SendOptions = {}): Promise<HttpReply> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const token = o.token === undefined ? alice.accessToken : o.token
  if (o.authorization !== undefined) headers.Authorization = o.authorization
  else if (token !== null) headers.Authorization = `Bearer ${token}`
  const contentType = o.contentType === undefined ? 'application/json' : o.contentType
  if (contentType !== null) headers['Content-Type'] = contentType
  const origin = o.origin === undefined ? ORIGIN : o.origin
  if (origin !== null) headers.Origin = origin
  const agent = o.agent === undefined ? 'cpaas-js-sdk/4.35.0-beta.808' : o.agent
  if (agent !== null) headers['X-Cpaas-Agent'] = agent
  return fetchReply(p.url + path, {
    method,
    headers,
    ...(o.body !== undefined ? { body: o.body } : {}),
  })
}

/**
 * The §4.4 error contract: the status, `Content-Type: application/json`, the request's `Origin` echoed in
 * `Access-Control-Allow-Origin` (§4.6), `requestError.serviceException` with `messageId`, `text` and
 * `variables`, every `%N` backed by a variable, and nothing internal (no stack, no `Error:`).
 */
function expectProtocolError(
  res: HttpReply,
  status: number,
  messageId: string,
  variables?: string[],
  origin = ORIGIN,
): void {
  const what = `${res.status} ${res.text}`
  expect(res.status, what).toBe(status)
  expect(res.headers.get('content-type'), what).toMatch(/^application\/json/)
  expect(res.headers.get('access-control-allow-origin'), what).toBe(origin)
  expect(res.body, what).toEqual({
    requestError: {
      serviceException: {
        messageId,
        text: expect.any(String),
        variables: variables ?? expect.any(Array),
      },
    },
  })
  const ex = (res.body as { requestError: { serviceException: { text: string; variables: string[] } } })
    .requestError.serviceException
  for (const [, n] of ex.text.matchAll(/%(\d+)/g))
    expect(Number(n), what).toBeLessThanOrEqual(ex.variables.length)
  expect(res.text).not.toMatch(/\bat .*[/\\][^ ]+\.(ts|js|mjs|cjs)\b/)
  expect(res.text).not.toContain('Error:')
}

/** A normal call between alice and bob still completes, and the clients leave as a page does (§6.4). */
async function assertHealthy(platform: TestPlatform): Promise<void> {
  const a = await platform.subscribed('alice')
  const b = await platform.subscribed('bob')
  const { reply, legId: la } = await a.call('sip:bob@example.com')
  expect(reply.status, `health check: create ${reply.text}`).toBe(201)
  const { legId: lb } = await b.invitation()
  expect((await b.status(lb, 'Ringing')).status, 'health check: ringing').toBe(200)
  await a.event('Ringing', la)
  expect((await b.answer(lb)).status, 'health check: answer').toBe(204)
  await a.next((r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === la, 'health check: acceptance')
  expect((await a.end(la)).status, 'health check: end').toBe(204)
  await b.event('SessionEnded', lb)
  for (const c of [a, b]) {
    expect((await c.request('DELETE', c.subscriptionUrl)).status).toBe(204)
    await c.disconnect()
    expect((await c.request('DELETE', c.channel!.resourceURL)).status).toBe(204)
  }
}

const signaling = (user: string) => `/cpaas/webrtcsignaling/v1/${user}`
const createBody = (address = 'sip:bob@example.com') =>
  JSON.stringify({
    wrtcsSession: {
      clientCorrelator: 'sampleCorrelator',
      tParticipantAddress: address,
      offer: { sdp: syntheticSdp('offer') },
    },
  })
const turnBody = JSON.stringify({ wrtcsTurnCredentials: { clientCorrelator: 'sampleCorrelator' } })

/** Decodes a JWT payload segment. */
const payloadOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>

describe('authentication of REST requests (protocol §3.4, §13.2)', () => {
  it('a request without a token gets 401 SVC0401', async () => {
    for (const [method, path, body] of [
      ['POST', `${signaling('alice')}/sessions`, createBody()],
      ['POST', `${signaling('alice')}/turn`, turnBody],
      ['POST', '/cpaas/notificationchannel/v1/alice/channels', '{"notificationChannel":{}}'],
      ['DELETE', `${signaling('alice')}/subscriptions/sub-00aa`, undefined],
    ] as const) {
      const res = await send(method, path, { token: null, ...(body ? { body } : {}) })
      expectProtocolError(res, 401, 'SVC0401', [])
      expect((res.body as { requestError: { serviceException: { text: string } } }).requestError).toEqual({
        serviceException: { messageId: 'SVC0401', text: 'Unauthorized', variables: [] },
      })
    }
  })

  it('authentication comes before the body: no token with a malformed or oversized body still gets 401', async () => {
    for (const body of ['{not json', 'x'.repeat(300 * 1024)]) {
      const res = await send('POST', `${signaling('alice')}/sessions`, { token: null, body })
      expectProtocolError(res, 401, 'SVC0401', [])
    }
  })

  it('a garbage token or a non-Bearer Authorization header gets 401', async () => {
    for (const authorization of [
      'Bearer garbage',
      'Bearer a.b.c',
      'Bearer ',
      'Basic YWxpY2U6cGFzcw==',
      alice.accessToken, // no scheme
      `Bearer ${alice.accessToken}x`,
    ]) {
      const res = await send('POST', `${signaling('alice')}/turn`, { authorization, body: turnBody })
      expectProtocolError(res, 401, 'SVC0401', [])
    }
  })

  it('a token with alice claims but signed by another key, or unsigned, gets 401', async () => {
    const claims = payloadOf(alice.accessToken)
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(randomBytes(32))
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`
    for (const token of [forged, unsigned]) {
      const res = await send('POST', `${signaling('alice')}/turn`, { token, body: turnBody })
      expectProtocolError(res, 401, 'SVC0401', [])
    }
  })

  it('the id token or the refresh token used as an access token gets 401', async () => {
    for (const token of [alice.idToken, alice.refreshToken]) {
      const res = await send('POST', `${signaling('alice')}/turn`, { token, body: turnBody })
      expectProtocolError(res, 401, 'SVC0401', [])
    }
  })

  it('a valid token on another user path gets 403 SVC0403', async () => {
    for (const [method, path, body] of [
      ['POST', `${signaling('bob')}/sessions`, createBody('sip:carol@example.com')],
      ['POST', `${signaling('bob')}/turn`, turnBody],
      ['POST', `${signaling('nobody')}/turn`, turnBody],
      ['POST', '/cpaas/notificationchannel/v1/bob/channels', '{"notificationChannel":{}}'],
      ['DELETE', `${signaling('bob')}/sessions/leg-00aa`, undefined],
    ] as const) {
      const res = await send(method, path, body ? { body } : {})
      expectProtocolError(res, 403, 'SVC0403', [])
      expect(res.body).toEqual({
        requestError: { serviceException: { messageId: 'SVC0403', text: 'Forbidden', variables: [] } },
      })
    }
  })
})

describe('other users’ legs and accounts (protocol §8.0, §8.1)', () => {
  it('bob acting on alice leg id in his own path gets 404 SVC0004 and alice call is unaffected', async () => {
    const a = await p.subscribed('alice')
    const b = await p.subscribed('bob')
    const carol = p.client('carol')
    await carol.login()
    const mallory = p.client('mallory')
    await mallory.login()
    const { legId: la } = await a.call('sip:bob@example.com')
    const { legId: lb } = await b.invitation()
    expect((await b.status(lb, 'Ringing')).status).toBe(200)
    await a.event('Ringing', la)
    const noSuchSession = {
      requestError: { serviceException: { messageId: 'SVC0004', text: 'No such session', variables: [] } },
    }
    const attempts: [string, () => Promise<HttpReply>][] = [
      ['bob status on la', () => b.status(la, 'Connected')],
      ['bob answer on la', () => b.answer(la)],
      ['bob update on la', () => b.update(la)],
      ['bob DELETE on la', () => b.end(la)],
      ['carol status on lb', () => carol.status(lb, 'Ringing')],
      ['carol answer on lb', () => carol.answer(lb)],
      ['carol DELETE on la', () => carol.end(la)],
      ['mallory DELETE on lb', () => mallory.end(lb)],
      ['mallory answer on lb', () => mallory.answer(lb)],
    ]
    for (const [what, attempt] of attempts) {
      const res = await attempt()
      expect(res.status, what).toBe(404)
      expect(res.headers.get('content-type'), what).toMatch(/^application\/json/)
      expect(res.body, what).toEqual(noSuchSession)
    }
    // Both legs still ring.
    expect((await a.status(la, 'Connected')).body).toEqual({ wrtcsSessionStatus: { status: 'Ringing' } })
    expect((await b.status(lb, 'Connected')).body).toEqual({ wrtcsSessionStatus: { status: 'Ringing' } })
    // The call still completes normally, and (delivery being FIFO per channel, §11.2) nothing the refused
    // requests might have pushed reached alice before her acceptance.
    expect((await b.answer(lb)).status).toBe(204)
    await a.next((r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === la, 'acceptance')
    expect(a.received.map((r) => r.body.eventType ?? r.kind)).toEqual([
      'Ringing',
      'wrtcsAcceptanceNotification',
    ])
    expect(b.received.map((r) => r.kind)).toEqual(['wrtcsSessionInvitationNotification'])
    expect((await a.end(la)).status).toBe(204)
    await b.event('SessionEnded', lb)
    for (const c of [a, b]) expect((await c.request('DELETE', c.subscriptionUrl)).status).toBe(204)
  })

  it('calling a user of another account is 404 SVC0002 [tParticipantAddress], the same body as an unknown user', async () => {
    const mallory = await p.subscribed('mallory')
    const a = p.client('alice')
    await a.login()
    const other = await a.call('sip:mallory@example.com')
    const unknown = await a.call('sip:nobody@example.com')
    const bare = await a.call('mallory')
    for (const res of [other.reply, unknown.reply, bare.reply]) {
      expectProtocolError(
        res,
        404,
        'SVC0002',
        ['tParticipantAddress'],
        '*', // ProtocolClient sends no Origin
      )
    }
    expect(other.reply.text).toBe(unknown.reply.text) // no existence leak
    expect(bare.reply.text).toBe(unknown.reply.text)
    expect(mallory.received).toEqual([])
    expect((await mallory.request('DELETE', mallory.subscriptionUrl)).status).toBe(204)
  })
})

describe('malformed request bodies (protocol §4.2, §13.2)', () => {
  const path = () => `${signaling('alice')}/sessions`

  it('malformed JSON is 400 SVC0002 [body]', async () => {
    for (const [method, target, body] of [
      ['POST', path(), '{"wrtcsSession":'],
      ['POST', path(), "{'single': 'quotes'}"],
      ['PUT', `${path()}/leg-00aa/status`, '{,}'],
      ['POST', '/cpaas/notificationchannel/v1/alice/channels', 'not json'],
    ] as const) {
      expectProtocolError(await send(method, target, { body }), 400, 'SVC0002', ['body'])
    }
  })

  it('a body that is not an object is 400 SVC0002 [body]', async () => {
    for (const body of ['[]', '"x"', '42', 'null', 'true']) {
      expectProtocolError(await send('POST', path(), { body }), 400, 'SVC0002', ['body'])
    }
  })

  it.each([
    [
      'create without offer',
      'POST',
      '/sessions',
      { wrtcsSession: { tParticipantAddress: 'sip:bob@example.com' } },
      'offer',
    ],
    [
      'create with offer but no sdp',
      'POST',
      '/sessions',
      { wrtcsSession: { tParticipantAddress: 'sip:bob@example.com', offer: {} } },
      'offer',
    ],
    [
      'create without tParticipantAddress',
      'POST',
      '/sessions',
      { wrtcsSession: { offer: { sdp: 'v=0' } } },
      'tParticipantAddress',
    ],
    ['create with an empty object', 'POST', '/sessions', {}, 'wrtcsSession'],
    [
      'answer without sdp',
      'PUT',
      '/sessions/leg-00aa/answer',
      { wrtcsAnswer: { clientCorrelator: 'c' } },
      'sdp',
    ],
    ['answer with an empty object', 'PUT', '/sessions/leg-00aa/answer', {}, 'wrtcsAnswer'],
    ['update without sdp', 'PUT', '/sessions/leg-00aa/update', { wrtcsOffer: {} }, 'sdp'],
    ['status without status', 'PUT', '/sessions/leg-00aa/status', { wrtcsSessionStatus: {} }, 'status'],
    ['status with an empty object', 'PUT', '/sessions/leg-00aa/status', {}, 'wrtcsSessionStatus'],
    [
      'subscription without callbackReference',
      'POST',
      '/subscriptions',
      { wrtcsNotificationSubscription: {} },
      'callbackReference',
    ],
    ['subscription with an empty object', 'POST', '/subscriptions', {}, 'wrtcsNotificationSubscription'],
  ] as const)('%s is 400 SVC0002 naming the part', async (_what, method, suffix, body, field) => {
    const res = await send(method, signaling('alice') + suffix, { body: JSON.stringify(body) })
    expectProtocolError(res, 400, 'SVC0002', [field])
    expect(
      (res.body as { requestError: { serviceException: { text: string } } }).requestError.serviceException
        .text,
    ).toBe('Invalid input value for message part %1')
  })

  it.each([
    [
      'create with sdp: 123',
      'POST',
      '/sessions',
      { wrtcsSession: { tParticipantAddress: 'sip:bob@example.com', offer: { sdp: 123 } } },
      'offer',
    ],
    [
      'create with offer: "v=0"',
      'POST',
      '/sessions',
      { wrtcsSession: { tParticipantAddress: 'sip:bob@example.com', offer: 'v=0' } },
      'offer',
    ],
    [
      'create with a numeric address',
      'POST',
      '/sessions',
      { wrtcsSession: { tParticipantAddress: 42, offer: { sdp: 'v=0' } } },
      'tParticipantAddress',
    ],
    ['answer with sdp: 123', 'PUT', '/sessions/leg-00aa/answer', { wrtcsAnswer: { sdp: 123 } }, 'sdp'],
    [
      'status with status: 5',
      'PUT',
      '/sessions/leg-00aa/status',
      { wrtcsSessionStatus: { status: 5 } },
      'status',
    ],
    ['wrapper that is an array', 'POST', '/sessions', { wrtcsSession: [] }, 'wrtcsSession'],
  ] as const)('wrong types: %s is 400 SVC0002', async (_what, method, suffix, body, field) => {
    const res = await send(method, signaling('alice') + suffix, { body: JSON.stringify(body) })
    expectProtocolError(res, 400, 'SVC0002', [field])
  })

  it('a body above 256 kB is 413 with the protocol body', async () => {
    const body = JSON.stringify({
      wrtcsSession: { tParticipantAddress: 'sip:bob@example.com', offer: { sdp: 'a'.repeat(300 * 1024) } },
    })
    expectProtocolError(await send('POST', `${signaling('alice')}/sessions`, { body }), 413, 'SVC0006', [])
  })

  it('an SDP above 64 kB is 400 SVC0002', async () => {
    const sdp = `v=0\r\n${'a=x-padding\r\n'.repeat(6000)}` // ~78 kB, below the body limit
    const create = JSON.stringify({
      wrtcsSession: { tParticipantAddress: 'sip:bob@example.com', offer: { sdp } },
    })
    expectProtocolError(
      await send('POST', `${signaling('alice')}/sessions`, { body: create }),
      400,
      'SVC0002',
      ['offer'],
    )
    const answer = JSON.stringify({ wrtcsAnswer: { sdp } })
    expectProtocolError(
      await send('PUT', `${signaling('alice')}/sessions/leg-00aa/answer`, { body: answer }),
      400,
      'SVC0002',
      ['sdp'],
    )
  })

  it('a text/plain, XML or untyped body on POST …/sessions is 415 with the protocol body', async () => {
    for (const contentType of ['text/plain', 'text/plain;charset=UTF-8', 'application/xml']) {
      const res = await send('POST', `${signaling('alice')}/sessions`, { contentType, body: createBody() })
      expectProtocolError(res, 415, 'SVC0007', [])
    }
    // A body without any Content-Type is no JSON either.
    const bytes = new TextEncoder().encode(createBody())
    const res = await send('POST', `${signaling('alice')}/sessions`, { contentType: null, body: bytes })
    expectProtocolError(res, 415, 'SVC0007', [])
  })
})

describe('routing (protocol §2.2, §6.5, §13.2)', () => {
  it('an unknown route is 404 SVC0004', async () => {
    for (const [method, path] of [
      ['GET', '/cpaas/nothing'],
      ['POST', '/cpaas/webrtcsignaling/v2/alice/sessions'],
      ['POST', '/cpaas/chat/v1/alice/subscriptions'],
      ['PUT', `${signaling('alice')}/sessions/leg-00aa/dance`],
      ['POST', `${signaling('alice')}/sessions/`],
      ['GET', '/favicon.ico'],
    ] as const) {
      const res = await send(method, path, method === 'GET' ? { contentType: null } : { body: '{}' })
      expectProtocolError(res, 404, 'SVC0004', [])
    }
  })

  it('a wrong method on a known path is 405 SVC0005', async () => {
    for (const [method, path] of [
      ['GET', `${signaling('alice')}/sessions`],
      ['GET', `${signaling('alice')}/sessions/leg-00aa`],
      ['GET', `${signaling('alice')}/subscriptions`],
      ['PUT', `${signaling('alice')}/turn`],
      ['POST', `${signaling('alice')}/sessions/leg-00aa/status`],
      ['GET', '/cpaas/notificationchannel/v1/alice/channels'],
    ] as const) {
      const res = await send(method, path, method === 'GET' ? { contentType: null } : { body: '{}' })
      expectProtocolError(res, 405, 'SVC0005', [])
    }
  })
})

describe('request headers Kandy clients send (protocol §4.1)', () => {
  it('Content-Type: application/json with an empty body on DELETE is 204', async () => {
    const a = await p.subscribed('alice')
    const b = await p.subscribed('bob')
    const { legId: la } = await a.call('sip:bob@example.com')
    const { legId: lb } = await b.invitation()
    expect((await send('DELETE', `${signaling('alice')}/sessions/${la}`, { body: '' })).status).toBe(204)
    await b.event('Cancelled', lb)
    expect((await send('DELETE', `${signaling('alice')}/sessions/${la}`)).status).toBe(204) // already ended
    for (const c of [a, b]) {
      const opts = { token: c.accessToken, contentType: 'application/json' }
      expect((await send('DELETE', c.subscriptionUrl, { ...opts, body: '' })).status).toBe(204)
      await c.disconnect()
      expect((await send('DELETE', c.channel!.resourceURL, opts)).status).toBe(204)
    }
  })

  it('X-Cpaas-Agent is optional and never checked strictly', async () => {
    for (const agent of [
      null,
      'cpaas-js-sdk/4.35.0-beta.808',
      'cpaas-js-sdk/5.2.0',
      'cpaas-js-sdk/5.2.0 my-app/1.0',
      'something else',
    ]) {
      const turn = await send('POST', `${signaling('alice')}/turn`, { agent, body: turnBody })
      expect(turn.status, String(agent)).toBe(200)
      const channel = await send('POST', '/cpaas/notificationchannel/v1/alice/channels', {
        agent,
        body: JSON.stringify({ notificationChannel: { channelType: 'Websockets' } }),
      })
      expect(channel.status, String(agent)).toBe(201)
      const url = (channel.body as ChannelResponse).notificationChannel.resourceURL
      expect((await send('DELETE', url, { agent })).status).toBe(204)
    }
  })
})

describe('CORS (protocol §4.6)', () => {
  it('OPTIONS on any path answers 204 with the CORS headers, without Authorization', async () => {
    for (const path of [
      '/cpaas/auth/v1/token',
      '/cpaas/notificationchannel/v1/alice/channels',
      `${signaling('alice')}/sessions`,
      `${signaling('alice')}/sessions/leg-00aa/status`,
      `${signaling('bob')}/subscriptions/sub-00aa`,
      '/cpaas/unknown/thing',
      '/',
    ]) {
      for (const origin of [ORIGIN, null]) {
        const res = await send('OPTIONS', path, {
          token: null,
          contentType: null,
          agent: null,
          origin,
        })
        const what = `${path} origin=${origin}`
        expect(res.status, what).toBe(204)
        expect(res.headers.get('access-control-allow-origin'), what).toBe(origin ?? '*')
        const methods = (res.headers.get('access-control-allow-methods') ?? '').split(/\s*,\s*/)
        expect(methods, what).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS']))
        const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/)
        expect(allowed, what).toEqual(
          expect.arrayContaining(['authorization', 'content-type', 'accept', 'x-cpaas-agent']),
        )
      }
    }
  })

  it('a browser preflight (Access-Control-Request-*) without Authorization answers 204', async () => {
    const res = await fetch(`${p.url}${signaling('alice')}/sessions/leg-00aa/status`, {
      method: 'OPTIONS',
      headers: {
        Origin: ORIGIN,
        'Access-Control-Request-Method': 'PUT',
        'Access-Control-Request-Headers': 'authorization,content-type,x-cpaas-agent',
      },
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
  })

  it('error responses without an Origin still carry Access-Control-Allow-Origin', async () => {
    const res = await send('POST', `${signaling('alice')}/turn`, {
      token: null,
      origin: null,
      body: turnBody,
    })
    expectProtocolError(res, 401, 'SVC0401', [], '*')
  })
})

describe('identifiers (protocol §2.4, §15 items 6–7)', () => {
  it('leg, channel and subscription ids are prefixed hex, slash-free and legs never repeat', async () => {
    const a = await p.subscribed('alice')
    const b1 = await p.subscribed('bob')
    const b2 = await p.subscribed('bob')
    const legIds: string[] = []
    const isInvitation = (r: { kind: string }) => r.kind === 'wrtcsSessionInvitationNotification'
    for (let i = 0; i < 8; i++) {
      const [n1, n2] = [b1.received.length, b2.received.length]
      const { reply, legId } = await a.call('sip:bob@example.com')
      expect(reply.status).toBe(201)
      expect(reply.body.wrtcsSession.resourceURL.endsWith(`sessions/${legId}`)).toBe(true)
      legIds.push(legId)
      legIds.push((await b1.next(isInvitation, `invitation ${i}`, 5000, n1)).legId!)
      legIds.push((await b2.next(isInvitation, `invitation ${i}`, 5000, n2)).legId!)
      expect((await a.end(legId)).status).toBe(204)
    }
    // A user calling their own identity: two different legs (§2.4).
    const n = a.received.length
    const self = await a.call('sip:alice@example.com')
    legIds.push(self.legId, (await a.next(isInvitation, 'self invitation', 5000, n)).legId!)
    expect((await a.end(self.legId)).status).toBe(204)

    const channelIds: string[] = []
    const subscriptionIds: string[] = []
    for (const c of [a, b1, b2]) {
      channelIds.push(c.channel!.resourceURL.split('/channels/')[1]!)
      subscriptionIds.push(c.subscriptionUrl.split('/subscriptions/')[1]!)
    }
    for (let i = 0; i < 8; i++) {
      const ch = await send('POST', '/cpaas/notificationchannel/v1/alice/channels', {
        body: JSON.stringify({
          notificationChannel: { channelType: 'Websockets', clientCorrelator: 'sampleCorrelator' },
        }),
      })
      const nc = (ch.body as ChannelResponse).notificationChannel
      const channelId = nc.resourceURL.split('/channels/')[1]!
      channelIds.push(channelId)
      expect(nc.callbackURL).toContain(channelId)
      const sub = await send('POST', `${signaling('alice')}/subscriptions`, {
        body: JSON.stringify({
          wrtcsNotificationSubscription: {
            callbackReference: { notifyURL: nc.callbackURL },
            clientCorrelator: 'sampleCorrelator',
          },
        }),
      })
      expect(sub.status).toBe(201)
      subscriptionIds.push(
        (sub.body as SubscriptionResponse).wrtcsNotificationSubscription.resourceURL.split(
          '/subscriptions/',
        )[1]!,
      )
      expect((await send('DELETE', nc.resourceURL)).status).toBe(204)
    }

    for (const id of legIds) {
      expect(id).toMatch(/^leg-[0-9a-f]+$/)
      expect(id).not.toContain('sessions/')
      expect(legIdFromUrl(`${signaling('alice')}/sessions/${id}`)).toBe(id) // cut back out as clients do
    }
    for (const id of channelIds) expect(id).toMatch(/^ch-[0-9a-f]+$/)
    for (const id of subscriptionIds) expect(id).toMatch(/^sub-[0-9a-f]+$/)
    for (const id of [...legIds, ...channelIds, ...subscriptionIds]) expect(id).not.toContain('/')
    expect(new Set(legIds).size).toBe(legIds.length)
    expect(legIds).toHaveLength(8 * 3 + 2)
    expect(new Set(channelIds).size).toBe(channelIds.length)
    expect(new Set(subscriptionIds).size).toBe(subscriptionIds.length)
    for (const c of [a, b1, b2]) expect((await c.request('DELETE', c.subscriptionUrl)).status).toBe(204)
  })
})
