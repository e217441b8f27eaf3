import { waitFor, type TestPlatform } from '@parley/test-kit'
import { DEFAULT_COTURN } from '@parley/server'
import type { Browser, BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inbound, launchChromium, leftovers, openPage, startDemoPlatform } from './harness.js'
import { sdkCallState, selectedPair, setupSdk } from './sdk-page.js'

const TURN_URL = 'turn:127.0.0.1:3478?transport=udp'
let browser: Browser
let platform: TestPlatform
const contexts: BrowserContext[] = []

beforeAll(async () => {
  // parley serve --coturn: turnserver supervised by the server, loopback peers allowed for this test only.
  platform = await startDemoPlatform({
    turnUrls: [TURN_URL],
    turnSecret: 'e2e-turn-secret',
    coturn: { ...DEFAULT_COTURN, allowLoopback: true },
  })
  browser = await launchChromium()
})
afterAll(async () => {
  for (const c of contexts) await c.close()
  await browser?.close()
  await platform?.close()
})

describe('TURN relay through the supervised coturn', () => {
  it('with iceTransportPolicy relay on both sides the call connects, media flows, and both selected pairs are relay', async () => {
    const call = {
      call: {
        iceServers: [{ urls: TURN_URL }],
        serverTurnCredentials: true,
        defaultPeerConfig: { iceTransportPolicy: 'relay' },
      },
    }
    const pages = []
    for (const name of ['alice', 'bob']) {
      const { context, page } = await openPage(browser, `${platform.url}/quickstart`)
      contexts.push(context)
      await setupSdk(page, platform, name, call)
      await page.evaluate(
        `window.sdk.on('call:receive', ({ callId }) => window.sdk.call.answer(callId, { audio: true, video: true }))`,
      )
      pages.push(page)
    }
    const [alice, bob] = pages as [(typeof pages)[0], (typeof pages)[0]]
    const callId = (await alice.evaluate(
      `window.sdk.call.make('bob@example.com', { audio: true, video: true })`,
    )) as string
    await waitFor(
      async () => (await sdkCallState(alice, callId)) === 'Connected',
      20_000,
      'alice Connected through the relay',
    )
    for (const page of [alice, bob]) {
      const pair = await waitFor(() => selectedPair(page), 20_000, 'a selected candidate pair')
      expect(pair.local).toBe('relay')
      expect(pair.remote).toBe('relay')
      const first = await waitFor(
        async () => {
          const s = await inbound(page)
          return s?.video && s.video.framesDecoded > 0 && s.audio ? s : undefined
        },
        20_000,
        'decoded video over the relay',
      )
      await waitFor(
        async () => ((await inbound(page))?.audio?.bytesReceived ?? 0) > first.audio!.bytesReceived,
        20_000,
        'audio bytes growing',
      )
    }
    await alice.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    for (const page of [alice, bob]) {
      await waitFor(
        async () => (await leftovers(page)).pcs === 0,
        10_000,
        'peer connection closed (the TURN allocation is released)',
      )
    }
  })
})
