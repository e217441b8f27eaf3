import { waitFor, type TestPlatform } from '@parley/test-kit'
import { DEFAULT_COTURN } from '@parley/server'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { inbound, launchChromium, leftovers, openPage, startDemoPlatform } from './harness.js'
import { autoAnswerAndRecord, sdkCallState, setupSdk } from './sdk-page.js'

/**
 * Faults a calling platform must survive (issue 5), each caused for real, with the recovery time printed as
 * `RECOVERY <fault> <ms>` for the record.
 */
let browser: Browser
let platform: TestPlatform | undefined
let contexts: BrowserContext[] = []

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
})
afterEach(async () => {
  for (const c of contexts) await c.close().catch(() => {})
  contexts = []
  await platform?.close()
  platform = undefined
})

/** SDK settings for quick, unlimited reconnects (the defaults wait 5 s before the first attempt). */
const FAST_RECONNECT = {
  connectivity: { reconnectDelay: 300, reconnectLimit: 0, reconnectTimeMultiplier: 1 },
}

interface Pair {
  alice: Page
  bob: Page
  aliceCall: string
  bobCall: string
  bobContext: BrowserContext
}

/** Two SDK pages; bob answers every call; alice calls bob; both Connected with media flowing. */
async function connectedPair(extra: object = FAST_RECONNECT): Promise<Pair> {
  const pages: Page[] = []
  let bobContext!: BrowserContext
  for (const name of ['alice', 'bob']) {
    const { context, page } = await openPage(browser, `${platform!.url}/quickstart`)
    contexts.push(context)
    if (name === 'bob') bobContext = context
    await setupSdk(page, platform!, name, extra)
    await autoAnswerAndRecord(page)
    pages.push(page)
  }
  const [alice, bob] = pages as [Page, Page]
  const aliceCall = (await alice.evaluate(
    `window.sdk.call.make('bob@example.com', { audio: true, video: true })`,
  )) as string
  await waitFor(async () => (await sdkCallState(alice, aliceCall)) === 'Connected', 20_000, 'alice Connected')
  const bobCall = (await bob.evaluate('window.incoming')) as string
  await waitFor(async () => (await sdkCallState(bob, bobCall)) === 'Connected', 20_000, 'bob Connected')
  for (const page of [alice, bob]) await mediaGrowing(page, 'before the fault')
  return { alice, bob, aliceCall, bobCall, bobContext }
}

/** Inbound audio bytes grow on `page` (bounded wait). */
async function mediaGrowing(page: Page, when: string, timeoutMs = 20_000): Promise<void> {
  const start = await waitFor(
    async () => (await inbound(page))?.audio?.bytesReceived,
    timeoutMs,
    `inbound audio ${when}`,
  )
  await waitFor(
    async () => ((await inbound(page))?.audio?.bytesReceived ?? 0) > start,
    timeoutMs,
    `inbound audio growing ${when}`,
  )
}

/** What an app does on `request:error`: fetch fresh tokens and hand them to the SDK. */
async function refreshTokens(page: Page, name: string): Promise<void> {
  await page.evaluate(`(async () => {
    const form = new URLSearchParams({ client_id: ${JSON.stringify(platform!.clientId)}, username: '${name}@example.com', password: ${JSON.stringify(platform!.passwords[name])}, grant_type: 'password' })
    const t = await (await fetch('/cpaas/auth/v1/token', { method: 'POST', body: form })).json()
    window.sdk.setTokens({ accessToken: t.access_token, idToken: t.id_token })
  })()`)
}

const call = (page: Page, expr: string) => page.evaluate(`window.sdk.call.${expr}`)
const field = (page: Page, callId: string, name: string) =>
  page.evaluate(`window.sdk.call.getById(${JSON.stringify(callId)})?.${name}`)
const socketConnected = (page: Page) =>
  page.evaluate('window.sdk.connection.getSocketState().connected') as Promise<boolean>

describe('faults', () => {
  it('notification socket cut mid-call: the SDK reconnects to the same channel, queued notifications arrive, the call goes on', async () => {
    platform = await startDemoPlatform()
    const { alice, bob, aliceCall, bobCall } = await connectedPair()
    for (const [label, code] of [
      ['killed', undefined],
      ['closed with 1011', 1011],
    ] as const) {
      const t0 = Date.now()
      expect(
        platform.server.hub.dropSockets({
          select: (ch) => ch.username === 'alice',
          ...(code ? { code } : {}),
        }),
      ).toBe(1)
      // While alice has no socket, bob holds: his offer waits in alice's channel queue (protocol §5.7).
      await call(bob, `hold(${JSON.stringify(bobCall)})`)
      await waitFor(
        async () =>
          (await socketConnected(alice)) &&
          ((await alice.evaluate(
            `window.socketChanges.some((c) => c.at >= ${t0} && c.connected)`,
          )) as boolean),
        20_000,
        `alice's socket to come back after being ${label}`,
      )
      const recovered = Date.now() - t0
      await waitFor(
        async () => (await sdkCallState(bob, bobCall)) === 'On Hold',
        20_000,
        'bob On Hold (alice answered the queued offer)',
      )
      await waitFor(
        async () => (await field(alice, aliceCall, 'remoteHold')) === true,
        20_000,
        'alice sees remoteHold',
      )
      console.log(`RECOVERY socket-${code ?? 'killed'} ${recovered}`)
      expect(await alice.evaluate('window.sdk.services.getSubscriptions().subscribed')).toContain('call')
      await call(bob, `unhold(${JSON.stringify(bobCall)})`)
      await waitFor(
        async () => (await sdkCallState(alice, aliceCall)) === 'Connected',
        20_000,
        'alice Connected after unhold',
      )
      await mediaGrowing(alice, 'after the reconnect')
    }
    await call(alice, `end(${JSON.stringify(aliceCall)})`)
    await waitFor(async () => (await sdkCallState(bob, bobCall)) === 'Ended', 20_000, 'bob Ended by alice')
  })

  it('a page that vanishes without hanging up: the other side ends within the audit interval plus a grace period', async () => {
    // Audits every 10 s (the SDK floor); the server ends a leg silent for 15 s.
    platform = await startDemoPlatform({ timings: { livenessMs: 15_000 } })
    const { alice, bob, aliceCall, bobContext } = await connectedPair({
      ...FAST_RECONNECT,
      call: { callAuditTimer: 10_000 },
    })
    const t0 = Date.now()
    // A renderer crash: no pagehide, no goodbye DELETE, the socket just drops.
    const cdp = await bobContext.newCDPSession(bob)
    void cdp.send('Page.crash').catch(() => {})
    await waitFor(
      async () => (await sdkCallState(alice, aliceCall)) === 'Ended',
      40_000,
      'alice Ended after bob vanished',
    )
    const elapsed = Date.now() - t0
    console.log(`RECOVERY page-vanished ${elapsed}`)
    expect(elapsed).toBeLessThan(10_000 + 15_000 + 5_000)
    const reason = (await alice.evaluate(
      `window.sdkChanges.length && JSON.stringify(window.sdk.call.getById(${JSON.stringify(aliceCall)}))`,
    )) as string
    expect(reason).toContain('Ended')
    expect(await leftovers(alice)).toEqual({ pcs: 0, tracks: 0 })
  })

  it('the access token expires during a call: request:error reaches the app, setTokens restores operation, the call stays up', async () => {
    platform = await startDemoPlatform({ tokenTtl: 8 })
    const issued = Date.now()
    const { alice, bob, aliceCall, bobCall } = await connectedPair()
    await waitFor(() => Date.now() > issued + 9_000, 15_000, 'the tokens to expire')
    // bob's app keeps its tokens fresh (as apps do from expires_in); alice's app has let hers expire.
    await refreshTokens(bob, 'bob')
    await call(alice, `hold(${JSON.stringify(aliceCall)})`)
    const error = await waitFor(
      async () => ((await alice.evaluate('window.sdkErrors')) as { code: string }[])[0],
      20_000,
      'request:error after the refused hold',
    )
    expect(error.code).toBe('authentication:1')
    // The refused hold finishes with its error (the SDK rolls its offer back) before anything else is tried.
    const finished = await waitFor(
      async () =>
        (
          (await alice.evaluate('window.ops')) as { operation: string; transition: string; error?: string }[]
        ).find((o) => o.operation === 'HOLD' && o.transition === 'FINISH'),
      20_000,
      'the refused hold to finish',
    )
    expect(finished.error).toBeTruthy()
    await waitFor(
      async () => (await sdkCallState(alice, aliceCall)) === 'Connected',
      10_000,
      'the call still Connected after the refusal',
    )
    await mediaGrowing(alice, 'with expired tokens')
    const t0 = Date.now()
    await refreshTokens(alice, 'alice')
    await call(alice, `hold(${JSON.stringify(aliceCall)})`)
    await waitFor(
      async () => (await field(bob, bobCall, 'remoteHold')) === true,
      20_000,
      'bob sees the hold made with fresh tokens',
    )
    console.log(`RECOVERY token-expired ${Date.now() - t0}`)
    // The hold completes on alice's side when bob's answer arrives (bob shows remoteHold before that): an unhold
    // sent earlier would be refused as an operation in progress (call:6).
    await waitFor(
      async () => (await sdkCallState(alice, aliceCall)) === 'On Hold',
      20_000,
      "alice's hold complete",
    )
    await call(alice, `unhold(${JSON.stringify(aliceCall)})`)
    await waitFor(
      async () => (await sdkCallState(bob, bobCall)) === 'Connected',
      20_000,
      'bob Connected after unhold',
    )
    await mediaGrowing(bob, 'after unhold')
  })

  it('the media path is blocked for a while: the media connection goes disconnected or failed, then media is restored', async () => {
    const TURN_URL = 'turn:127.0.0.1:3478?transport=udp'
    platform = await startDemoPlatform({
      turnUrls: [TURN_URL],
      turnSecret: 'faults-secret',
      coturn: { ...DEFAULT_COTURN, allowLoopback: true },
    })
    const relay = {
      iceServers: [{ urls: TURN_URL }],
      serverTurnCredentials: true,
      defaultPeerConfig: { iceTransportPolicy: 'relay' },
    }
    const { alice, aliceCall } = await connectedPair({ ...FAST_RECONNECT, call: relay })
    const pid = platform.server.coturn!.pid!
    // Every packet goes through coturn: freezing it blocks the only media path.
    process.kill(pid, 'SIGSTOP')
    let resumed = false
    try {
      await waitFor(
        async () =>
          ['disconnected', 'failed'].includes(
            (await field(alice, aliceCall, 'mediaConnectionState')) as string,
          ),
        30_000,
        'the media connection to notice the blocked path',
      )
    } finally {
      process.kill(pid, 'SIGCONT')
      resumed = true
    }
    expect(resumed).toBe(true)
    const t0 = Date.now()
    if ((await field(alice, aliceCall, 'mediaConnectionState')) === 'failed')
      await call(alice, `restartMedia(${JSON.stringify(aliceCall)})`)
    await waitFor(
      async () =>
        ['connected', 'completed'].includes(
          (await field(alice, aliceCall, 'mediaConnectionState')) as string,
        ),
      30_000,
      'the media connection to recover',
    )
    await mediaGrowing(alice, 'after the path came back', 30_000)
    console.log(`RECOVERY media-path ${Date.now() - t0}`)
  })
})
