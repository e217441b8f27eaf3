import { readFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import { generate } from 'selfsigned'
import { buildApp } from './app.js'
import type { Config } from './config.js'
import { createContext, createServices, type Services } from './deps.js'
import type { ChannelHub } from './realtime/channel-hub.js'
import type { ServiceContext } from './services/context.js'
import { ensureDemoUsers, type DemoCredentials } from './services/demo.js'

/** A running server. */
export interface ServerHandle {
  /** `http(s)://host:port` of the API, websocket and demo. */
  url: string
  port: number
  app: FastifyInstance
  hub: ChannelHub
  ctx: ServiceContext
  services: Services
  demo: DemoCredentials | undefined
  /** Graceful stop: refuse new work, finish in-flight requests, close sockets with 1001, close the store. */
  close(): Promise<void>
}

/** A certificate for localhost/127.0.0.1/::1, generated in memory (`--tls-self-signed`). */
export async function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  })
  return { key: pems.private, cert: pems.cert }
}

async function tlsOptions(config: Config): Promise<{ key: string; cert: string } | undefined> {
  if (config.tls === null) return undefined
  if (config.tls === 'self-signed') return selfSignedCertificate()
  const [key, cert] = await Promise.all([readFile(config.tls.key, 'utf8'), readFile(config.tls.cert, 'utf8')])
  return { key, cert }
}

/** Process-independent start: config → deps → app → listen (architecture §1, main.ts). */
export async function startServer(
  config: Config,
  overrides: Parameters<typeof createContext>[1] = {},
): Promise<ServerHandle> {
  const ctx = await createContext(config, overrides)
  const services = await createServices(ctx)
  const demo = config.demo ? await ensureDemoUsers(ctx) : undefined
  const https = await tlsOptions(config)
  const { app, hub } = await buildApp(ctx, services, https ? { https } : {})
  await app.listen({ host: config.host, port: config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const url = `${https ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  hub.start()
  services.scheduler.start()

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await services.scheduler.stop()
      await hub.close()
      await app.close()
      await ctx.bus.close()
      await ctx.store.close()
    })())
  return { url, port, app, hub, ctx, services, demo, close }
}
