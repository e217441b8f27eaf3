/**
 * The calling app at / (demo/app) in two Chromium pages, as its users see it: the demo account's client ID
 * prefilled, a call with the incoming prompt, media, hold and mute as the other side sees them, DTMF, hang-up,
 * buttons enabled by state, and the server's error text for a wrong password. Screenshots go to
 * test-results/demo/.
 */
import { mkdirSync } from 'node:fs'
import type { TestPlatform } from '@parley/test-kit'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  inbound,
  launchChromium,
  openPage,
  playingVideos,
  startDemoPlatform,
  waitForValue,
} from './harness.js'

const SHOTS = 'test-results/demo'
let browser: Browser
let platform: TestPlatform
const contexts: BrowserContext[] = []

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true })
  browser = await launchChromium()
  platform = await startDemoPlatform({ demo: true })
})
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {})
  await browser?.close()
  await platform?.close()
})

async function open(): Promise<Page> {
  const { context, page } = await openPage(browser, `${platform.url}/`)
  await page.setViewportSize({ width: 1100, height: 860 })
  contexts.push(context)
  return page
}

async function login(page: Page, user: string, password: string): Promise<void> {
  await page.fill('#username', user)
  await page.fill('#password', password)
  await page.click('#login')
}

const enabled = (page: Page, ids: string[]) =>
  Promise.all(ids.map(async (id) => [id, await page.isEnabled(`#${id}`)] as const)).then(Object.fromEntries)

const text = (page: Page, sel: string) => page.locator(sel).innerText()

describe('the calling app at /', () => {
  it('shows the server error text for a wrong password', async () => {
    const page = await open()
    expect(await page.inputValue('#client-id')).toBe(platform.server.demo!.clientId)
    await page.screenshot({ path: `${SHOTS}/login.png`, fullPage: true })
    await login(page, 'alice@example.com', 'wrong')
    await page.waitForSelector('#error:not([hidden])', { timeout: 10_000 })
    expect(await text(page, '#error')).toBe('Invalid username or password')
    await page.screenshot({ path: `${SHOTS}/login-error.png`, fullPage: true })
  })

  it('alice calls bob: prompt, answer, media, hold, mute, DTMF, hang-up on both sides', async () => {
    const demo = platform.server.demo!
    const pw = (name: string) => demo.users.find((u) => u.login.startsWith(name))!.password
    const alice = await open()
    const bob = await open()
    await login(alice, 'alice@example.com', pw('alice'))
    await login(bob, 'bob@example.com', pw('bob'))
    for (const p of [alice, bob]) await p.waitForSelector('#call-view:not([hidden])', { timeout: 20_000 })
    expect(await text(alice, '#status-text')).toBe('Signed in as alice@example.com')
    const controls = ['make', 'end', 'answer', 'reject', 'hold', 'mute', 'video']
    expect(await enabled(alice, controls)).toEqual({
      make: false,
      end: false,
      answer: false,
      reject: false,
      hold: false,
      mute: false,
      video: false,
    })
    await alice.fill('#callee', 'bob@example.com')
    expect(await alice.isEnabled('#make')).toBe(true)
    await alice.screenshot({ path: `${SHOTS}/idle.png`, fullPage: true })

    await alice.click('#make')
    await bob.waitForSelector('#incoming:not([hidden])', { timeout: 20_000 })
    expect(await text(bob, '#incoming-from')).toBe('alice@example.com')
    expect(await enabled(bob, ['answer', 'reject', 'make', 'hold'])).toEqual({
      answer: true,
      reject: true,
      make: false,
      hold: false,
    })
    expect(await alice.isEnabled('#end')).toBe(true)
    await bob.screenshot({ path: `${SHOTS}/incoming.png`, fullPage: true })

    await bob.click('#answer')
    for (const p of [alice, bob]) {
      await p.waitForFunction(
        () => document.getElementById('call-state')?.textContent === 'Connected',
        undefined,
        {
          timeout: 20_000,
        },
      )
      await waitForValue(
        () => playingVideos(p, '#remote-media'),
        (n) => n > 0,
        'remote video playing',
      )
      const a = (await inbound(p))!.video!.bytesReceived
      await waitForValue(
        async () => (await inbound(p))!.video!.bytesReceived,
        (b) => b > a,
        'video bytes growing',
      )
      await waitForValue(
        () => playingVideos(p, '#local-media'),
        (n) => n > 0,
        'local video playing',
      )
    }
    expect(await bob.isHidden('#incoming')).toBe(true)
    expect(await enabled(alice, controls)).toEqual({
      make: false,
      end: true,
      answer: false,
      reject: false,
      hold: true,
      mute: true,
      video: true,
    })
    await waitForValue(
      () => text(bob, '#remote-audio-text'),
      (t) => t === 'Sound',
      'bob hears alice',
    )
    await waitForValue(
      () => text(alice, '#call-timer'),
      (t) => t !== '00:00',
      'the timer runs',
    )
    await alice.screenshot({ path: `${SHOTS}/in-call.png`, fullPage: true })
    await bob.screenshot({ path: `${SHOTS}/in-call-bob.png`, fullPage: true })

    // DTMF from the keypad: no error shown.
    await alice.click('#dtmf-pad [data-tone="5"]')
    await alice.focus('#dtmf-pad [data-tone="1"]')
    await alice.keyboard.press('#')
    await waitForValue(
      () => text(alice, '#dtmf-sent'),
      (t) => t === '5#',
      'tones shown as sent',
    )
    await waitForValue(
      async () => (await alice.locator('#log').textContent()) ?? '',
      (t) => t.includes('Sent DTMF'),
      'DTMF sent',
    )
    expect(await alice.isHidden('#error')).toBe(true)

    // Mute: alice's button shows it; bob's meter goes silent. Unmute brings the sound back.
    await alice.click('#mute')
    await waitForValue(
      () => text(alice, '#mute'),
      (t) => t === 'Unmute',
      'alice sees Unmute',
    )
    expect(await alice.getAttribute('#mute', 'aria-pressed')).toBe('true')
    await waitForValue(
      () => text(bob, '#remote-audio-text'),
      (t) => t === 'Silent',
      'bob hears silence',
    )
    await alice.click('#mute')
    await waitForValue(
      () => text(bob, '#remote-audio-text'),
      (t) => t === 'Sound',
      'bob hears alice again',
    )

    // Hold: bob is told alice put the call on hold; mute/video/DTMF off meanwhile; resume reconnects.
    await alice.click('#hold')
    await waitForValue(
      () => text(bob, '#hold-notice'),
      (t) => t === 'alice@example.com put the call on hold',
      'bob sees hold',
    )
    expect(await text(bob, '#call-state')).toBe('On Hold')
    await waitForValue(
      () => text(alice, '#hold'),
      (t) => t === 'Resume',
      'alice can resume',
    )
    expect(await enabled(alice, ['mute', 'video', 'end'])).toEqual({ mute: false, video: false, end: true })
    await alice.click('#hold')
    for (const p of [alice, bob])
      await waitForValue(
        () => text(p, '#call-state'),
        (t) => t === 'Connected',
        'connected after resume',
      )

    // Bob hangs up: both sides end, the controls go back to idle.
    await bob.click('#end')
    for (const p of [alice, bob]) {
      await waitForValue(
        () => text(p, '#call-state'),
        (t) => t === 'Ended',
        'call ended',
      )
      expect(await enabled(p, ['end', 'hold', 'mute', 'video'])).toEqual({
        end: false,
        hold: false,
        mute: false,
        video: false,
      })
    }
    expect(await alice.isEnabled('#make')).toBe(true)
    expect(await alice.isHidden('#error')).toBe(true)
  })
})
