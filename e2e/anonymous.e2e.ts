/**
 * Anonymous click-to-call in real Chromium (issue 15): a visitor on `/demo/anonymous` presses "Call us"; the page
 * gets client_credentials tokens and calls an allow-listed user. The callee is an SDK page (sdk-page.ts, on a page
 * that only loads the SDK) or the seed's quickstart page with its Kandy-compatible global.
 */
import { waitFor, type TestPlatform } from '@parley/test-kit'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { allowDestination, createProjectKey } from '../packages/server/src/services/anonymous.js'
import {
  inbound,
  launchChromium,
  loginAndSubscribe,
  openPage,
  startDemoPlatform,
  waitForMessage,
} from './harness.js'
import { autoAnswerAndRecord, sdkCallState, setupSdk } from './sdk-page.js'

let browser: Browser
let platform: TestPlatform
let contexts: BrowserContext[] = []
let visitorUrl: string

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
})

beforeEach(async () => {
  platform = await startDemoPlatform({ timings: { livenessMs: 75_000, noAnswerMs: 60_000 } })
  const key = await createProjectKey(platform.server.ctx, { clientId: platform.clientId, name: 'e2e' })
  await allowDestination(platform.server.ctx, platform.clientId, 'bob@example.com')
  const query = new URLSearchParams({ key: key.key, secret: key.secret, destination: 'bob@example.com' })
  visitorUrl = `${platform.url}/demo/anonymous?${query.toString()}`
})

afterEach(async () => {
  for (const c of contexts) {
    for (const page of c.pages()) {
      await page
        .evaluate(
          '(() => { for (const cl of [window.client, window.sdk]) if (cl && cl.call) for (const c of cl.call.getAll()) if (c.state !== "Ended") cl.call.end(c.id) })()',
        )
        .catch(() => {})
    }
    await c.close().catch(() => {})
  }
  contexts = []
  await platform?.close()
})

async function open(url: string): Promise<Page> {
  const { context, page } = await openPage(browser, url)
  contexts.push(context)
  return page
}

/** The page's status line. */
function visitorStatus(page: Page): Promise<string> {
  return page.evaluate(() => document.getElementById('status')?.textContent ?? '')
}

async function waitForVisitorStatus(page: Page, status: string): Promise<void> {
  await waitFor(
    async () => (await visitorStatus(page)) === status || undefined,
    20_000,
    `the visitor page to show "${status}" (it shows "${await visitorStatus(page)}")`,
  )
}

/** Media arrives on `page`: inbound audio and video bytes grow and frames are decoded. */
async function mediaFlowsInto(page: Page, who: string): Promise<void> {
  const first = await waitFor(
    async () => {
      const s = await inbound(page)
      return s?.video && s.audio && s.video.framesDecoded > 0 ? s : undefined
    },
    20_000,
    `${who}: decoded inbound video`,
  )
  await waitFor(
    async () => {
      const s = await inbound(page)
      return s?.audio && s.video && s.audio.bytesReceived > first.audio!.bytesReceived
        ? s.video.bytesReceived > first.video!.bytesReceived || undefined
        : undefined
    },
    20_000,
    `${who}: inbound bytes growing`,
  )
}

async function remoteVideoPlays(page: Page, selector: string): Promise<void> {
  await page.waitForFunction(
    (sel) => [...document.querySelectorAll(sel)].some((v) => (v as HTMLVideoElement).videoWidth > 0),
    selector,
    { timeout: 20_000 },
  )
}

/** A callee page: the SDK loaded by the "Call us" page without settings, with bob's own client as window.sdk. */
async function sdkCallee(): Promise<Page> {
  const page = await open(`${platform.url}/demo/anonymous`)
  await page.waitForFunction(() => typeof (window as unknown as { Parley?: unknown }).Parley === 'object')
  await setupSdk(page, platform, 'bob')
  await autoAnswerAndRecord(page)
  return page
}

async function incomingCallId(page: Page): Promise<string> {
  return waitFor(
    () => page.evaluate('window.incoming') as Promise<string | undefined>,
    20_000,
    'bob: an incoming call',
  )
}

describe('"Call us" (/demo/anonymous) calls an allow-listed user', () => {
  it('the visitor page connects to an answering SDK page; media flows both ways; the visitor hangs up', async () => {
    const bob = await sdkCallee()
    const visitor = await open(visitorUrl)
    await visitor.click('#call-us')
    const callId = await incomingCallId(bob)
    await waitForVisitorStatus(visitor, 'Connected')
    await waitFor(
      async () => (await sdkCallState(bob, callId)) === 'Connected' || undefined,
      20_000,
      'bob Connected',
    )
    const from = (await bob.evaluate(`window.sdk.call.getById(${JSON.stringify(callId)}).from`)) as string
    expect(from).toMatch(/^anon-[0-9a-f]{24}@example\.com$/)
    await mediaFlowsInto(visitor, 'visitor')
    await mediaFlowsInto(bob, 'bob')
    await remoteVideoPlays(visitor, '#remote-container video')
    await visitor.click('#hang-up')
    await waitForVisitorStatus(visitor, 'Ended')
    await waitFor(async () => (await sdkCallState(bob, callId)) === 'Ended' || undefined, 20_000, 'bob Ended')
  })

  it('the callee hangs up: the visitor page shows Ended and calls again', async () => {
    const bob = await sdkCallee()
    const visitor = await open(visitorUrl)
    await visitor.click('#call-us')
    const callId = await incomingCallId(bob)
    await waitForVisitorStatus(visitor, 'Connected')
    await mediaFlowsInto(visitor, 'visitor')
    await bob.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await waitForVisitorStatus(visitor, 'Ended')
    // Calling again reuses the page's anonymous identity and its subscription.
    await visitor.click('#call-us')
    await waitFor(
      async () => {
        const id = (await bob.evaluate('window.incoming')) as string
        return id !== callId ? id : undefined
      },
      20_000,
      'bob: a second incoming call',
    )
    await waitForVisitorStatus(visitor, 'Connected')
    await visitor.click('#hang-up')
    await waitForVisitorStatus(visitor, 'Ended')
  })

  it("the seed's quickstart page (Kandy global) answers the visitor; both see video; the callee ends", async () => {
    // The seed page is served at /quickstart in newer trees and at / before that.
    const quickstart = await fetch(`${platform.url}/quickstart`)
    const seedUrl = `${platform.url}${quickstart.status === 200 ? '/quickstart' : '/'}`
    const bob = await open(seedUrl)
    expect(await bob.evaluate(() => typeof (window as unknown as { Kandy?: unknown }).Kandy)).toBe('object')
    await loginAndSubscribe(bob, platform.clientId, 'bob@example.com', platform.passwords.bob!)
    const visitor = await open(visitorUrl)
    await visitor.click('#call-us')
    await waitForMessage(bob, 'Received incoming call')
    await bob.click('input[value="Answer Call"]')
    await waitForVisitorStatus(visitor, 'Connected')
    await waitForMessage(bob, /to Connected/)
    await remoteVideoPlays(visitor, '#remote-container video')
    await remoteVideoPlays(bob, '#remote-container video')
    await mediaFlowsInto(bob, 'bob')
    await bob.click('input[value="End Call"]')
    await waitForVisitorStatus(visitor, 'Ended')
  })
})
