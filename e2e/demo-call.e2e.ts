import { waitFor, type TestPlatform } from '@parley/test-kit'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  inbound,
  launchChromium,
  leftovers,
  loginAndSubscribe,
  openPage,
  startDemoPlatform,
  waitForMessage,
} from './harness.js'

let browser: Browser
let platform: TestPlatform
let contexts: BrowserContext[] = []
let alice: Page
let bob: Page

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
})

beforeEach(async () => {
  platform = await startDemoPlatform({ timings: { livenessMs: 75_000, noAnswerMs: 60_000 } })
  const a = await openPage(browser, `${platform.url}/quickstart`)
  const b = await openPage(browser, `${platform.url}/quickstart`)
  contexts = [a.context, b.context]
  alice = a.page
  bob = b.page
  await loginAndSubscribe(alice, platform.clientId, 'alice@example.com', platform.passwords.alice!)
  await loginAndSubscribe(bob, platform.clientId, 'bob@example.com', platform.passwords.bob!)
})

afterEach(async () => {
  // End any call before closing pages (testing.md: no lingering allocations), then close everything.
  for (const page of [alice, bob])
    await page?.evaluate('typeof callId !== "undefined" && callId && client.call.end(callId)').catch(() => {})
  for (const c of contexts) await c.close()
  await platform?.close()
})

/** The state of the page's current call as the SDK reports it, or undefined. */
function callState(page: Page): Promise<string | undefined> {
  return page.evaluate(
    '(() => { const c = callId && client.call.getById(callId); return c ? c.state : undefined })()',
  ) as Promise<string | undefined>
}

async function makeCall(video: boolean): Promise<void> {
  await alice.fill('#callee', 'bob@example.com')
  await alice.setChecked('#make-with-video', video)
  await alice.click('input[value="Make Call"]')
  await waitForMessage(bob, 'Received incoming call')
}

/** Records every call:stateChange payload in the page, for assertions on `transition`. */
async function recordStateChanges(page: Page): Promise<void> {
  await page.evaluate(
    'window.__changes = []; client.on("call:stateChange", (p) => window.__changes.push(JSON.parse(JSON.stringify(p))))',
  )
}

describe('the seed quickstart demo, unchanged, in two Chromium pages', () => {
  it('video call: both Connected, remote video decoded, media flowing; end → both Ended with nothing left behind', async () => {
    await makeCall(true)
    await bob.click('input[value="Answer Call"]')
    await waitForMessage(alice, /to Connected/)
    await waitForMessage(bob, /to Connected/)
    for (const page of [alice, bob]) {
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('#remote-container video')].some(
            (v) => (v as HTMLVideoElement).videoWidth > 0,
          ),
        undefined,
        { timeout: 20_000 },
      )
      const first = await waitFor(
        async () => {
          const s = await inbound(page)
          return s?.audio && s.video && s.video.framesDecoded > 0 ? s : undefined
        },
        20_000,
        'inbound audio and decoded video frames',
      )
      const later = await waitFor(
        async () => {
          const s = await inbound(page)
          return s?.audio &&
            s.video &&
            s.audio.bytesReceived > first.audio!.bytesReceived &&
            s.video.bytesReceived > first.video!.bytesReceived
            ? s
            : undefined
        },
        20_000,
        'inbound audio and video bytes to keep growing',
      )
      expect(later.video!.framesDecoded).toBeGreaterThan(0)
    }
    // The local video is rendered in the caller's local container (call:newTrack handler of the seed).
    expect(await alice.locator('#local-container video').count()).toBeGreaterThan(0)

    await alice.click('input[value="End Call"]')
    await waitForMessage(alice, /to Ended/)
    await waitForMessage(bob, /to Ended/)
    for (const page of [alice, bob]) {
      await waitFor(
        async () => {
          const l = await leftovers(page)
          return l.pcs === 0 && l.tracks === 0
        },
        10_000,
        'peer connection closed and local tracks stopped',
      )
      await page.waitForFunction(
        () => document.querySelectorAll('#remote-container *, #local-container *').length === 0,
        undefined,
        { timeout: 10_000 },
      )
    }
  })

  it('reject: the caller call ends and its transition carries the decline', async () => {
    await recordStateChanges(alice)
    await makeCall(true)
    await bob.click('input[value="Reject Call"]')
    await waitForMessage(bob, /to Ended/)
    await waitForMessage(alice, /to Ended/)
    const changes = (await alice.evaluate('window.__changes')) as {
      previous: { state: string }
      transition?: { statusCode?: number; reasonText?: string }
    }[]
    const last = changes.at(-1)!
    expect(last.transition).toMatchObject({ statusCode: 603, reasonText: 'Declined' })
    expect(await leftovers(alice)).toEqual({ pcs: 0, tracks: 0 })
  })

  it('audio-only call: the callee "with video" box is disabled and no video track exists', async () => {
    await makeCall(false)
    expect(await bob.isDisabled('#answer-with-video')).toBe(true)
    expect(await bob.isChecked('#answer-with-video')).toBe(false)
    await bob.click('input[value="Answer Call"]')
    await waitForMessage(alice, /to Connected/)
    await waitForMessage(bob, /to Connected/)
    for (const page of [alice, bob]) {
      const kinds = (await page.evaluate(
        '(() => { const c = client.call.getById(callId); return [...c.localTracks, ...c.remoteTracks].map((id) => client.media.getTrackById(id).kind) })()',
      )) as string[]
      expect(kinds).toContain('audio')
      expect(kinds).not.toContain('video')
      await waitFor(async () => (await inbound(page))?.audio?.bytesReceived, 20_000, 'inbound audio bytes')
      expect((await inbound(page))?.video).toBeUndefined()
    }
  })

  it('caller hangs up while the callee rings: the callee call becomes Cancelled', async () => {
    await makeCall(true)
    await waitFor(async () => (await callState(bob)) === 'Ringing', 10_000, 'bob ringing')
    await alice.click('input[value="End Call"]')
    await waitForMessage(alice, /to Ended/)
    await waitForMessage(bob, /to Cancelled/)
    expect(await leftovers(bob)).toEqual({ pcs: 0, tracks: 0 })
  })

  it('20 calls in a row leave no open RTCPeerConnection and no live local track', async () => {
    for (let i = 0; i < 20; i++) {
      const before = (await bob.evaluate('document.getElementById("messages").childElementCount')) as number
      await alice.fill('#callee', 'bob@example.com')
      await alice.click('input[value="Make Call"]')
      await bob.waitForFunction(
        (n) => {
          const items = [...document.getElementById('messages')!.children].slice(n as number)
          return items.some((d) => d.textContent === 'Received incoming call')
        },
        before,
        { timeout: 20_000 },
      )
      await bob.click('input[value="Answer Call"]')
      await waitFor(
        async () => (await callState(alice)) === 'Connected' && (await callState(bob)) === 'Connected',
        20_000,
        `call ${i + 1} connected`,
      )
      await (i % 2 === 0 ? alice : bob).click('input[value="End Call"]')
      await waitFor(
        async () => (await alice.evaluate('callId')) === null && (await bob.evaluate('callId')) === null,
        20_000,
        `call ${i + 1} ended on both sides`,
      )
    }
    for (const page of [alice, bob]) {
      await waitFor(
        async () => {
          const l = await leftovers(page)
          return l.pcs === 0 && l.tracks === 0
        },
        10_000,
        `nothing left behind in ${page === alice ? 'alice' : 'bob'}`,
      )
    }
  })
})
