import { startTestPlatform, waitFor, type ProtocolClient, type TestPlatform } from '@parley/test-kit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * Every authenticated endpoint × every kind of wrong credential (issue: hardening). The path always names
 * alice and her real resources, so a wrong answer here would be a real breach.
 */
let p: TestPlatform
let alice: ProtocolClient
let bob: ProtocolClient
let mallory: ProtocolClient
let expiredToken: string
let legId: string

beforeAll(async () => {
  // The expired token must be signed by this platform's own key: mint it with a 1 s lifetime, let it
  // expire, then restore the normal lifetime for the real tokens.
  p = await startTestPlatform({ tokenTtl: 1 })
  const early = p.client('alice')
  await early.login()
  expiredToken = early.accessToken
  await waitFor(async () => (await early.turn()).status === 401, 5000, 'the early token to expire')
  p.server.ctx.config.tokenTtl = 3600
  alice = await p.subscribed('alice')
  bob = await p.subscribed('bob')
  mallory = await p.subscribed('mallory')
  legId = (await alice.call('bob@example.com')).legId
  await bob.invitation()
})
afterAll(async () => {
  await p.close()
})

const body = (key: string, inner: Record<string, unknown>) => ({ [key]: { clientCorrelator: 'c', ...inner } })

function endpoints(): [string, string, unknown][] {
  const sig = '/cpaas/webrtcsignaling/v1/alice'
  const ch = alice.channel!.resourceURL
  return [
    [
      'POST',
      '/cpaas/notificationchannel/v1/alice/channels',
      { notificationChannel: { channelType: 'Websockets' } },
    ],
    ['DELETE', ch, undefined],
    ['PUT', `${ch}/channelLifetime`, { notificationChannelLifetime: { channelLifetime: 600 } }],
    [
      'POST',
      `${sig}/subscriptions`,
      body('wrtcsNotificationSubscription', { callbackReference: { notifyURL: alice.channel!.callbackURL } }),
    ],
    ['DELETE', alice.subscriptionUrl, undefined],
    ['POST', `${sig}/turn`, body('wrtcsTurnCredentials', {})],
    [
      'POST',
      `${sig}/sessions`,
      body('wrtcsSession', { tParticipantAddress: 'sip:bob@example.com', offer: { sdp: 'v=0' } }),
    ],
    ['PUT', `${sig}/sessions/${legId}/status`, body('wrtcsSessionStatus', { status: 'Connected' })],
    ['PUT', `${sig}/sessions/${legId}/answer`, body('wrtcsAnswer', { sdp: 'v=0' })],
    ['PUT', `${sig}/sessions/${legId}/update`, body('wrtcsOffer', { sdp: 'v=0' })],
    ['PUT', `${sig}/sessions/${legId}/forward`, body('wrtcsForward', { address: 'sip:carol@example.com' })],
    ['PUT', `${sig}/sessions/${legId}/transfer`, body('wrtcsTransfer', { address: 'sip:carol@example.com' })],
    ['DELETE', `${sig}/sessions/${legId}`, undefined],
  ]
}

describe('authorization matrix', () => {
  const cases: [string, () => string | undefined, number, string][] = [
    ['no token', () => undefined, 401, 'SVC0401'],
    ['a malformed token', () => 'not.a.jwt', 401, 'SVC0401'],
    ['an expired token', () => expiredToken, 401, 'SVC0401'],
    ["another user's token", () => bob.accessToken, 403, 'SVC0403'],
    ["another account's token", () => mallory.accessToken, 403, 'SVC0403'],
  ]
  for (const [name, token, status, messageId] of cases) {
    it(`every endpoint with ${name} → ${status} ${messageId}, and nothing changes`, async () => {
      for (const [method, path, payload] of endpoints()) {
        const res = await alice.request(method, path, payload, token() ?? '')
        expect(res.status, `${method} ${path}`).toBe(status)
        expect(res.headers.get('content-type'), `${method} ${path}`).toMatch(/^application\/json/)
        expect(res.body).toEqual({
          requestError: { serviceException: { messageId, text: expect.any(String), variables: [] } },
        })
      }
      // alice's call, channel and subscription are untouched: her audit still answers Initiated.
      const audit = await alice.status(legId, 'Connected')
      expect(audit.status).toBe(200)
      expect(audit.body.wrtcsSessionStatus.status).toBe('Initiated')
      const inv = await bob.call('alice@example.com')
      expect(inv.reply.status).toBe(201)
      await bob.end(inv.legId)
    })
  }

  it("acting on another user's leg through one's own path is 404 for every session endpoint", async () => {
    for (const [method, suffix, payload] of [
      ['PUT', '/status', body('wrtcsSessionStatus', { status: 'Connected' })],
      ['PUT', '/answer', body('wrtcsAnswer', { sdp: 'v=0' })],
      ['PUT', '/update', body('wrtcsOffer', { sdp: 'v=0' })],
      ['PUT', '/forward', body('wrtcsForward', { address: 'sip:carol@example.com' })],
      ['PUT', '/transfer', body('wrtcsTransfer', { address: 'sip:carol@example.com' })],
      ['DELETE', '', undefined],
    ] as const) {
      for (const intruder of [bob, mallory]) {
        const res = await intruder.request(
          method,
          `${intruder.signaling}/sessions/${legId}${suffix}`,
          payload,
        )
        expect(res.status, `${intruder.username} ${method} ${suffix}`).toBe(404)
      }
    }
    expect((await alice.status(legId, 'Connected')).body.wrtcsSessionStatus.status).toBe('Initiated')
  })
})
