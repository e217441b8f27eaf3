import { channelIdFromCallbackUrl } from '@parley/protocol'
import {
  FAST_TIMINGS,
  postgresAvailable,
  ProtocolClient,
  redisAvailable,
  syntheticSdp,
  TEST_REDIS_URL,
  testSchema,
  waitFor,
  type Received,
} from '@parley/test-kit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { makeConfig } from './config.js'
import { startServer, type ServerHandle } from './main.js'
import { createAccount, createUser } from './services/accounts.js'

// Two in-process nodes sharing one PostgreSQL schema and Redis, as in a multi-node deployment (issue #6),
// without a browser: alice's requests and socket go to node A, bob's to node B. Under CI an unreachable
// PostgreSQL or Redis throws here and fails the file instead of skipping it.
const available = (await postgresAvailable()) && (await redisAvailable())
const schema = testSchema('nodes')

let nodeA: ServerHandle
let nodeB: ServerHandle
let clientId: string
let userCount = 0
const clients: ProtocolClient[] = []

beforeAll(async () => {
  if (!available) return
  const config = () =>
    makeConfig({
      port: 0,
      db: schema.url,
      redis: TEST_REDIS_URL,
      logLevel: 'silent',
      domain: 'example.com',
      timings: FAST_TIMINGS,
    })
  // Started together: their migrations race on the advisory lock like nodes of a rolling start.
  ;[nodeA, nodeB] = await Promise.all([startServer(config()), startServer(config())])
  clientId = (await createAccount(nodeA.ctx, 'Nodes')).clientId
})

afterEach(() => {
  for (const client of clients.splice(0)) client.kill()
})

afterAll(async () => {
  if (!available) return
  await Promise.all([nodeA?.close(), nodeB?.close()])
  await schema.drop()
})

/** A fresh user (created through node A, as an admin would) logged in and subscribed through `node`. */
async function userOn(node: ServerHandle, name: string): Promise<ProtocolClient> {
  userCount += 1
  const login = `${name}${userCount}@example.com`
  await createUser(nodeA.ctx, { clientId, login, password: `${name}-password-1` })
  const client = new ProtocolClient(node.url, clientId, login, `${name}-password-1`)
  clients.push(client)
  await client.login()
  await client.subscribe()
  return client
}

/** The same user's client moved to `node`: same tokens and channel, a socket (and requests) of its own. */
async function reconnectOn(node: ServerHandle, client: ProtocolClient): Promise<ProtocolClient> {
  const moved = new ProtocolClient(node.url, client.clientId, client.loginName, client.password)
  clients.push(moved)
  moved.accessToken = client.accessToken
  moved.refreshToken = client.refreshToken
  moved.idToken = client.idToken
  moved.username = client.username
  moved.channel = client.channel
  moved.subscriptionUrl = client.subscriptionUrl
  await moved.connect()
  return moved
}

const ids = (received: Received[]) => received.map((r) => r.body.id)

describe.skipIf(!available)('two nodes sharing PostgreSQL and Redis', () => {
  it('a call from alice on node A to bob on node B: invite, ringing, answer, hold, end reach both sides', async () => {
    const alice = await userOn(nodeA, 'alice')
    const bob = await userOn(nodeB, 'bob')
    // Each node holds exactly one of the two sockets, so every notification to the other side crosses nodes.
    expect([nodeA.hub.socketCount, nodeB.hub.socketCount]).toStrictEqual([1, 1])

    const offer = syntheticSdp('alice offer')
    const { reply, legId: la } = await alice.call(`sip:${bob.username}@example.com`, offer)
    expect(reply.status).toBe(201)
    const invitation = await bob.invitation()
    const lb = invitation.legId
    expect(invitation.body.offer).toStrictEqual({ sdp: offer })

    expect((await bob.status(lb, 'Ringing')).status).toBe(200)
    expect((await alice.event('Ringing', la)).body.statusCode).toBe(180)

    const answer = syntheticSdp('bob answer')
    expect((await bob.answer(lb, answer)).status).toBe(204)
    const acceptance = await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    expect(acceptance.body.answer).toStrictEqual({ sdp: answer })
    expect((await alice.status(la, 'Connected')).body.wrtcsSessionStatus.status).toBe('Connected')

    const hold = syntheticSdp('alice hold', 'inactive')
    expect((await alice.update(la, hold)).status).toBe(204)
    const holdOffer = await bob.next((r) => r.kind === 'wrtcsOfferNotification', 'hold offer')
    expect(holdOffer.body.offer).toStrictEqual({ sdp: hold })
    const holdAnswer = syntheticSdp('bob hold answer', 'inactive')
    expect((await bob.answer(lb, holdAnswer)).status).toBe(204)
    const answerToAlice = await alice.next((r) => r.kind === 'wrtcsAnswerNotification', 'hold answer')
    expect(answerToAlice.body.answer).toStrictEqual({ sdp: holdAnswer })

    expect((await alice.end(la)).status).toBe(204)
    const ended = await bob.event('SessionEnded', lb)
    expect(ended.body).toMatchObject({ statusCode: 200, reasonText: 'Ended by remote party' })
    // Either node answers for the call: its state is in the shared store.
    expect((await bob.status(lb, 'Connected')).status).toBe(404)
    expect(alice.wellFormedProblems()).toStrictEqual([])
    expect(bob.wellFormedProblems()).toStrictEqual([])
  })

  it("bob's socket moving from node B to node A keeps receiving, with no notification lost or duplicated", async () => {
    const alice = await userOn(nodeA, 'alice')
    const bob = await userOn(nodeB, 'bob')
    const { legId: la } = await alice.call(`sip:${bob.username}@example.com`)
    const { legId: lb } = await bob.invitation()
    expect((await bob.answer(lb)).status).toBe(204)
    await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    expect((await alice.status(la, 'Connected')).status).toBe(200) // releases the early re-offer guard
    expect((await alice.update(la, syntheticSdp('hold', 'inactive'))).status).toBe(204)
    await bob.next((r) => r.kind === 'wrtcsOfferNotification', 'hold offer on node B')
    expect((await bob.answer(lb, syntheticSdp('bob hold answer', 'inactive'))).status).toBe(204)
    await alice.next((r) => r.kind === 'wrtcsAnswerNotification', 'hold answer')

    // bob's network drops; node B notices and lets go of the channel's topic.
    bob.kill()
    await waitFor(() => nodeB.hub.socketCount === 0, 5_000, 'node B to drop the dead socket')
    // Queued while bob has no socket anywhere: the wake-up finds no subscriber, the frame waits in the store.
    const resume = syntheticSdp('resume')
    expect((await alice.update(la, resume)).status).toBe(204)

    // bob's SDK reconnects, this time through node A (no stickiness), and carries on there.
    const moved = await reconnectOn(nodeA, bob)
    const queued = await moved.next(
      (r) => r.kind === 'wrtcsOfferNotification' && (r.body.offer as { sdp: string }).sdp === resume,
      'the offer queued during the move, on node A',
    )
    expect(queued.legId).toBe(lb)
    expect((await moved.answer(lb, syntheticSdp('bob resume answer'))).status).toBe(204)
    await alice.next(
      (r) => r.kind === 'wrtcsAnswerNotification' && r.raw.includes('bob resume answer'),
      'the resume answer',
    )
    expect((await alice.end(la)).status).toBe(204)
    await moved.event('SessionEnded', lb)

    // Every frame the store queued for bob's channel arrived, each new one exactly once; the only repeats
    // are the protocol's replay of recently delivered frames with their original ids (§5.7).
    const channelId = channelIdFromCallbackUrl(bob.channel!.callbackURL)!
    const outbox = await nodeA.ctx.store.listRecentlyDelivered(channelId, 0, 1_000)
    expect(await nodeA.ctx.store.listUndelivered(channelId, 10)).toStrictEqual([])
    const onB = ids(bob.received)
    const onA = ids(moved.received)
    expect(new Set([...onB, ...onA])).toStrictEqual(new Set(outbox.map((frame) => frame.id)))
    expect(new Set(onB).size).toBe(onB.length)
    const newOnA = onA.filter((id) => !onB.includes(id))
    expect(new Set(newOnA).size).toBe(newOnA.length)
    expect(new Set(onA).size).toBe(onA.length)
    expect(moved.received.map((r) => r.kind)).toContain('wrtcsEventNotification')
  })

  it('the no-answer timer fires once although both nodes poll the shared timers', async () => {
    const alice = await userOn(nodeA, 'alice')
    const bob = await userOn(nodeB, 'bob')
    const { legId: la } = await alice.call(`${bob.username}@example.com`)
    const { legId: lb } = await bob.invitation()

    const ended = await alice.event('SessionEnded', la, 10_000)
    expect(ended.body).toMatchObject({ statusCode: 408, reasonText: 'No Answer' })
    const cancelled = await bob.event('Cancelled', lb)
    expect(cancelled.body).toMatchObject({ statusCode: 408, reasonText: 'No Answer' })
    // The Cancelled repeat (§11.7) is a timer too: exactly one repeat, however many nodes poll.
    await bob.next(
      (r) => r.body.eventType === 'Cancelled' && r.body.id !== cancelled.body.id,
      'the Cancelled repeat',
    )
    await new Promise((resolve) => setTimeout(resolve, 4 * (FAST_TIMINGS.cancelRepeatMs ?? 300)))

    expect(alice.received.filter((r) => r.body.eventType === 'SessionEnded')).toHaveLength(1)
    expect(bob.received.filter((r) => r.body.eventType === 'Cancelled')).toHaveLength(2)
  })
})
