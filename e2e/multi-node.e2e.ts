import { waitFor } from '@parley/test-kit'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  parleyCli,
  startNginx,
  startNode,
  startPostgres,
  startRedis,
  stopAll,
  UPSTREAM_HEADER,
  type ParleyNode,
  type Service,
} from './cluster.js'
import {
  callOf,
  inboundBytes,
  launchChromium,
  leftovers,
  loginAndSubscribe,
  openPage,
  playingVideos,
  sdk,
  waitForCall,
  waitForGrowth,
} from './harness.js'

// Issue #6: two `parley serve` nodes sharing a private PostgreSQL and Redis, with nginx (round-robin, no
// stickiness) in front, inside the test namespace. Two Chromium pages run the seed demo's call flow with the
// caller's socket on one node and the callee's on the other; then one node is killed mid-call.

let browser: Browser
let postgres: Service | undefined
let redis: Service | undefined
let nodeA: ParleyNode | undefined
let nodeB: ParleyNode | undefined
let nginx: Service | undefined
let clientId: string
const passwords: Record<string, string> = {}
let users: User[] = []

beforeAll(async () => {
  try {
    postgres = await startPostgres()
    redis = await startRedis()
    clientId = (
      JSON.parse(await parleyCli(['account', 'create', '--name', 'Multi-node', '--db', postgres.url])) as {
        clientId: string
      }
    ).clientId
    for (const name of ['alice', 'bob']) {
      passwords[name] = `${name}-password-1`
      await parleyCli([
        'user',
        'create',
        '--db',
        postgres.url,
        '--client-id',
        clientId,
        '--username',
        `${name}@example.com`,
        '--password',
        passwords[name],
      ])
    }
    const serve = ['--db', postgres.url, '--redis', redis.url, '--domain', 'example.com']
    ;[nodeA, nodeB] = await Promise.all([startNode('node A', serve), startNode('node B', serve)])
    nginx = await startNginx([nodeA.address, nodeB.address])
    browser = await launchChromium()
  } catch (err) {
    await stopAll([postgres, redis, nodeA, nodeB, nginx])
    throw err
  }
}, 90_000)

afterAll(async () => {
  await browser?.close()
  await stopAll([postgres, redis, nodeA, nodeB, nginx])
})

afterEach(async () => {
  // End calls before closing pages (testing.md: no lingering allocations).
  for (const u of users)
    await u.page
      .evaluate(
        '(() => { for (const c of client.call.getAll()) if (c.state !== "Ended") client.call.end(c.id) })()',
      )
      .catch(() => {})
  for (const u of users) await u.context.close().catch(() => {})
  users = []
})

/** A demo page of one user, with the node that answered each of its websocket handshakes. */
interface User {
  name: string
  context: BrowserContext
  page: Page
  /** `host:port` of the node behind every websocket handshake, in order (nginx's X-Parley-Upstream). */
  sockets: string[]
}

/** Opens the demo at `url` (a node or nginx), logs `name` in and subscribes through the demo's UI. */
async function openUser(url: string, name: 'alice' | 'bob'): Promise<User> {
  const { context, page } = await openPage(browser, `${url}/quickstart`)
  const user: User = { name, context, page, sockets: [] }
  users.push(user)
  // The websocket API hides handshake headers from the page; the DevTools protocol shows them.
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const headers = Object.fromEntries(
      Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), String(v)]),
    )
    user.sockets.push(headers[UPSTREAM_HEADER] ?? new URL(url).host)
  })
  await loginAndSubscribe(page, clientId, `${name}@example.com`, passwords[name]!)
  await waitFor(() => user.sockets.length > 0, 10_000, `${name}'s websocket handshake`)
  return user
}

/** The node holding the user's current socket. */
const socketNode = (user: User) => user.sockets.at(-1)!

/**
 * Moves `user`'s socket (resetConnection, through nginx's round-robin) until it is on another node than
 * `other`'s, so that every notification between the two crosses nodes.
 */
async function separate(user: User, other: User): Promise<void> {
  for (let i = 0; i < 8 && socketNode(user) === socketNode(other); i++) {
    const before = user.sockets.length
    await sdk(user.page, '(c) => c.connection.resetConnection()')
    await waitFor(() => user.sockets.length > before, 10_000, `${user.name}'s socket to reconnect`)
    await waitFor(
      async () =>
        (await sdk<boolean>(user.page, '(c) => c.connection.getSocketState().connected')) || undefined,
      10_000,
      `${user.name}'s socket connected`,
    )
  }
  expect(socketNode(user)).not.toBe(socketNode(other))
}

/** The demo's current call id of a page. */
const currentCallId = (page: Page) => page.evaluate('callId') as Promise<string | null>

/**
 * The seed's flow: `caller` calls `callee` with video through the demo's UI, `callee` answers; both reach
 * Connected and each page decodes the other's video with audio and video bytes growing.
 */
async function connect(caller: User, callee: User): Promise<{ callerId: string; calleeId: string }> {
  await caller.page.fill('#callee', `${callee.name}@example.com`)
  await caller.page.setChecked('#make-with-video', true)
  await caller.page.click('input[value="Make Call"]')
  const callerId = await waitFor(() => currentCallId(caller.page), 10_000, 'the caller call id')
  const calleeId = await waitFor(() => currentCallId(callee.page), 20_000, 'the incoming call')
  await waitForCall(callee.page, (c) => c.state === 'Ringing', 'callee ringing', calleeId)
  await callee.page.click('input[value="Answer Call"]')
  await waitForCall(caller.page, (c) => c.state === 'Connected', 'caller Connected', callerId)
  await waitForCall(callee.page, (c) => c.state === 'Connected', 'callee Connected', calleeId)
  for (const u of [caller, callee]) {
    await waitFor(async () => (await playingVideos(u.page)) > 0, 20_000, `${u.name}: remote video decoding`)
    await expectMediaFlowing(u)
  }
  return { callerId, calleeId }
}

/** Inbound audio and video bytes of the user's page keep growing. */
async function expectMediaFlowing(user: User): Promise<void> {
  await waitForGrowth(() => inboundBytes(user.page, 'video'), `${user.name}: inbound video bytes`, 0, 20_000)
  await waitForGrowth(() => inboundBytes(user.page, 'audio'), `${user.name}: inbound audio bytes`, 0, 20_000)
}

/** `from` ends the call through the demo's button; the other side's call ends too and nothing is left. */
async function end(from: User, fromId: string, to: User, toId: string): Promise<void> {
  await from.page.click('input[value="End Call"]')
  await waitForCall(from.page, (c) => c.state === 'Ended', `${from.name}'s call Ended`, fromId)
  await waitForCall(to.page, (c) => c.state === 'Ended', `${to.name}'s call Ended`, toId)
  for (const u of [from, to]) {
    await waitFor(
      async () => {
        const l = await leftovers(u.page)
        return l.pcs === 0 && l.tracks === 0
      },
      10_000,
      `${u.name}: peer connection closed and local tracks stopped`,
    )
  }
}

/** `from` holds (or unholds) its call; the other side sees the remote hold flag change. */
async function hold(from: User, fromId: string, to: User, toId: string, on: boolean): Promise<void> {
  await sdk(from.page, `(c, id) => c.call.${on ? 'hold' : 'unhold'}(id)`, fromId)
  await waitForCall(from.page, (c) => c.localHold === on, `${from.name}: localHold ${on}`, fromId)
  await waitForCall(to.page, (c) => c.remoteHold === on, `${to.name}: remoteHold ${on}`, toId)
}

describe('two nodes sharing PostgreSQL and Redis (seed demo in two Chromium pages)', () => {
  it('caller on node A, callee on node B (directly): video call connects, media flows, the end reaches the callee', async () => {
    const alice = await openUser(nodeA!.url, 'alice')
    const bob = await openUser(nodeB!.url, 'bob')
    const { callerId, calleeId } = await connect(alice, bob)
    await end(alice, callerId, bob, calleeId)
    // Requests and sockets never left their node: every notification crossed through Redis.
    expect([socketNode(alice), socketNode(bob)]).toStrictEqual([nodeA!.address, nodeB!.address])
  })

  it('both pages through nginx (round-robin), sockets on different nodes: the call connects and ends', async () => {
    const alice = await openUser(nginx!.url, 'alice')
    const bob = await openUser(nginx!.url, 'bob')
    await separate(bob, alice)
    const { callerId, calleeId } = await connect(alice, bob)
    await end(bob, calleeId, alice, callerId)
  })

  it("kill -9 of the node holding the caller's socket: the SDK reconnects through nginx to the survivor, media keeps flowing, later holds and ends reach the other side", async () => {
    const alice = await openUser(nginx!.url, 'alice')
    const bob = await openUser(nginx!.url, 'bob')
    await separate(bob, alice)
    const { callerId, calleeId } = await connect(alice, bob)

    const [victim, survivor] = socketNode(alice) === nodeA!.address ? [nodeA!, nodeB!] : [nodeB!, nodeA!]
    const socketsBefore = alice.sockets.length
    victim.proc.child.kill('SIGKILL')
    await waitFor(() => victim.proc.exited, 5_000, 'the killed node to exit')

    // The demo's SDK waits its reconnectDelay (5 s by default), then reconnects; nginx skips the dead node.
    await waitFor(() => alice.sockets.length > socketsBefore, 25_000, "alice's socket to reconnect")
    expect(socketNode(alice)).toBe(survivor.address)
    expect(socketNode(bob)).toBe(survivor.address)
    expect((await callOf(alice.page, callerId)).state).toBe('Connected')
    for (const u of [alice, bob]) await expectMediaFlowing(u)

    // Both directions of signalling work through the survivor alone.
    await hold(alice, callerId, bob, calleeId, true)
    await hold(alice, callerId, bob, calleeId, false)
    await hold(bob, calleeId, alice, callerId, true)
    await hold(bob, calleeId, alice, callerId, false)
    for (const u of [alice, bob]) await expectMediaFlowing(u)
    await end(alice, callerId, bob, calleeId)

    // And a new call, ended by the other side.
    const second = await connect(bob, alice)
    await end(bob, second.callerId, alice, second.calleeId)
  })
})
