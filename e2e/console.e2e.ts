/**
 * The operator console in real Chromium (issue 12, README "Operator console"): two SDK pages of account A call
 * each other with quality sampling on; an administrator of A signs in at /console, sees the live call with its
 * quality, then finds it in the history once it ended and opens its quality timeline (uPlot charts drawn on
 * canvases). The administrator of account B sees none of it. Screenshots go to docs/screenshots/console-*.png.
 */

import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createAdmin } from '@parley/server'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { connectCall, openPage, sdk, usersFixture, waitForValue } from './harness.js'

const fixture = usersFixture(['alice', 'bob'], { timings: { livenessMs: 75_000, noAnswerMs: 60_000 } })
const SHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url))
const PASSWORD = 'console-password-1'

/** Fast sampling: a sample every 500 ms, reported in batches of 2. */
const QUALITY = { interval: 500, reportBatchSize: 2 }

async function signIn(page: Page, username: string): Promise<void> {
  await page.locator('#sign-in-username').fill(username)
  await page.locator('#sign-in-password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Live calls' }).waitFor({ timeout: 10_000 })
}

/** Whether a canvas has any non-transparent pixel (uPlot drew something). */
function canvasPainted(page: Page, selector: string): Promise<boolean> {
  return page.evaluate((sel) => {
    const canvas = document.querySelector<HTMLCanvasElement>(sel)
    if (!canvas || canvas.width === 0 || canvas.height === 0) return false
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) return true
    return false
  }, selector)
}

describe('operator console (README "Operator console")', () => {
  it("an administrator of A sees A's live call with quality, then its history and timeline; B's administrator sees nothing", async () => {
    const platform = fixture.platform
    await createAdmin(platform.server.ctx, {
      clientId: platform.clientId,
      username: 'admin-a',
      password: PASSWORD,
    })
    await createAdmin(platform.server.ctx, {
      clientId: platform.otherClientId,
      username: 'admin-b',
      password: PASSWORD,
    })
    const [alice, bob] = fixture.pages() as [Page, Page]
    for (const page of [alice, bob])
      await sdk(page, '(c, quality) => c.updateConfig({ call: { quality } })', QUALITY)

    const { callerId } = await connectCall(alice, bob, 'bob')

    const { context, page } = await openPage(fixture.browser(), `${platform.url}/console`)
    const other = await openPage(fixture.browser(), `${platform.url}/console`)
    try {
      await signIn(page, 'admin-a')
      // The live call of alice and bob, with a MOS from their reported samples (polled every 2 s).
      const row = page.locator('#live-table tbody tr')
      await row.first().waitFor({ timeout: 15_000 })
      await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1)
      await expect
        .poll(() => row.first().innerText(), {
          timeout: 20_000,
          message: 'the live row shows both MOS values',
        })
        .toMatch(/alice\s+bob\s+connected[\s\S]*alice MOS \d\.\d\d[\s\S]*bob MOS \d\.\d\d/)
      mkdirSync(SHOTS, { recursive: true })
      await page.screenshot({ path: `${SHOTS}console-live.png`, fullPage: true })

      // Account B's administrator: no calls, and none of A's users.
      await signIn(other.page, 'admin-b')
      await other.page.getByText('No calls in progress.').waitFor({ timeout: 10_000 })
      await other.page.getByRole('link', { name: 'Users' }).click()
      await other.page.locator('#users-table tbody tr').first().waitFor()
      expect(await other.page.locator('#users-table tbody').innerText()).not.toMatch(/alice|bob/)
      expect(await other.page.locator('#users-table tbody').innerText()).toMatch(/mallory/)

      // Let a few more samples reach the server, then end the call.
      const store = platform.server.ctx.store
      const account = await store.getAccountByClientId(platform.clientId)
      const [live] = await store.queryCallRecords({ accountId: account!.id, outcome: 'active', limit: 1 })
      const reported = async () => (await store.listQualitySamples(live!.id)).length
      await waitForValue(reported, (n) => n >= 6, 'six stored quality samples', 20_000)
      await alice.evaluate(
        (id) => (eval('client') as { call: { end(id: string): void } }).call.end(id),
        callerId,
      )
      await expect
        .poll(() => page.getByText('No calls in progress.').isVisible(), { timeout: 10_000 })
        .toBe(true)

      // History: the ended call, answered, with a link to its timeline.
      await page.getByRole('link', { name: 'History' }).click()
      await page.locator('#history-user').fill('bob')
      await page.locator('#history-outcome').selectOption('answered')
      await page.getByRole('button', { name: 'Filter' }).click()
      const historyRow = page.locator('#history-table tbody tr')
      await expect.poll(() => historyRow.count(), { timeout: 10_000 }).toBe(1)
      expect(await historyRow.first().innerText()).toMatch(/alice\s+bob\s+answered/)
      await historyRow.first().getByRole('link', { name: 'Quality timeline' }).click()

      await page.getByRole('heading', { name: 'Call alice → bob' }).waitFor({ timeout: 10_000 })
      for (const chart of ['#chart-mos', '#chart-rtt', '#chart-bitrate'])
        await expect
          .poll(() => canvasPainted(page, `${chart} canvas`), { timeout: 10_000, message: `${chart} drawn` })
          .toBe(true)
      expect(await page.locator('#chart-mos .u-legend').innerText()).toMatch(
        /alice \(caller\)[\s\S]*bob \(callee\)/,
      )
      await page.screenshot({ path: `${SHOTS}console-call.png`, fullPage: true })

      // B's administrator cannot open A's call, even by its address.
      const callId = page.url().split('#/calls/')[1]!
      await other.page.goto(`${platform.url}/console#/calls/${callId}`)
      await other.page.getByRole('alert').filter({ hasText: 'Unknown resource' }).waitFor({ timeout: 10_000 })
      const history = await other.page.evaluate(async () => (await fetch('/parley/admin/v1/calls')).json())
      expect(history).toEqual({ calls: [], next: null })
    } finally {
      await context.close()
      await other.context.close()
    }
  })
})
