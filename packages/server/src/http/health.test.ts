import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { waitFor } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { RedisBus } from '../bus/redis-bus.js'
import { makeConfig } from '../config.js'
import { startServer, type ServerHandle } from '../main.js'
import { PostgresStore } from '../store/postgres/postgres-store.js'

/** A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const probe = createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const address = probe.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise((resolve) => probe.close(resolve))
  return port
}

const config = () => makeConfig({ port: 0, db: 'sqlite::memory:', logLevel: 'silent' })

describe('GET /healthz and GET /readyz', () => {
  let server: ServerHandle | undefined
  let redis: ChildProcess | undefined

  afterEach(async () => {
    await server?.close()
    server = undefined
    redis?.kill('SIGKILL')
    redis = undefined
  })

  it('/healthz answers 200 {"status":"ok"} without a token', async () => {
    server = await startServer(config())
    const res = await fetch(`${server.url}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toStrictEqual({ status: 'ok' })
  })

  it('/readyz answers 200 when the store and the bus answer', async () => {
    server = await startServer(config())
    const res = await fetch(`${server.url}/readyz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toStrictEqual({ status: 'ok', checks: { store: 'ok', bus: 'ok' } })
  })

  it('/readyz answers 503 naming the store when PostgreSQL is unreachable', async () => {
    const store = new PostgresStore(`postgres://postgres@127.0.0.1:${await closedPort()}/test`)
    server = await startServer(config(), {
      store: Object.assign(store, { getOrCreateSecret: async () => 'x'.repeat(43) }),
    })
    const started = Date.now()
    const res = await fetch(`${server.url}/readyz`)
    expect(res.status).toBe(503)
    const body = (await res.json()) as { status: string; checks: { store: string; bus: string } }
    expect(body.status).toBe('unavailable')
    expect(body.checks.bus).toBe('ok')
    expect(body.checks.store).toMatch(/^error: .*ECONNREFUSED|^error: no answer within/)
    expect(Date.now() - started).toBeLessThan(3_000)
  })

  it('/readyz goes 503 naming the bus when its Redis stops, and the process stays healthy', async () => {
    const port = await closedPort()
    redis = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    )
    let bus: RedisBus | undefined
    await waitFor(
      async () => {
        bus = await RedisBus.open(`redis://127.0.0.1:${port}`).catch(() => undefined)
        return bus !== undefined
      },
      5_000,
      'the private redis-server to accept connections',
    )
    server = await startServer(config(), { bus: bus! })
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200)

    redis.kill('SIGKILL')
    await once(redis, 'exit')
    redis = undefined
    const res = await fetch(`${server.url}/readyz`)
    expect(res.status).toBe(503)
    const body = (await res.json()) as { status: string; checks: { store: string; bus: string } }
    expect(body).toMatchObject({ status: 'unavailable', checks: { store: 'ok' } })
    expect(body.checks.bus).toMatch(/^error: /)
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
  })
})
