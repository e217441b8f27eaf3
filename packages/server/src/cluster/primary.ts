import cluster, { type Worker } from 'node:cluster'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import { clusterWorkerTransport } from '../bus/cluster-ipc.js'
import { ClusterBusRelay } from '../bus/cluster-relay.js'
import type { Config } from '../config.js'
import type { CoturnSupervisor } from '../coturn.js'
import { RtpengineSupervisor } from '../media-gateway/rtpengine-supervisor.js'
import { createContext, createLogger } from '../deps.js'
import { loadTls, startCoturn, type TlsPem } from '../main.js'
import { ensureDemoUsers, type DemoCredentials } from '../services/demo.js'
import { TurnService } from '../services/turn.js'
import { AggregatorRegistry } from 'prom-client'
import { startMetricsServer } from '../metrics.js'
import { controlMessage, type ControlMessage } from './messages.js'

/** How long the primary waits for its workers' graceful shutdown before it kills them. */
export const SHUTDOWN_TIMEOUT_MS = 10_000
/** First delay before a crashed worker is replaced; doubled per crash in a row, up to RESTART_MAX_MS. */
const RESTART_BASE_MS = 250
const RESTART_MAX_MS = 10_000
/** A worker that ran this long before it died starts the backoff afresh: it was not crash-looping. */
const STABLE_MS = 10_000

/** A running cluster primary (`parley serve --workers N`, N > 1). */
export interface ClusterHandle {
  /** `http(s)://host:port` that every worker serves. */
  url: string
  port: number
  /** Credentials of `--demo` on an empty database (created once, by the primary). */
  demo: DemoCredentials | undefined
  /** The one supervised turnserver of `--coturn`. */
  coturn: CoturnSupervisor | undefined
  /** `http://host:port/metrics` of `--metrics-port`: the sum over the workers. */
  metricsUrl: string | undefined
  log: Logger
  /** Asks every worker to shut down gracefully, kills those still running after the timeout, stops coturn. */
  close(): Promise<void>
}

/** Options of startCluster (tests). */
export interface ClusterOptions {
  /** The worker entry module; default the built cluster/worker-main.js next to this file. */
  workerEntry?: string
  shutdownTimeoutMs?: number
}

interface Slot {
  worker: Worker | undefined
  startedAt: number
  /** Crashes in a row, for the backoff. */
  crashes: number
  restartTimer: NodeJS.Timeout | undefined
}

/**
 * Makes this process the primary of `config.workers` worker processes (node:cluster; the default
 * round-robin scheduling hands each accepted connection to one worker). The one-time start-up work happens
 * here, once: the store is opened (migrations), `--demo` users are created, the `--tls-self-signed`
 * certificate is generated (every worker serves the same one), and `--coturn` starts the node's only
 * turnserver. Without `--redis` the primary relays bus messages between the workers (ClusterBusRelay).
 * A worker that dies is replaced after a short, growing delay.
 */
export async function startCluster(config: Config, options: ClusterOptions = {}): Promise<ClusterHandle> {
  const log = createLogger(config).child({ role: 'primary' })
  const { demo, turnSecret } = await prepareStore(config, log)
  const coturn = config.coturn ? await startCoturn(config, turnSecret!, log) : undefined
  // `--rtpengine-spawn`: the node's one rtpengine, started here; the workers talk to it as to any --rtpengine.
  let rtpengine: RtpengineSupervisor | undefined
  let https: TlsPem | undefined
  try {
    if (config.rtpengine?.spawn) {
      rtpengine = new RtpengineSupervisor(
        { host: config.rtpengine.host, port: config.rtpengine.port, ...config.rtpengine.spawn },
        log,
      )
      await rtpengine.start()
    }
    https = await loadTls(config)
  } catch (err) {
    await rtpengine?.stop()
    await coturn?.stop()
    throw err
  }
  // Workers run the ordinary server; the duties done above are not theirs.
  const workerConfig: Config = {
    ...config,
    demo: false,
    coturn: null,
    rtpengine: config.rtpengine && { ...config.rtpengine, spawn: null },
  }
  const primary = new Primary(workerConfig, https, log, options)
  let listening: { url: string; port: number }
  try {
    listening = await primary.start()
  } catch (err) {
    await primary.close()
    await rtpengine?.stop()
    await coturn?.stop()
    throw err
  }
  let metrics: Awaited<ReturnType<typeof startMetricsServer>> | undefined
  if (config.metricsPort !== null) {
    // One scrape per node: each worker answers the primary over the cluster IPC channel (prom-client's
    // protocol, on the registry the worker gave AggregatorRegistry.setRegistries) and the values are summed.
    const aggregator = new AggregatorRegistry()
    try {
      metrics = await startMetricsServer(
        config.metricsHost,
        config.metricsPort,
        async () => ({ contentType: aggregator.contentType, text: await aggregator.clusterMetrics() }),
        (err) => log.error({ err }, 'collecting metrics from the workers failed'),
      )
    } catch (err) {
      await primary.close()
      await rtpengine?.stop()
      await coturn?.stop()
      throw err
    }
  }
  return {
    ...listening,
    demo,
    coturn,
    metricsUrl: metrics?.url,
    log,
    async close() {
      await metrics?.close()
      await primary.close()
      await rtpengine?.stop()
      await coturn?.stop()
    },
  }
}

/**
 * Opens the store once before any worker does, so that its migrations run in one process; creates the demo
 * users; reads the TURN secret that `--coturn` shares with the workers' credentials endpoint.
 */
async function prepareStore(
  config: Config,
  log: Logger,
): Promise<{ demo: DemoCredentials | undefined; turnSecret: string | undefined }> {
  const ctx = await createContext({ ...config, redis: undefined }, { log })
  try {
    const demo = config.demo ? await ensureDemoUsers(ctx) : undefined
    let turnSecret: string | undefined
    if (config.coturn) {
      const turn = new TurnService(ctx)
      await turn.init()
      turnSecret = turn.secret
    }
    return { demo, turnSecret }
  } finally {
    await ctx.bus.close()
    await ctx.store.close()
  }
}

class Primary {
  readonly #config: Config
  readonly #https: TlsPem | undefined
  readonly #log: Logger
  readonly #shutdownTimeoutMs: number
  readonly #relay: ClusterBusRelay | undefined
  readonly #slots: Slot[]
  readonly #live = new Set<Worker>()
  /** All workers listened once; from then on a worker's death is replaced rather than fatal. */
  #running = false
  #stopping = false
  #closing: Promise<void> | undefined

  constructor(config: Config, https: TlsPem | undefined, log: Logger, options: ClusterOptions) {
    this.#config = config
    this.#https = https
    this.#log = log
    this.#shutdownTimeoutMs = options.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS
    // With --redis every worker talks to Redis itself, like a node of a multi-node deployment.
    this.#relay = config.redis
      ? undefined
      : new ClusterBusRelay({
          onError: (err, worker) => log.debug({ err, worker }, 'bus message to a worker not sent'),
        })
    this.#slots = Array.from({ length: config.workers }, () => ({
      worker: undefined,
      startedAt: 0,
      crashes: 0,
      restartTimer: undefined,
    }))
    cluster.setupPrimary({
      exec: options.workerEntry ?? fileURLToPath(new URL('./worker-main.js', import.meta.url)),
      args: [],
    })
  }

  /** Forks every worker; resolves once all listen, rejects when one cannot start. */
  async start(): Promise<{ url: string; port: number }> {
    // node:cluster shares one listening socket among the workers that listen on the same address and port.
    // `--port 0` is resolved here, once: a replacement worker listening on "0" would not join the socket
    // the others listen on, it would ask for a second one on the port they hold (EADDRINUSE).
    if (this.#config.port === 0) this.#config.port = await freePort(this.#config.host)
    const listening = await Promise.all(this.#slots.map((slot) => this.#fork(slot)))
    this.#running = true
    return listening[0]!
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopping = true
      for (const slot of this.#slots) clearTimeout(slot.restartTimer)
      await Promise.all([...this.#live].map((worker) => this.#stop(worker)))
    })()
    return this.#closing
  }

  #fork(slot: Slot): Promise<{ url: string; port: number }> {
    const worker = cluster.fork()
    const pid = worker.process.pid
    slot.worker = worker
    slot.startedAt = Date.now()
    this.#live.add(worker)
    const send = (message: ControlMessage) => {
      if (!worker.isConnected()) return
      worker.send(message, (err) => {
        if (err) this.#log.debug({ err, worker: worker.id }, 'message to a worker not sent')
      })
    }
    // Without a listener, an IPC error of a dying worker would be thrown in the primary.
    worker.on('error', (err) => this.#log.warn({ err, worker: worker.id }, 'worker IPC error'))
    this.#relay?.attach(
      worker.id,
      clusterWorkerTransport(worker, (err) =>
        this.#log.debug({ err, worker: worker.id }, 'bus message to a worker not sent'),
      ),
    )
    return new Promise((resolve, reject) => {
      let listening = false
      worker.on('message', (raw) => {
        const message = controlMessage(raw)
        if (message?.type === 'ready') {
          // A worker forked just before a shutdown may have missed the `shutdown` sent before it listened.
          if (this.#stopping) return send({ parleyWorker: { type: 'shutdown' } })
          send({
            parleyWorker: {
              type: 'start',
              config: this.#config,
              ...(this.#https ? { https: this.#https } : {}),
            },
          })
        } else if (message?.type === 'listening') {
          listening = true
          this.#log.info({ worker: worker.id, workerPid: pid, url: message.url }, 'worker listening')
          resolve({ url: message.url, port: message.port })
        } else if (message?.type === 'failed') {
          reject(new Error(`worker ${worker.id} could not start: ${message.error}`))
        }
      })
      worker.once('exit', (code, signal) => {
        this.#live.delete(worker)
        this.#relay?.detach(worker.id)
        if (slot.worker === worker) slot.worker = undefined
        if (!listening) reject(new Error(`worker ${worker.id} exited (${signal ?? code}) before listening`))
        if (this.#running && !this.#stopping)
          this.#replace(slot, { worker: worker.id, workerPid: pid, code, signal })
      })
    })
  }

  /** Supervision: a worker that died is replaced, after a delay that grows while it keeps dying. */
  #replace(slot: Slot, exit: Record<string, unknown>): void {
    if (Date.now() - slot.startedAt >= STABLE_MS) slot.crashes = 0
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** slot.crashes)
    slot.crashes += 1
    this.#log.error({ ...exit, restartInMs: delay }, 'worker exited unexpectedly; starting a replacement')
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined
      if (this.#stopping) return
      // A replacement that cannot start exits too, and its exit schedules the next attempt.
      this.#fork(slot).catch((err: unknown) => this.#log.error({ err }, 'replacement worker failed to start'))
    }, delay)
  }

  /** Graceful stop of one worker, bounded by the shutdown timeout. */
  #stop(worker: Worker): Promise<void> {
    if (worker.isDead()) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#log.warn(
          { worker: worker.id, workerPid: worker.process.pid, timeoutMs: this.#shutdownTimeoutMs },
          'worker did not shut down in time; killing it',
        )
        worker.process.kill('SIGKILL')
      }, this.#shutdownTimeoutMs)
      worker.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      if (worker.isConnected()) {
        worker.send({ parleyWorker: { type: 'shutdown' } } satisfies ControlMessage, () => undefined)
      } else {
        worker.process.kill('SIGTERM')
      }
    })
  }
}

/** A port that is free on `host` now (the OS picks it, as for `listen(0)`). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, host, () => {
      const address = probe.address()
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}
