/**
 * The quickstart's call quality panel (demo/quality-panel.js, README "Call quality") in two Chromium pages:
 * during a call made with the seed's own buttons, each page's panel shows live readouts and draws its four
 * uPlot charts; a paused remote video shows as a warning in the receiver's panel and goes away when it
 * resumes. The screenshot of the caller's page goes to docs/screenshots/demo-quality.png.
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { beforeEach, describe, expect, it } from 'vitest'
import { pageEvents, sdk, usersFixture, waitForMessage, waitForValue } from './harness.js'

const SHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url))
const fixture = usersFixture(['alice', 'bob'], { timings: { livenessMs: 75_000, noAnswerMs: 60_000 } })
let alice: Page
let bob: Page

beforeEach(async () => {
  ;[alice, bob] = fixture.pages() as [Page, Page]
  for (const page of [alice, bob]) {
    await page.setViewportSize({ width: 1200, height: 900 })
    // Faster samples for the test (the panel shows whatever interval the app configured).
    await sdk(
      page,
      '(c) => c.updateConfig({ call: { quality: { interval: 500, raiseAfter: 2, clearAfter: 2 } } })',
    )
  }
})

/** Alice calls bob with the seed's own buttons; bob answers with his. */
async function callWithSeedButtons(): Promise<void> {
  await alice.fill('#callee', 'bob@example.com')
  await alice.click('input[value="Make Call"]')
  await waitForMessage(bob, 'Received incoming call')
  await bob.click('input[value="Answer Call"]')
  await waitForMessage(alice, /to Connected/)
  await waitForMessage(bob, /to Connected/)
}

/** The panel's current numeric values (the first series of each chart), NaN when it shows none. */
interface Readouts {
  bitrate: number
  rtt: number
  loss: number
  mos: number
}

function readouts(page: Page): Promise<Readouts> {
  return page.evaluate(
    () =>
      Object.fromEntries(
        ['bitrate', 'rtt', 'loss', 'mos'].map((k) => {
          const v = document.getElementById(`qp-value-${k}`)?.getAttribute('data-value') ?? ''
          return [k, v === '' ? NaN : Number(v)]
        }),
      ) as unknown as Readouts,
  )
}

type Rgb = [number, number, number]

/** Pixels of the chart's canvas painted in one of the series colours (the plotted lines, not the axes). */
function linePixels(page: Page, chart: string, colours: Rgb[]): Promise<number> {
  return page.evaluate(
    ([sel, list]) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`#qp-chart-${sel} canvas`)
      if (!canvas || canvas.width === 0) return 0
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
      let n = 0
      for (let i = 0; i < d.length; i += 4)
        if (
          d[i + 3]! > 200 &&
          list.some(
            ([r, g, b]) =>
              Math.abs(d[i]! - r) < 30 && Math.abs(d[i + 1]! - g) < 30 && Math.abs(d[i + 2]! - b) < 30,
          )
        )
          n++
      return n
    },
    [chart, colours] as const,
  )
}

const warningsShown = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('#qp-warnings li')].map((li) => li.getAttribute('data-warning')),
  )

/** Runs `fn(sender)` on the page's video RTCRtpSender. */
function onVideoSender(page: Page, fn: string): Promise<unknown> {
  return page.evaluate((body) => {
    const t = (window as unknown as { __parleyTest: { pcs: RTCPeerConnection[] } }).__parleyTest
    const pc = t.pcs.find((p) => p.signalingState !== 'closed')!
    const sender = pc.getSenders().find((s) => s.track?.kind === 'video')!
    return new Function('sender', `return (${body})(sender)`)(sender) as unknown
  }, fn)
}

describe('the quickstart call quality panel (demo/quality-panel.js)', () => {
  it('during a call both panels show live bitrate, RTT, loss and MOS and draw their four charts', async () => {
    // Before a call: the panel is there, accessible, and says so.
    expect(await alice.getByRole('heading', { name: 'Call quality' }).isVisible()).toBe(true)
    expect(await alice.locator('#qp-status').innerText()).toBe('No call in progress.')
    expect(await alice.locator('#qp-warnings').getAttribute('aria-live')).toBe('polite')

    await callWithSeedButtons()
    for (const page of [alice, bob]) {
      const values = await waitForValue(
        () => readouts(page),
        (v) => v.bitrate > 100 && v.rtt > 0 && v.mos >= 4 && v.loss >= 0,
        'panel readouts: bitrate > 100 kbit/s, an RTT, loss and a MOS of 4 or more',
      )
      expect(values.mos).toBeLessThanOrEqual(4.5)
      expect(values.loss).toBeLessThan(2)
      // Each chart's lines are drawn in their series colours (the loss chart's audio and video lines lie on
      // top of each other at 0 %, so either colour counts there).
      const colours: Record<string, Rgb[]> = {
        bitrate: [[0x33, 0x46, 0xc9]],
        rtt: [[0x13, 0x7a, 0x3d]],
        loss: [
          [0x33, 0x46, 0xc9],
          [0x93, 0x33, 0xea],
        ],
        mos: [[0xc2, 0x41, 0x0c]],
      }
      for (const [chart, rgb] of Object.entries(colours))
        await waitForValue(
          () => linePixels(page, chart, rgb),
          (n) => n > 20,
          `the ${chart} line drawn`,
        )
      expect(await page.locator('#qp-status').innerText()).toMatch(/^Live: a sample every 0\.5 s\.$/)
      expect(await warningsShown(page)).toEqual([])
      expect(await page.locator('#qp-no-warnings').isVisible()).toBe(true)
    }
    // Let the charts hold a few seconds of history for the picture.
    await waitForValue(
      async () => (await pageEvents(alice, 'call:qualityChange')).length,
      (n) => n >= 16,
      'sixteen samples in the caller page',
    )
    mkdirSync(SHOTS, { recursive: true })
    await alice.screenshot({ path: `${SHOTS}demo-quality.png`, fullPage: true })
  })

  it("a paused remote video shows as frozen-video in the receiver's panel and goes away when it resumes", async () => {
    await callWithSeedButtons()
    await waitForValue(
      () => readouts(bob),
      (v) => v.bitrate > 100,
      "bob's panel showing received media",
    )
    await onVideoSender(
      alice,
      '(s) => { const p = s.getParameters(); p.encodings[0].active = false; return s.setParameters(p) }',
    )
    await waitForValue(
      () => warningsShown(bob),
      (w) => w.includes('frozen-video'),
      "frozen-video in bob's panel",
    )
    expect(await bob.locator('#qp-warnings li').innerText()).toMatch(
      /^Remote video frozen \(frozen-video: 0, limit 0\)$/,
    )
    expect(await bob.locator('#qp-no-warnings').isHidden()).toBe(true)
    await onVideoSender(
      alice,
      '(s) => { const p = s.getParameters(); p.encodings[0].active = true; return s.setParameters(p) }',
    )
    await waitForValue(
      () => warningsShown(bob),
      (w) => w.length === 0,
      "bob's panel without warnings again",
    )
    expect(await bob.locator('#qp-no-warnings').isVisible()).toBe(true)

    await alice.click('input[value="End Call"]')
    await waitForMessage(bob, /to Ended/)
    await waitForValue(
      () => bob.locator('#qp-status').innerText(),
      (t) => t.startsWith('Call ended'),
      "bob's panel saying the call ended",
    )
  })
})
