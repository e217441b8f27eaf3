import { readFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { generate } from 'selfsigned'
import { buildApp } from './app.js'
import type { Config } from './config.js'
import {
  createContext,
  createMediaGateway,
  createServices,
  createSipTrunk,
  type MediaGatewayHandle,
  type Services,
} from './deps.js'
import type { SipUserAgent } from './sip/index.js'
import type { ChannelHub } from './realtime/channel-hub.js'
import { CoturnSupervisor, turnUrlAddress } from './coturn.js'
import type { ServiceContext } from './services/context.js'
import type { Call } from './store/types.js'
import { ensureDemoUsers, type DemoCredentials } from './services/demo.js'
import { AggregatorRegistry } from 'prom-client'
import { startMetricsServer } from './metrics.js'
import { sweepGatewayCalls } from './media-gateway/sweep.js'

/** A start-up failure whose message tells the operator what to fix; the CLI prints it as one line. */
export class StartupError extends Error {
  override readonly name = 'StartupError'
}

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
  /** The supervised turnserver of `--coturn`. */
  coturn: CoturnSupervisor | undefined
  /** The media gateway of `--rtpengine` / `--rtpengine-spawn` (also `ctx.mediaGateway`). */
  media: MediaGatewayHandle | undefined
  /** The SIP user agent of `--sip-trunk`, listening; undefined without it. */
  sip: SipUserAgent | undefined
  /** `http://host:port/metrics` of `--metrics-port` (not in a cluster worker: its primary serves the sum). */
  metricsUrl: string | undefined
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

/** PEM key and certificate of the HTTPS/WSS server. */
export interface TlsPem {
  key: string
  cert: string
}

/** The PEMs `--tls-*` asks for: read from the files, or generated (`--tls-self-signed`); undefined without TLS. */
export async function loadTls(config: Config): Promise<TlsPem | undefined> {
  if (config.tls === null) return undefined
  if (config.tls === 'self-signed') return selfSignedCertificate()
  const [key, cert] = await Promise.all([readFile(config.tls.key, 'utf8'), readFile(config.tls.cert, 'utf8')])
  return { key, cert }
}

/** What a cluster primary decided for one of its workers (cluster/worker.ts). */
export interface StartOptions {
  /** Serve these PEMs instead of loading `config.tls`: every worker serves the primary's one certificate. */
  https?: TlsPem
  /** The cluster worker id, sent as `X-Parley-Worker` on every response. */
  workerId?: number
}

/** Process-independent start: config → deps → app → listen (architecture §1, main.ts). */
export async function startServer(
  config: Config,
  overrides: Parameters<typeof createContext>[1] = {},
  options: StartOptions = {},
): Promise<ServerHandle> {
  const ctx = await createContext(config, overrides)
  const services = await createServices(ctx)
  let coturn: CoturnSupervisor | undefined
  let media: MediaGatewayHandle | undefined
  const sip = createSipTrunk(config, ctx.log)
  ctx.sipTrunk = sip
  if (sip) ctx.metrics?.watchSip(sip)
  // Trusted INVITEs ring the called number's user (issue 11); a failure answers 500 rather than leaving it hanging.
  sip?.onInvite((call, invite) => {
    services.sessions.inboundPstn(call, invite).catch((err: unknown) => {
      ctx.log.error({ err, sipCallId: call.callId }, 'inbound PSTN call failed')
      call.reject(500, 'Server Internal Error')
    })
  })
  try {
    coturn = config.coturn ? await startCoturn(config, services.turn.secret, ctx.log) : undefined
    if (ctx.mediaGateway === undefined) {
      media = await createMediaGateway(config, ctx.log)
      ctx.mediaGateway = media?.gateway
    }
    if (ctx.mediaGateway) ctx.metrics?.watchMediaGateway(ctx.mediaGateway)
    // Gateway calls no live call owns are what a crash left behind (issue 11): delete them. A gateway call's id
    // is its Parley call's id. A gateway that does not answer yet is swept on the next start.
    // The live ones that are answered PSTN calls get their SIP dialog back before the SIP port is bound (eager:
    // the trunk's BYE and the browser's end both find the call at once, with no store lookup by SIP Call-ID).
    if (ctx.mediaGateway) {
      const live: Call[] = []
      await sweepGatewayCalls(
        ctx.mediaGateway,
        async (id) => {
          const call = await ctx.store.getCall(id)
          if (call?.pstn && call.state !== 'ended') live.push(call)
          return call !== undefined && call.state !== 'ended'
        },
        ctx.log,
      ).catch((err: unknown) => ctx.log.warn({ err }, 'media gateway sweep failed'))
      const restored = live.filter((call) => services.sessions.restorePstn(call)).length
      if (restored > 0) ctx.log.info({ restored }, 'PSTN calls restored after a restart')
    }
    // A SIP port that cannot be bound (in use, not an address of this machine) fails the start-up.
    await sip?.start().catch((err: NodeJS.ErrnoException & { hostname?: string }) => {
      const { host, port } = config.sip!.listen
      const why: Record<string, string> = {
        EADDRINUSE: `--sip-listen ${host}:${port}: the address is in use`,
        EADDRNOTAVAIL: `--sip-listen ${host}:${port}: no such local address`,
        EACCES: `--sip-listen ${host}:${port}: permission denied (ports below 1024 need privileges)`,
        ENOTFOUND: `--sip-trunk: cannot resolve ${err.hostname ?? config.sip!.trunk.host}`,
        EAI_AGAIN: `--sip-trunk: cannot resolve ${err.hostname ?? config.sip!.trunk.host}`,
      }
      throw new StartupError(why[err.code ?? ''] ?? `SIP user agent: ${err.message}`)
    })
  } catch (err) {
    await sip?.close()
    await coturn?.stop()
    await ctx.bus.close()
    await ctx.store.close()
    throw err
  }
  const demo = config.demo ? await ensureDemoUsers(ctx) : undefined
  const https = options.https ?? (await loadTls(config))
  const { app, hub } = await buildApp(ctx, services, {
    ...(https ? { https } : {}),
    ...(options.workerId !== undefined ? { workerId: options.workerId } : {}),
  })
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    await media?.close()
    await sip?.close()
    await coturn?.stop()
    throw err
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const url = `${https ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  hub.start()
  services.scheduler.start()
  const registry = ctx.metrics?.registry
  // A cluster worker's metrics are summed and served by its primary (cluster/primary.ts), one scrape per node.
  if (registry && options.workerId !== undefined) {
    // prom-client installs a worker's answer to the primary's metrics request only when an AggregatorRegistry
    // is constructed in that process; without it the primary's scrape times out.
    new AggregatorRegistry()
    AggregatorRegistry.setRegistries([registry])
  }
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined
  if (registry && options.workerId === undefined && config.metricsPort !== null) {
    try {
      metricsServer = await startMetricsServer(
        config.metricsHost,
        config.metricsPort,
        async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
        (err) => ctx.log.error({ err }, 'collecting metrics failed'),
      )
    } catch (err) {
      await services.scheduler.stop()
      await hub.close()
      await app.close()
      await media?.close()
      await sip?.close()
      await coturn?.stop()
      await ctx.bus.close()
      await ctx.store.close()
      throw err
    }
  }

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await metricsServer?.close()
      await services.scheduler.stop()
      await hub.close()
      await app.close()
      await media?.close()
      await sip?.close()
      await coturn?.stop()
      await ctx.bus.close()
      await ctx.store.close()
    })())
  return {
    url,
    port,
    app,
    hub,
    ctx,
    services,
    demo,
    coturn,
    media,
    sip,
    metricsUrl: metricsServer?.url,
    close,
  }
}

/**
 * `--coturn`: turnserver listens at the first `--turn-url` (a loopback pair is advertised when none is
 * given, written into `config.turnUrls`) and shares the TURN REST secret with the credentials endpoint.
 */
export async function startCoturn(config: Config, secret: string, log: Logger): Promise<CoturnSupervisor> {
  if (config.turnUrls.length === 0) {
    const host = /^[\d.]+$/.test(config.host) && config.host !== '0.0.0.0' ? config.host : '127.0.0.1'
    config.turnUrls = [`turn:${host}:3478?transport=udp`, `stun:${host}:3478`]
  }
  const first = config.turnUrls.find((u) => /^turns?:/.test(u)) ?? config.turnUrls[0]!
  const { host, port } = turnUrlAddress(first)
  const supervisor = new CoturnSupervisor({ host, port, secret, ...config.coturn! }, log)
  await supervisor.start()
  return supervisor
}
