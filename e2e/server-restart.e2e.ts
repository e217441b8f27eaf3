import type { ChildProcess } from 'node:child_process'
import { waitFor, type TestPlatform } from '@parley/test-kit'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inbound, launchChromium, openPage } from './harness.js'
import { autoAnswerAndRecord, sdkCallState, sdkReconnected, setupSdk } from './sdk-page.js'
import { freePort, serveDb, startServe } from './serve-process.js'

/** The server process is killed (SIGKILL) and restarted mid-call on the same SQLite file (issue 5, fault 2). */
const store = serveDb('parley-restart-e2e-')
const cli = store.cli
let browser: Browser
const contexts: BrowserContext[] = []
let server: ChildProcess | undefined

async function startServer(port: number): Promise<ChildProcess> {
  return (await startServe(port, store.db)).child
}

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {})
  await browser?.close()
  server?.kill('SIGKILL')
  store.remove()
})

describe('server killed and restarted mid-call', () => {
  it('media keeps flowing, both SDKs reconnect, the end reaches the other side, and the call record is kept', async () => {
    const { clientId } = JSON.parse(await cli(['account', 'create', '--name', 'Restart'])) as {
      clientId: string
    }
    const passwords: Record<string, string> = { alice: 'alice-restart-pw', bob: 'bob-restart-pw' }
    for (const name of ['alice', 'bob']) {
      await cli([
        'user',
        'create',
        '--client-id',
        clientId,
        '--username',
        `${name}@example.com`,
        '--password',
        passwords[name]!,
      ])
    }
    const port = await freePort()
    server = await startServer(port)
    const target = { clientId, passwords } as unknown as TestPlatform
    const pages: Page[] = []
    for (const name of ['alice', 'bob']) {
      const { context, page } = await openPage(browser, `http://127.0.0.1:${port}/quickstart`)
      contexts.push(context)
      await setupSdk(page, target, name, { connectivity: { reconnectDelay: 300, reconnectLimit: 0 } })
      await autoAnswerAndRecord(page)
      pages.push(page)
    }
    const [alice, bob] = pages as [Page, Page]
    const aliceCall = (await alice.evaluate(
      `window.sdk.call.make('bob@example.com', { audio: true, video: true })`,
    )) as string
    await waitFor(
      async () => (await sdkCallState(alice, aliceCall)) === 'Connected',
      20_000,
      'alice Connected',
    )
    const bobCall = (await bob.evaluate('window.incoming')) as string

    server.kill('SIGKILL')
    const killedAt = Date.now()
    // Media is peer to peer: it keeps flowing while the server is down.
    for (const page of [alice, bob]) {
      const before = await waitFor(
        async () => (await inbound(page))?.audio?.bytesReceived,
        10_000,
        'inbound audio',
      )
      await waitFor(
        async () => ((await inbound(page))?.audio?.bytesReceived ?? 0) > before,
        10_000,
        'media flowing without the server',
      )
    }
    server = await startServer(port)
    const restartedAt = Date.now()
    for (const page of [alice, bob]) {
      await sdkReconnected(page, killedAt)
    }
    console.log(`RECOVERY server-restart ${Date.now() - restartedAt}`)
    expect(await sdkCallState(alice, aliceCall)).toBe('Connected')
    await bob.evaluate(`window.sdk.call.end(${JSON.stringify(bobCall)})`)
    await waitFor(
      async () => (await sdkCallState(alice, aliceCall)) === 'Ended',
      20_000,
      'alice Ended by bob after the restart',
    )

    server.kill('SIGTERM')
    await new Promise((r) => server!.once('exit', r))
    server = undefined
    const record = JSON.parse((await cli(['calls', 'list'])).trim().split('\n')[0]!) as Record<
      string,
      unknown
    >
    expect(record).toMatchObject({
      caller: 'alice',
      callee: 'bob',
      state: 'ended',
      endReason: 'ended by callee',
    })
    expect(record.answeredAt).not.toBeNull()
  })
})
