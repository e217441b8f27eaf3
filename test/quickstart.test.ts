import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fetchReply, ProtocolClient, syntheticSdp, waitFor } from '@parley/test-kit'
import { afterAll, describe, expect, it } from 'vitest'

// The README's quickstart run literally as a newcomer would (issue 10): the first command of its Quickstart
// block is read from README.md, so the README and this test cannot drift apart.

const root = fileURLToPath(new URL('..', import.meta.url))

/** The commands of the README's Quickstart code block, comments cut off: [run the platform, run the tests]. */
async function quickstartCommands(): Promise<string[]> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const section = readme.split(/^## /m).find((s) => s.startsWith('Quickstart'))
  if (!section) throw new Error('README.md has no "## Quickstart" section')
  const block = /```sh\n([\s\S]*?)```/.exec(section)
  if (!block) throw new Error('the Quickstart section of README.md has no ```sh block')
  return block[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean)
}

let child: ChildProcess | undefined
let scratch: string | undefined
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL')
  if (scratch) await rm(scratch, { recursive: true, force: true })
})

describe('the README quickstart, literally', () => {
  it('names npm start in its first command and npm test in its second', async () => {
    const [start, test] = await quickstartCommands()
    expect(start).toMatch(/\bnpm start\b/)
    expect(test).toBe('npm test')
  })

  it('its first command serves the demo and the SDK, the printed users log in and call, and Ctrl-C exits 0', async () => {
    const [start] = await quickstartCommands()
    scratch = await mkdtemp(join(tmpdir(), 'parley-quickstart-'))
    // A shell of its own process group, as a terminal runs it; Ctrl-C is SIGINT to that whole group (bash, like an
    // interactive shell, then waits for the command and takes its exit code).
    child = spawn('bash', ['-c', start!], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PARLEY_PORT: '0', PARLEY_DB: `sqlite:${join(scratch, 'parley.db')}` },
    })
    let output = ''
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
    const exited = new Promise<string>((resolve) =>
      child!.once('exit', (code, signal) => resolve(signal ?? String(code))),
    )

    const printed = await waitFor(
      () => {
        if (child!.exitCode !== null) throw new Error(`"${start}" exited with ${child!.exitCode}:\n${output}`)
        const url = /Parley is running at (https?:\/\/\S+)/.exec(output)?.[1]
        const clientId = /Client ID: (\S+)/.exec(output)?.[1]
        const users = [...output.matchAll(/^\s*(\S+@\S+)\s+password: (\S+)\s*$/gm)].map((m) => ({
          login: m[1]!,
          password: m[2]!,
        }))
        return url && clientId && users.length >= 2 ? { url, clientId, users } : undefined
      },
      240_000,
      `"${start}" to print the URL, the client ID and two demo users`,
    )
    const { url, clientId, users } = printed

    const page = await fetchReply(`${url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(page.text).toContain('/sdk/parley.js')
    const sdk = await fetchReply(`${url}/sdk/parley.js`)
    expect(sdk.status).toBe(200)
    expect(sdk.text).toContain('Kandy')

    // The two printed users log in at the token endpoint and call each other.
    const [a, b] = users.map((u) => new ProtocolClient(url, clientId, u.login, u.password)) as [
      ProtocolClient,
      ProtocolClient,
    ]
    for (const c of [a, b]) {
      await c.login()
      await c.subscribe()
    }
    const { legId: la } = await a.call(`sip:${b.loginName}`, syntheticSdp('quickstart offer'))
    const invitation = await b.invitation(10_000)
    expect((await b.status(invitation.legId, 'Ringing')).status).toBe(200)
    expect((await b.answer(invitation.legId)).status).toBe(204)
    await a.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'the caller sees the answer')
    expect((await a.end(la)).status).toBe(204)
    await b.event('SessionEnded', invitation.legId)
    for (const c of [a, b]) await c.disconnect()

    process.kill(-child.pid!, 'SIGINT')
    const code = await Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit within 20 s of SIGINT:\n${output}`)), 20_000),
      ),
    ])
    expect(code, output).toBe('0')
  }, 300_000)
})
