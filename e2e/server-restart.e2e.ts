import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { runCli } from '@parley/server'
import { waitFor, type TestPlatform } from '@parley/test-kit'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inbound, launchChromium, openPage } from './harness.js'
import { autoAnswerAndRecord, sdkCallState, setupSdk } from './sdk-page.js'

/** The server process is killed (SIGKILL) and restarted mid-call on the same SQLite file (issue 5, fault 2). */
const BIN = fileURLToPath(new URL('../packages/server/bin/parley.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'parley-restart-e2e-'))
const db = `sqlite:${join(dir, 'parley.db')}`
let browser: Browser
const contexts: BrowserContext[] = []
let server: ChildProcess | undefined

async function cli(args: string[]): Promise<string> {
  let out = ''
  const sink = new Writable({
    write(c, _e, cb) {
      out += String(c)
      cb()
    },
  })
  const code = await runCli([...args, '--db', db], sink)
  if (code !== 0) throw new Error(`parley ${args.join(' ')} exited ${code}`)
  return out
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** Starts `parley serve` and resolves once it listens. */
async function startServer(port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', String(port), '--db', db, '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  child.stdout!.on('data', (d) => (out += String(d)))
  child.stderr!.on('data', (d) => (out += String(d)))
  await waitFor(
    () => out.includes('Parley is running at') || child.exitCode !== null,
    15_000,
    'the server to start',
  )
  if (child.exitCode !== null) throw new Error(`parley serve exited: ${out}`)
  return child
}

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {})
  await browser?.close()
  server?.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
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
      await waitFor(
        async () =>
          (await page.evaluate(
            `window.sdk.connection.getSocketState().connected && window.socketChanges.some((c) => c.at > ${killedAt} && c.connected)`,
          )) as boolean,
        30_000,
        'the SDK to reconnect to the restarted server',
      )
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
