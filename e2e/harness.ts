import { fileURLToPath } from 'node:url'
import { startTestPlatform, type TestPlatform } from '@parley/test-kit'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

/** Launch flags that work on these machines (shared/design/testing.md). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--allow-loopback-in-peer-connection',
  '--ignore-certificate-errors',
]

/** Debian's Chromium through playwright-core (never a downloaded browser). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true })
}

const DEMO_DIR = fileURLToPath(new URL('../demo/', import.meta.url))
const SDK_DIR = fileURLToPath(new URL('../packages/sdk/dist/', import.meta.url))

/** A platform serving the demo and the built SDK, with users alice, bob and carol. */
export function startDemoPlatform(
  overrides: Parameters<typeof startTestPlatform>[0] = {},
): Promise<TestPlatform> {
  return startTestPlatform({ demoDir: DEMO_DIR, sdkDir: SDK_DIR, ...overrides })
}

/**
 * Page instrumentation, installed before any page script: counts RTCPeerConnections that are not closed
 * and local tracks from getUserMedia that are still live, and keeps the peer connections for getStats.
 */
export const INSTRUMENTATION = `(() => {
  const pcs = []
  const tracks = []
  const Native = window.RTCPeerConnection
  class Counted extends Native {
    constructor(...args) { super(...args); pcs.push(this) }
  }
  window.RTCPeerConnection = Counted
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices)
  navigator.mediaDevices.getUserMedia = async (c) => {
    const stream = await gum(c)
    for (const t of stream.getTracks()) tracks.push(t)
    return stream
  }
  window.__parleyTest = {
    pcs,
    openPeerConnections: () => pcs.filter((pc) => pc.signalingState !== 'closed').length,
    liveLocalTracks: () => tracks.filter((t) => t.readyState === 'live').length,
    localTrackCount: () => tracks.length,
    async inbound() {
      const pc = pcs.filter((p) => p.signalingState !== 'closed').at(-1)
      if (!pc) return null
      const out = {}
      const stats = await pc.getStats()
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp') out[s.kind] = { bytesReceived: s.bytesReceived, framesDecoded: s.framesDecoded ?? 0 }
      })
      return out
    },
  }
})()`

/** One user's page: its own browser context (separate storage) with the instrumentation. */
export async function openPage(
  browser: Browser,
  url: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, permissions: ['camera', 'microphone'] })
  await context.addInitScript(INSTRUMENTATION)
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`))
  await page.goto(url)
  return { context, page }
}

/** Waits until the demo's #messages contains `text` (bounded), failing with the page's messages. */
export async function waitForMessage(page: Page, text: string | RegExp, timeoutMs = 20_000): Promise<void> {
  try {
    await page.waitForFunction(
      ({ source, flags }: { source: string; flags: string }) =>
        new RegExp(source, flags).test(document.getElementById('messages')?.innerText ?? ''),
      typeof text === 'string'
        ? { source: text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), flags: '' }
        : { source: text.source, flags: text.flags },
      { timeout: timeoutMs, polling: 50 },
    )
  } catch {
    const messages = await page.evaluate(() => document.getElementById('messages')?.innerText ?? '')
    throw new Error(
      `timed out after ${timeoutMs} ms waiting for message ${String(text)}; messages so far:\n${messages}`,
    )
  }
}

/** Logs in and subscribes through the demo's own UI. */
export async function loginAndSubscribe(
  page: Page,
  clientId: string,
  email: string,
  password: string,
): Promise<void> {
  await page.fill('#clientId', clientId)
  await page.fill('#userEmail', email)
  await page.fill('#password', password)
  await page.click('#loginBtn')
  await waitForMessage(page, `Successfully logged in as ${email}`)
  await page.click('#subscribeBtn')
  await waitForMessage(page, 'Successfully subscribed')
}

/** Inbound audio/video stats of the page's live peer connection. */
export function inbound(
  page: Page,
): Promise<Record<string, { bytesReceived: number; framesDecoded: number }> | null> {
  return page.evaluate(() =>
    (window as unknown as { __parleyTest: { inbound(): Promise<never> } }).__parleyTest.inbound(),
  )
}

/** Open (not closed) peer connections and live local tracks in the page. */
export function leftovers(page: Page): Promise<{ pcs: number; tracks: number }> {
  return page.evaluate(() => {
    const t = (
      window as unknown as { __parleyTest: { openPeerConnections(): number; liveLocalTracks(): number } }
    ).__parleyTest
    return { pcs: t.openPeerConnections(), tracks: t.liveLocalTracks() }
  })
}
