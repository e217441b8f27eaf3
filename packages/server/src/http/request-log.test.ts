import { Writable } from 'node:stream'
import { ProtocolClient } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { makeConfig } from '../config.js'
import { createLogger } from '../deps.js'
import { startServer, type ServerHandle } from '../main.js'
import { createAccount, createUser } from '../services/accounts.js'

/** A pino destination that keeps every JSON line. */
function sink(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const text of String(chunk).split('\n').filter(Boolean))
        lines.push(JSON.parse(text) as Record<string, unknown>)
      cb()
    },
  })
  return { lines, stream }
}

describe('request logs and request ids', () => {
  let server: ServerHandle | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  async function start() {
    const logs = sink()
    const config = makeConfig({ port: 0, db: 'sqlite::memory:', logLevel: 'info' })
    server = await startServer(config, { log: createLogger(config, logs.stream) })
    const account = await createAccount(server.ctx, 'A')
    await createUser(server.ctx, {
      clientId: account.clientId,
      login: 'alice@x.test',
      password: 'pw-alice-1',
    })
    await createUser(server.ctx, { clientId: account.clientId, login: 'bob@x.test', password: 'pw-bob-1' })
    return { logs, server, account }
  }

  it('every response, errors included, carries X-Request-Id; a sane incoming one is kept, a bad one replaced', async () => {
    const { server } = await start()
    const plain = await fetch(`${server.url}/healthz`)
    expect(plain.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const kept = await fetch(`${server.url}/nowhere`, { headers: { 'X-Request-Id': 'lb-42.abc' } })
    expect(kept.status).toBe(404)
    expect(kept.headers.get('x-request-id')).toBe('lb-42.abc')
    const replaced = await fetch(`${server.url}/healthz`, { headers: { 'X-Request-Id': 'a b"<script>' } })
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const undecodable = await fetch(`${server.url}/cpaas/%`)
    expect(undecodable.status).toBe(400)
    expect(undecodable.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const preflight = await fetch(`${server.url}/cpaas/auth/v1/token`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.test', 'Access-Control-Request-Method': 'POST' },
    })
    expect(preflight.headers.get('x-request-id')).toBeTruthy()
  })

  it('one info line per request with method, route pattern, status, duration, user and id; no tokens or passwords', async () => {
    const { logs, server, account } = await start()
    const alice = new ProtocolClient(server.url, account.clientId, 'alice@x.test', 'pw-alice-1')
    await alice.login()
    await alice.subscribe()
    const res = await fetch(`${server.url}/healthz?access_token=secret-in-query`, {
      headers: { 'X-Request-Id': 'probe-1' },
    })
    expect(res.status).toBe(200)
    alice.kill()

    const requests = logs.lines.filter((l) => l.msg === 'request')
    const health = requests.find((l) => l.reqId === 'probe-1')
    expect(health).toMatchObject({ level: 30, method: 'GET', route: '/healthz', status: 200 })
    expect(typeof health?.ms).toBe('number')
    expect(health).not.toHaveProperty('user')

    const token = requests.find((l) => l.route === '/cpaas/auth/v1/token')
    expect(token).toMatchObject({ method: 'POST', status: 200 })
    const channel = requests.find(
      (l) => l.method === 'POST' && l.route === '/cpaas/notificationchannel/v1/:username/channels',
    )
    expect(channel).toMatchObject({ status: 201, user: 'alice' })
    expect(String(channel?.route)).not.toContain('alice')

    const all = JSON.stringify(logs.lines)
    for (const secret of ['pw-alice-1', 'secret-in-query', alice.accessToken, alice.refreshToken])
      expect(all).not.toContain(secret)
  })
})

describe('info lines for logins and calls', () => {
  it('logs each login attempt with its outcome, and a call start, answer and end with ids and reason', async () => {
    const lines: Record<string, unknown>[] = []
    const stream = new Writable({
      write(chunk, _enc, cb) {
        for (const text of String(chunk).split('\n').filter(Boolean))
          lines.push(JSON.parse(text) as Record<string, unknown>)
        cb()
      },
    })
    const config = makeConfig({ port: 0, db: 'sqlite::memory:', logLevel: 'info' })
    const server = await startServer(config, { log: createLogger(config, stream) })
    try {
      const account = await createAccount(server.ctx, 'A')
      await createUser(server.ctx, {
        clientId: account.clientId,
        login: 'alice@x.test',
        password: 'pw-alice-1',
      })
      await createUser(server.ctx, { clientId: account.clientId, login: 'bob@x.test', password: 'pw-bob-1' })
      const wrong = new ProtocolClient(server.url, account.clientId, 'bob@x.test', 'not-the-password')
      await expect(wrong.login()).rejects.toThrow()
      const alice = new ProtocolClient(server.url, account.clientId, 'alice@x.test', 'pw-alice-1')
      const bob = new ProtocolClient(server.url, account.clientId, 'bob@x.test', 'pw-bob-1')
      for (const c of [alice, bob]) {
        await c.login()
        await c.subscribe()
      }
      const { legId } = await alice.call('bob@x.test')
      const invitation = await bob.invitation()
      expect((await bob.answer(invitation.legId)).status).toBe(204)
      expect((await alice.end(legId)).status).toBe(204)
      alice.kill()
      bob.kill()

      const logins = lines.filter((l) => l.msg === 'login')
      expect(logins).toContainEqual(
        expect.objectContaining({
          level: 30,
          login: 'bob@x.test',
          outcome: 'failure',
          reason: 'invalid_grant: Invalid username or password',
        }),
      )
      expect(logins).toContainEqual(expect.objectContaining({ login: 'alice@x.test', outcome: 'success' }))
      expect(JSON.stringify(lines)).not.toContain('not-the-password')

      const started = lines.find((l) => l.msg === 'call started')
      expect(started).toMatchObject({ level: 30, legId, caller: 'alice', callee: 'bob' })
      const callId = started?.callId
      expect(lines.find((l) => l.msg === 'call answered')).toMatchObject({
        callId,
        legId: invitation.legId,
        caller: 'alice',
        callee: 'bob',
      })
      expect(lines.find((l) => l.msg === 'call ended')).toMatchObject({
        callId,
        answered: true,
        reason: 'ended by caller',
      })
    } finally {
      await server.close()
    }
  })
})
