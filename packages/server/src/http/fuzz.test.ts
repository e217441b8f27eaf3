import { startTestPlatform, waitFor, type ProtocolClient, type TestPlatform } from '@parley/test-kit'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * Property-based fuzzing of every REST endpoint and of websocket frames (issue: hardening). Properties:
 * no 5xx and no crash; every error in its documented shape with CORS; a normal call still completes after.
 * 8,000 REST cases + 2,000 frames per run; a failing case is shrunk and printed by fast-check.
 */
const REST_RUNS = Number(process.env.FUZZ_REST_RUNS ?? 8_000)
const FRAME_RUNS = Number(process.env.FUZZ_FRAME_RUNS ?? 2_000)

let p: TestPlatform
let alice: ProtocolClient
let bob: ProtocolClient
let legId: string

beforeAll(async () => {
  p = await startTestPlatform()
  alice = await p.subscribed('alice')
  bob = await p.subscribed('bob')
  legId = (await alice.call('bob@example.com')).legId
})
afterAll(async () => {
  await p.close()
})

const VALID: Record<string, unknown> = {
  channel: { notificationChannel: { channelType: 'Websockets', clientCorrelator: 'c', channelLifetime: 60 } },
  lifetime: { notificationChannelLifetime: { channelLifetime: 60 } },
  subscription: {
    wrtcsNotificationSubscription: { callbackReference: { notifyURL: '/x/channels/ch-00/callback' } },
  },
  turn: { wrtcsTurnCredentials: { clientCorrelator: 'c' } },
  session: { wrtcsSession: { tParticipantAddress: 'sip:bob@example.com', offer: { sdp: 'v=0\r\n' } } },
  status: { wrtcsSessionStatus: { status: 'Connected' } },
  answer: { wrtcsAnswer: { sdp: 'v=0\r\n' } },
  offer: { wrtcsOffer: { sdp: 'v=0\r\n' } },
  forward: { wrtcsForward: { address: 'sip:carol@example.com' } },
  transfer: { wrtcsTransfer: { address: 'sip:carol@example.com', sessionId: 'leg-00' } },
}

/** Replaces one value somewhere in a JSON object with an arbitrary value (or deletes it). */
function mutate(value: unknown, path: number[], replacement: unknown, remove: boolean): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return replacement
  const keys = Object.keys(value)
  if (keys.length === 0 || path.length === 0) return replacement
  const key = keys[path[0]! % keys.length]!
  const entries = Object.entries(value as Record<string, unknown>)
  if (remove && path.length === 1) return Object.fromEntries(entries.filter(([k]) => k !== key))
  return Object.fromEntries(
    entries.map(([k, v]) => [k, k === key ? mutate(v, path.slice(1), replacement, remove) : v]),
  )
}

const segment = fc.oneof(
  fc.constantFrom('alice', 'bob', 'mallory', 'jsessions', '..', '%2F', 'leg-00', 'ch-00', 'sub-00', ''),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
)
const idFor = (kind: string) => fc.oneof(fc.constant(kind === 'leg' ? '__LEG__' : `${kind}-0`), segment)

const path = fc.oneof(
  fc.tuple(segment).map(([u]) => `/cpaas/notificationchannel/v1/${u}/channels`),
  fc.tuple(segment, idFor('ch')).map(([u, c]) => `/cpaas/notificationchannel/v1/${u}/channels/${c}`),
  fc
    .tuple(segment, idFor('ch'))
    .map(([u, c]) => `/cpaas/notificationchannel/v1/${u}/channels/${c}/channelLifetime`),
  fc.tuple(segment).map(([u]) => `/cpaas/webrtcsignaling/v1/${u}/subscriptions`),
  fc.tuple(segment, idFor('sub')).map(([u, s]) => `/cpaas/webrtcsignaling/v1/${u}/subscriptions/${s}`),
  fc.tuple(segment).map(([u]) => `/cpaas/webrtcsignaling/v1/${u}/turn`),
  fc.tuple(segment).map(([u]) => `/cpaas/webrtcsignaling/v1/${u}/sessions`),
  fc
    .tuple(
      segment,
      idFor('leg'),
      fc.constantFrom('', '/status', '/answer', '/update', '/forward', '/transfer', '/x'),
    )
    .map(([u, l, s]) => `/cpaas/webrtcsignaling/v1/${u}/sessions/${l}${s}`),
  fc.constant('/cpaas/auth/v1/token'),
  fc.string({ maxLength: 40 }).map((s) => `/${encodeURIComponent(s)}`),
  fc.string({ maxLength: 40 }).map((s) => `/cpaas/${s.replace(/[?#\s]/g, '')}`),
)

const body = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(...Object.values(VALID)).map((v) => JSON.stringify(v)),
  fc
    .tuple(
      fc.constantFrom(...Object.values(VALID)),
      fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
      fc.jsonValue(),
      fc.boolean(),
    )
    .map(([v, at, r, remove]) => JSON.stringify(mutate(v, at, r, remove))),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    'client_id=x&username=alice&password=p&grant_type=password',
    'grant_type=refresh_token&refresh_token=x',
    '{',
    '\u0000',
  ),
)

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
  path,
  body,
  contentType: fc.constantFrom(
    'application/json',
    'application/x-www-form-urlencoded',
    'text/plain',
    'application/xml',
    undefined,
  ),
  auth: fc.constantFrom('alice', 'bob', 'none', 'garbage'),
})

describe('fuzzing', () => {
  it(`${REST_RUNS} generated REST requests: never a 5xx, always the documented error shape`, async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = { Origin: 'https://fuzz.example' }
        if (r.contentType) headers['Content-Type'] = r.contentType
        const token =
          r.auth === 'alice'
            ? alice.accessToken
            : r.auth === 'bob'
              ? bob.accessToken
              : r.auth === 'garbage'
                ? 'x.y.z'
                : ''
        if (token) headers.Authorization = `Bearer ${token}`
        const url = p.url + r.path.replace('__LEG__', legId)
        const res = await fetch(url, {
          method: r.method,
          headers,
          ...(r.body !== undefined && r.method !== 'GET' ? { body: r.body } : {}),
        })
        const text = await res.text()
        expect(res.status, `${r.method} ${r.path}: ${text}`).toBeLessThan(500)
        expect(res.headers.get('access-control-allow-origin')).toBe('https://fuzz.example')
        if (res.status >= 400) {
          expect(res.headers.get('content-type')).toMatch(/^application\/json/)
          const parsed = JSON.parse(text) as Record<string, unknown>
          if (r.path === '/cpaas/auth/v1/token' && r.method === 'POST') {
            expect(typeof parsed.error).toBe('string')
            expect(typeof parsed.error_description).toBe('string')
          } else {
            const ex = (
              parsed.requestError as Record<string, { messageId: unknown; text: unknown; variables: unknown }>
            )?.serviceException
            expect(typeof ex?.messageId, text).toBe('string')
            expect(typeof ex?.text).toBe('string')
            expect(Array.isArray(ex?.variables)).toBe(true)
          }
          expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/)
        }
      }),
      { numRuns: REST_RUNS, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
    )
    await assertHealthy()
  }, 240_000)

  it(`${FRAME_RUNS} generated websocket frames: the socket stays up and connCheck is still answered`, async () => {
    const ws = alice.ws!
    const frame = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.constantFrom(
        '{"connCheck":null}',
        '{"connCheck":{"interval":"x"}}',
        '{"connAck":{}}',
        '{"message_type":"ping"}',
        '[{"connCheck":{}}]',
      ),
    )
    await fc.assert(
      fc.asyncProperty(frame, async (f) => {
        ws.send(f)
      }),
      { numRuns: FRAME_RUNS },
    )
    const acks = alice.acks
    ws.send(JSON.stringify({ connCheck: { interval: 30 } }))
    await waitFor(() => alice.acks > acks, 5000, 'a connAck after the fuzzed frames')
    expect(ws.readyState).toBe(ws.OPEN)
    expect(alice.malformed).toEqual([])
    await assertHealthy()
  }, 120_000)
})

/** A normal call between fresh clients still completes. */
async function assertHealthy(): Promise<void> {
  const caller = await p.subscribed('carol')
  const callee = p.client('bob')
  await callee.login()
  await callee.subscribe()
  const { reply, legId: lc } = await caller.call('sip:bob@example.com')
  expect(reply.status).toBe(201)
  const inv = await callee.invitation()
  expect((await callee.answer(inv.legId)).status).toBe(204)
  await caller.next((r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === lc, 'acceptance')
  expect((await caller.end(lc)).status).toBe(204)
  await callee.event('SessionEnded', inv.legId)
}
