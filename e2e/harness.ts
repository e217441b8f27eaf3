import { fileURLToPath } from 'node:url'
import { startTestPlatform, type TestPlatform } from '@parley/test-kit'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'

/** Launch flags that work on these machines (docs/testing.md). */
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

// ─── helpers for the mid-call tests (issue #4) ──────────────────────────────────────────────────

/** One user's page, logged in and subscribed through the demo UI, recording every SDK event. */
export interface UserPage {
  name: string
  context: BrowserContext
  page: Page
}

/** Opens one page per user, logs each in, subscribes and starts recording its SDK events. */
export async function openUsers(
  browser: Browser,
  platform: TestPlatform,
  names: Array<'alice' | 'bob' | 'carol'>,
): Promise<UserPage[]> {
  const users: UserPage[] = []
  for (const name of names) {
    const { context, page } = await openPage(browser, `${platform.url}/quickstart`)
    users.push({ name, context, page })
    await loginAndSubscribe(page, platform.clientId, `${name}@example.com`, platform.passwords[name]!)
    await recordEvents(page)
  }
  return users
}

/** Ends every live call of the pages' clients, then closes their contexts (testing.md: end before close). */
export async function closeUsers(users: UserPage[]): Promise<void> {
  for (const u of users) {
    await u.page
      .evaluate(
        '(() => { for (const c of client.call.getAll()) if (c.state !== "Ended" && c.state !== "Cancelled") client.call.end(c.id) })()',
      )
      .catch(() => {})
  }
  for (const u of users) await u.context.close().catch(() => {})
}

/**
 * The usual set-up of a browser test file: one Chromium for the file; before each test a fresh platform and
 * one logged-in, subscribed demo page per user; after it, calls ended and everything closed.
 */
export function usersFixture(
  names: Array<'alice' | 'bob' | 'carol'>,
  options: Parameters<typeof startDemoPlatform>[0] = {},
): { readonly platform: TestPlatform; pages(): Page[]; browser(): Browser } {
  let browser: Browser | undefined
  let platform: TestPlatform | undefined
  let users: UserPage[] = []
  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })
  beforeEach(async () => {
    platform = await startDemoPlatform(options)
    users = await openUsers(browser!, platform, names)
  })
  afterEach(async () => {
    await closeUsers(users)
    await platform?.close()
  })
  return {
    get platform() {
      return platform!
    },
    pages: () => users.map((u) => u.page),
    browser: () => browser!,
  }
}

/** Records every SDK event of the page's `client` in `window.__events` as JSON-safe copies. */
export async function recordEvents(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.__events = []
    client.subscribe((type, args) => {
      let payload
      try {
        payload = JSON.parse(JSON.stringify(args[0] ?? {}, (k, v) => (v instanceof Map ? Object.fromEntries(v) : v)))
      } catch { payload = {} }
      window.__events.push({ type, payload })
    })
  })()`)
}

/** A recorded SDK event. */
export interface PageEvent {
  type: string
  payload: Record<string, unknown>
}

/** Recorded events of the page, optionally of one type. */
export async function pageEvents(page: Page, type?: string): Promise<PageEvent[]> {
  const all = (await page.evaluate('window.__events')) as PageEvent[]
  return type ? all.filter((e) => e.type === type) : all
}

/** Forgets the recorded events of the page. */
export async function clearEvents(page: Page): Promise<void> {
  await page.evaluate('window.__events.length = 0')
}

/** Waits (bounded) for a recorded event of `type` whose payload contains `match`; returns its payload. */
export async function waitForEvent(
  page: Page,
  type: string,
  match: Record<string, unknown> = {},
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = (await pageEvents(page, type)).find((e) =>
      Object.entries(match).every(([k, v]) => JSON.stringify(e.payload[k]) === JSON.stringify(v)),
    )
    if (found) return found.payload
    if (Date.now() > deadline) {
      const seen = (await pageEvents(page)).map((e) => e.type).join(', ')
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${type} ${JSON.stringify(match)}; seen: ${seen}`,
      )
    }
    await page.waitForTimeout(50)
  }
}

/** The page's call snapshot (`client.call.getById`) for `callId`, or the demo's current call. */
export function callOf(page: Page, callId?: string): Promise<Record<string, unknown> & { state: string }> {
  // The demo's `client` and `callId` are global lexical bindings of its script, not window properties.
  return page.evaluate(
    (id) =>
      (eval('client') as { call: { getById(id: string): unknown } }).call.getById(
        id ?? (eval('callId') as string),
      ) as never,
    callId,
  )
}

/** Waits (bounded) until the call's snapshot satisfies `pred`. */
export async function waitForCall(
  page: Page,
  pred: (c: Record<string, unknown> & { state: string }) => boolean,
  what: string,
  callId?: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown> & { state: string }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const c = await callOf(page, callId).catch(() => undefined)
    if (c && pred(c)) return c
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; call: ${JSON.stringify(c)}`)
    await page.waitForTimeout(50)
  }
}

/**
 * `from` calls `to` with `media` through the SDK (as the demo's buttons do) and `to` answers with
 * `answerMedia`; resolves once both are Connected with both call ids (the demo's `callId` globals).
 */
export async function connectCall(
  from: Page,
  to: Page,
  toUser: string,
  media: object = { audio: true, video: true },
  answerMedia: object = media,
): Promise<{ callerId: string; calleeId: string }> {
  await clearEvents(to)
  const callerId = (await from.evaluate(
    ([dest, m]) => {
      const api = eval('client') as { call: { make(d: string, m: object): string } }
      const id = api.call.make(dest as string, m as object)
      eval('callId = id')
      return id
    },
    [`${toUser}@example.com`, media] as const,
  )) as string
  const received = await waitForEvent(to, 'call:receive')
  const calleeId = received.callId as string
  await waitForCall(to, (c) => c.state === 'Ringing' || c.state === 'Initiated', 'callee alerted', calleeId)
  await to.evaluate(
    ([id, m]) =>
      (eval('client') as { call: { answer(id: string, m: object): void } }).call.answer(
        id as string,
        m as object,
      ),
    [calleeId, answerMedia] as const,
  )
  await waitForCall(from, (c) => c.state === 'Connected', 'caller Connected', callerId)
  await waitForCall(to, (c) => c.state === 'Connected', 'callee Connected', calleeId)
  return { callerId, calleeId }
}

/** One inbound RTP stream of the page's open peer connections. */
export interface InboundStream {
  kind: string
  mid: string
  trackIdentifier: string
  bytesReceived: number
  packetsReceived: number
  framesDecoded: number
  totalAudioEnergy: number
}

/** Every inbound RTP stream of the page's open peer connections (all of them, unlike `inbound`). */
export function inboundStreams(page: Page): Promise<InboundStream[]> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __parleyTest: { pcs: RTCPeerConnection[] } }).__parleyTest.pcs
    const out: InboundStream[] = []
    for (const pc of pcs.filter((p) => p.signalingState !== 'closed')) {
      const stats = await pc.getStats()
      stats.forEach((s: Record<string, unknown>) => {
        if (s.type !== 'inbound-rtp') return
        out.push({
          kind: String(s.kind),
          mid: String(s.mid ?? ''),
          trackIdentifier: String(s.trackIdentifier ?? ''),
          bytesReceived: Number(s.bytesReceived ?? 0),
          packetsReceived: Number(s.packetsReceived ?? 0),
          framesDecoded: Number(s.framesDecoded ?? 0),
          totalAudioEnergy: Number(s.totalAudioEnergy ?? 0),
        })
      })
    }
    return out
  })
}

/** Sum of inbound bytes of one kind (optionally of one remote track) across the page's open connections. */
export async function inboundBytes(page: Page, kind: 'audio' | 'video', trackId?: string): Promise<number> {
  return (await inboundStreams(page))
    .filter((s) => s.kind === kind && (!trackId || s.trackIdentifier === trackId))
    .reduce((n, s) => n + s.bytesReceived, 0)
}

/** Waits until `read()` grows by more than `by` within the bound; returns the new value. */
export async function waitForGrowth(
  read: () => Promise<number>,
  what: string,
  by = 0,
  timeoutMs = 20_000,
): Promise<number> {
  const start = await read()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    await new Promise((r) => setTimeout(r, 200))
    const now = await read()
    if (now > start + by) return now
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} to grow (${start} → ${now})`)
  }
}

/**
 * Asserts that `read()` stops growing: after it settles, two reads `quietMs` apart are equal
 * (bounded by `timeoutMs`). In-flight packets may still arrive right after media stops.
 */
export async function waitForStall(
  read: () => Promise<number>,
  what: string,
  quietMs = 1500,
  timeoutMs = 20_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let last = await read()
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs))
    const now = await read()
    if (now === last) return now
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} to stop (${last} → ${now})`)
    last = now
  }
}

/** Rendered `<video>` elements in a container whose video has decoded frames (`videoWidth > 0`). */
export function playingVideos(page: Page, selector = '#remote-container'): Promise<number> {
  return page.evaluate(
    (sel) =>
      [...document.querySelectorAll(`${sel} video`)].filter((v) => (v as HTMLVideoElement).videoWidth > 0)
        .length,
    selector,
  )
}

/** Mean brightness (0–255) of the current frame of the video rendering `trackId`, or -1 when not rendered. */
export function videoBrightness(page: Page, trackId: string): Promise<number> {
  return page.evaluate((id) => {
    const v = [...document.querySelectorAll('video')].find((el) =>
      ((el as HTMLVideoElement).srcObject as MediaStream | null)?.getTracks().some((t) => t.id === id),
    ) as HTMLVideoElement | undefined
    if (!v || v.videoWidth === 0) return -1
    const c = document.createElement('canvas')
    c.width = 64
    c.height = 48
    const ctx = c.getContext('2d')!
    ctx.drawImage(v, 0, 0, 64, 48)
    const d = ctx.getImageData(0, 0, 64, 48).data
    let sum = 0
    for (let i = 0; i < d.length; i += 4) sum += (d[i]! + d[i + 1]! + d[i + 2]!) / 3
    return sum / (d.length / 4)
  }, trackId)
}

/**
 * Runs `fn(client, ...args)` in the page, where `fn` is the source of a function and `client` the
 * demo's SDK instance (a global lexical binding of its script, hence the eval).
 */
export function sdk<T>(page: Page, fn: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(
    ([body, a]) =>
      new Function('client', 'args', `return (${body as string})(client, ...args)`)(eval('client'), a) as T,
    [fn, args] as const,
  ) as Promise<T>
}

/** Waits (bounded) until `read()` returns a value satisfying `ok`; returns it. */
export async function waitForValue<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await read()
    if (ok(v)) return v
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(v)})`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
