import type { ChannelResponse } from '@parley/protocol'
import {
  fetchReply,
  ProtocolClient,
  startTestPlatform,
  waitFor,
  type HttpReply,
  type TestPlatform,
} from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import type { AnonymousSettings } from '../config.js'
import {
  allowDestination,
  createProjectKey,
  deleteProjectKey,
  type CreatedKey,
} from '../services/anonymous.js'

const TOKEN_PATH = '/cpaas/auth/v1/token'
const ORIGIN = 'https://shop.example.org'
const FORBIDDEN = {
  requestError: { serviceException: { messageId: 'SVC0403', text: 'Forbidden', variables: [] } },
}

let p: TestPlatform
let key: CreatedKey
const anonymousClients: ProtocolClient[] = []

afterEach(async () => {
  for (const c of anonymousClients.splice(0)) c.kill()
  await p.close()
})

/** A platform with a project key of the main account and bob on its allow-list. */
async function platform(anonymous: Partial<AnonymousSettings> = {}): Promise<void> {
  p = await startTestPlatform({
    anonymous: {
      tokenTtl: 900,
      maxCallsPerAccount: 100,
      tokenPerKey: 1000,
      tokenPerAddress: 1000,
      ...anonymous,
    },
  })
  key = await createProjectKey(p.server.ctx, { clientId: p.clientId, name: 'website' })
  await allowDestination(p.server.ctx, p.clientId, 'bob@example.com')
}

function grant(fields: Record<string, string>, headers: Record<string, string> = {}): Promise<HttpReply> {
  return fetchReply(p.url + TOKEN_PATH, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN, ...headers },
    body: new URLSearchParams(fields).toString(),
  })
}

const formGrant = (k = key.key, secret = key.secret) =>
  grant({ grant_type: 'client_credentials', client_id: k, client_secret: secret, scope: 'openid' })

const basicGrant = (k = key.key, secret = key.secret) =>
  grant(
    { grant_type: 'client_credentials' },
    {
      Authorization: `Basic ${Buffer.from(`${encodeURIComponent(k)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
  )

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

/** A protocol client holding the tokens of one client_credentials grant. */
async function anonymous(): Promise<ProtocolClient> {
  const res = await formGrant()
  expect(res.status, res.text).toBe(200)
  const tokens = res.body as { access_token: string; id_token: string }
  const c = new ProtocolClient(p.url, key.key, '', '')
  c.accessToken = tokens.access_token
  c.idToken = tokens.id_token
  c.username = String(claims(tokens.id_token).preferred_username)
  anonymousClients.push(c)
  return c
}

function expectOAuth(res: HttpReply, status: number, error: string): void {
  expect(res.status, res.text).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
  expect(res.body).toEqual({ error, error_description: expect.any(String) })
}

async function accountId(): Promise<string> {
  return (await p.server.ctx.store.getAccountByClientId(p.clientId))!.id
}

describe('the client_credentials grant', () => {
  it('a key and secret in the form body give tokens of a new anonymous identity, without a refresh token', async () => {
    await platform()
    const res = await formGrant()
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = res.body as Record<string, unknown>
    expect(body).toEqual({
      access_token: expect.any(String),
      id_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      scope: 'openid',
    })
    const id = claims(body.id_token as string)
    expect(id.preferred_username).toMatch(/^anon-[0-9a-f]{24}$/)
    expect(id['services-identity']).toBe(`${String(id.preferred_username)}@example.com`)
    expect((id.exp as number) - (id.iat as number)).toBe(900)
    const user = await p.server.ctx.store.getUserByUsername(await accountId(), String(id.preferred_username))
    expect(user).toBeDefined()
    expect(await p.server.ctx.store.getAnonymousIdentity(user!.id)).toMatchObject({ keyId: key.key })
  })

  it('HTTP Basic credentials (RFC 6749 §2.3.1) work too, and every grant is a different identity', async () => {
    await platform()
    const a = await basicGrant()
    const b = await basicGrant()
    expect(a.status, a.text).toBe(200)
    expect(b.status).toBe(200)
    const name = (r: HttpReply) => claims((r.body as { id_token: string }).id_token).preferred_username
    expect(name(a)).not.toBe(name(b))
  })

  it('--anonymous-token-ttl sets expires_in', async () => {
    await platform({ tokenTtl: 120 })
    expect(((await formGrant()).body as { expires_in: number }).expires_in).toBe(120)
  })

  it('a wrong secret, an unknown key or no secret is 401 invalid_client (Basic: with WWW-Authenticate)', async () => {
    await platform()
    expectOAuth(await formGrant(key.key, 'not-the-secret'), 401, 'invalid_client')
    expectOAuth(await formGrant('pk-000000000000000000000000', key.secret), 401, 'invalid_client')
    expectOAuth(await grant({ grant_type: 'client_credentials', client_id: key.key }), 401, 'invalid_client')
    const basic = await basicGrant(key.key, 'not-the-secret')
    expectOAuth(basic, 401, 'invalid_client')
    expect(basic.headers.get('www-authenticate')).toMatch(/^Basic/)
    // The account's client id is not a project key.
    expectOAuth(await formGrant(p.clientId, key.secret), 401, 'invalid_client')
  })

  it('a deleted key gives no tokens, and the identities it issued lose theirs', async () => {
    await platform()
    const visitor = await anonymous()
    const removed = await deleteProjectKey(p.server.ctx, key.key)
    expect(removed.identitiesRemoved).toBe(1)
    expectOAuth(await formGrant(), 401, 'invalid_client')
    const res = await visitor.request('POST', `/cpaas/notificationchannel/v1/${visitor.username}/channels`, {
      notificationChannel: { channelType: 'Websockets' },
    })
    expect(res.status).toBe(401)
  })

  it('a key past its --ttl gives no tokens', async () => {
    await platform()
    const shortLived = await createProjectKey(p.server.ctx, { clientId: p.clientId, ttlSeconds: 1 })
    expect((await formGrant(shortLived.key, shortLived.secret)).status).toBe(200)
    await waitFor(
      async () => (await formGrant(shortLived.key, shortLived.secret)).status === 401 || undefined,
      5000,
      'the expired key to be refused',
    )
  })

  it('an expired anonymous token is refused with 401', async () => {
    await platform({ tokenTtl: 1 })
    const visitor = await anonymous()
    await waitFor(
      async () => (await visitor.turn()).status === 401 || undefined,
      5000,
      'the anonymous token to expire',
    )
  })

  it('the password grant never logs in as an anonymous identity', async () => {
    await platform()
    const visitor = await anonymous()
    const res = await grant({
      grant_type: 'password',
      client_id: p.clientId,
      username: `${visitor.username}@example.com`,
      password: '!anonymous',
    })
    expectOAuth(res, 400, 'invalid_grant')
  })

  it('grants are limited per key and per client address (429 with Retry-After)', async () => {
    await platform({ tokenPerKey: 2 })
    expect((await formGrant()).status).toBe(200)
    expect((await formGrant()).status).toBe(200)
    const limited = await formGrant()
    expectOAuth(limited, 429, 'too_many_requests')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    // Another key of the same address still has its budget.
    const other = await createProjectKey(p.server.ctx, { clientId: p.clientId })
    expect((await formGrant(other.key, other.secret)).status).toBe(200)
    await p.close()

    await platform({ tokenPerAddress: 2 })
    const keys = [key, await createProjectKey(p.server.ctx, { clientId: p.clientId })]
    expect((await formGrant(keys[0]!.key, keys[0]!.secret)).status).toBe(200)
    expect((await formGrant(keys[1]!.key, keys[1]!.secret)).status).toBe(200)
    const byAddress = await formGrant(keys[1]!.key, keys[1]!.secret)
    expectOAuth(byAddress, 429, 'too_many_requests')
    expect(Number(byAddress.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

describe('what an anonymous identity may do', () => {
  it('subscribes, gets TURN credentials and calls an allow-listed user, who sees its address and display name', async () => {
    await platform()
    const bob = await p.subscribed('bob')
    const visitor = await anonymous()
    await visitor.subscribe()
    expect((await visitor.turn()).status).toBe(200)
    const reply = await visitor.request<{ wrtcsSession: { resourceURL: string } }>(
      'POST',
      `${visitor.signaling}/sessions`,
      {
        wrtcsSession: {
          tParticipantAddress: 'sip:bob@example.com',
          offer: { sdp: 'v=0\r\n' },
          tParticipantName: 'Website visitor',
        },
      },
    )
    expect(reply.status, reply.text).toBe(201)
    const legId = reply.body.wrtcsSession.resourceURL.split('sessions/')[1]!
    const invitation = await bob.invitation()
    expect(invitation.body.originatorAddress).toBe(`sip:${visitor.username}@example.com`)
    expect(invitation.body.originatorName).toBe('Website visitor')
    expect((await bob.answer(invitation.legId)).status).toBe(204)
    await visitor.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'the acceptance')
    expect((await visitor.status(legId, 'Connected')).status).toBe(200)
    expect((await visitor.end(legId)).status).toBe(204)
    await bob.event('SessionEnded', invitation.legId)
  })

  it('calling a destination not on the allow-list is 403, whether or not it exists', async () => {
    await platform()
    await p.subscribed('carol')
    const visitor = await anonymous()
    await visitor.subscribe()
    for (const address of ['sip:carol@example.com', 'sip:nobody@example.com', 'sip:+15550100@example.com']) {
      const { reply } = await visitor.call(address)
      expect(reply.status, address).toBe(403)
      expect(reply.body).toEqual(FORBIDDEN)
    }
  })

  it('forward, transfer and channelLifetime are 403 for an anonymous identity', async () => {
    await platform()
    const bob = await p.subscribed('bob')
    const visitor = await anonymous()
    await visitor.subscribe()
    const { legId } = await visitor.call('sip:bob@example.com')
    const invitation = await bob.invitation()
    await bob.answer(invitation.legId)
    for (const res of [
      await visitor.forward(legId, 'sip:carol@example.com'),
      await visitor.transfer(legId, 'sip:carol@example.com'),
      await visitor.request(
        'PUT',
        `/cpaas/notificationchannel/v1/${visitor.username}/channels/${visitor.channel!.resourceURL.split('/').at(-1)!}/channelLifetime`,
        { notificationChannelLifetime: { channelLifetime: 7200 } },
      ),
    ]) {
      expect(res.status, res.text).toBe(403)
      expect(res.body).toEqual(FORBIDDEN)
    }
    expect((await visitor.end(legId)).status).toBe(204)
  })

  it('an anonymous identity can never be called, forwarded to or transferred to', async () => {
    await platform()
    const bob = await p.subscribed('bob')
    const carol = await p.subscribed('carol')
    const visitor = await anonymous()
    await visitor.subscribe()
    const address = `sip:${visitor.username}@example.com`

    const call = await bob.call(address)
    expect(call.reply.status).toBe(404)
    expect(JSON.stringify(call.reply.body)).toContain('tParticipantAddress')
    expect((await bob.call(visitor.username)).reply.status).toBe(404)

    // carol calls bob; bob tries to forward the ringing call to the visitor.
    await carol.call('sip:bob@example.com')
    const ringing = await bob.invitation()
    const forward = await bob.forward(ringing.legId, address)
    expect(forward.status).toBe(404)
    expect(JSON.stringify(forward.body)).toContain('address')

    // bob answers and tries to transfer carol to the visitor.
    await bob.answer(ringing.legId)
    const transfer = await bob.transfer(ringing.legId, address)
    expect(transfer.status).toBe(404)
    expect(JSON.stringify(transfer.body)).toContain('address')
    expect(visitor.received.filter((r) => r.kind === 'wrtcsSessionInvitationNotification')).toEqual([])
  })

  it('concurrent anonymous calls of an account are capped (429)', async () => {
    await platform({ maxCallsPerAccount: 1 })
    await p.subscribed('bob')
    const first = await anonymous()
    const second = await anonymous()
    await first.subscribe()
    await second.subscribe()
    const a = await first.call('sip:bob@example.com')
    expect(a.reply.status).toBe(201)
    const b = await second.call('sip:bob@example.com')
    expect(b.reply.status).toBe(429)
    expect(JSON.stringify(b.reply.body)).toContain('POL0002')
    await first.end(a.legId)
    expect((await second.call('sip:bob@example.com')).reply.status).toBe(201)
  })
})

describe('clean-up', () => {
  it('expired identities go with their channels and subscriptions; call records keep them', async () => {
    await platform({ tokenTtl: 1 })
    const bob = await p.subscribed('bob')
    const visitor = await anonymous()
    await visitor.subscribe()
    const { legId } = await visitor.call('sip:bob@example.com')
    await bob.invitation()
    await visitor.end(legId)
    const store = p.server.ctx.store
    const user = (await store.getUserByUsername(await accountId(), visitor.username))!
    const channelId = (visitor.channel as ChannelResponse['notificationChannel']).resourceURL
      .split('/')
      .at(-1)!
    expect(await store.getChannel(channelId)).toBeDefined()
    await waitFor(async () => (await store.getUser(user.id)) === undefined || undefined, 5000, 'the sweep')
    expect(await store.getChannel(channelId)).toBeUndefined()
    expect(await store.listSubscribedChannels(user.id)).toEqual([])
    expect(await store.getAnonymousIdentity(user.id)).toBeUndefined()
    await waitFor(() => visitor.closes.length > 0 || undefined, 5000, 'the socket to be closed')
    const records = await store.listCallRecords(10)
    expect(records.some((r) => r.caller === visitor.username)).toBe(true)
  })

  it('an identity in a call when its token expires stays until the call ends', async () => {
    // 3 s: the call must be set up before the token expires, also on a loaded machine.
    await platform({ tokenTtl: 3 })
    const bob = await p.subscribed('bob')
    const visitor = await anonymous()
    await visitor.subscribe()
    await visitor.call('sip:bob@example.com')
    const invitation = await bob.invitation()
    await bob.answer(invitation.legId)
    const store = p.server.ctx.store
    const user = (await store.getUserByUsername(await accountId(), visitor.username))!
    await waitFor(
      async () => (await visitor.turn()).status === 401 || undefined,
      10_000,
      'the token to expire',
    )
    await p.server.services.scheduler.sweep()
    expect(await store.getUser(user.id)).toBeDefined()
    expect((await bob.end(invitation.legId)).status).toBe(204)
    await waitFor(async () => (await store.getUser(user.id)) === undefined || undefined, 5000, 'the sweep')
  })
})
