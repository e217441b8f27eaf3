import cluster from 'node:cluster'
import { ClusterBus } from '../bus/cluster-bus.js'
import { workerProcessTransport } from '../bus/cluster-ipc.js'
import { createLogger } from '../deps.js'
import { startServer, type ServerHandle } from '../main.js'
import { controlMessage, type ControlMessage } from './messages.js'

/** Sends a control message to the primary; resolves once it is handed to the IPC channel (or lost with it). */
function send(message: ControlMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })
}

/**
 * A worker process of `parley serve --workers N`: waits for the primary's `start`, runs the ordinary server
 * on the shared port (node:cluster hands it connections), and shuts down gracefully — in-flight requests
 * finish, sockets close with 1001 — on the primary's `shutdown`, on SIGTERM/SIGINT (Ctrl-C reaches the whole
 * process group), or when the primary is gone (the IPC channel closed). The bus is the primary's relay
 * (ClusterBus), or Redis with `--redis`.
 */
export function runWorker(): void {
  const id = cluster.worker?.id
  if (id === undefined || !process.send) throw new Error('runWorker() runs in a cluster worker only')
  let server: ServerHandle | undefined
  let starting: Promise<void> | undefined
  let stopping = false

  const stop = async (reason: string) => {
    if (stopping) return
    stopping = true
    await starting?.catch(() => undefined)
    server?.ctx.log.info({ reason }, 'worker shutting down')
    try {
      await server?.close()
    } catch (err) {
      server?.ctx.log.error({ err }, 'worker shutdown failed')
      process.exit(1)
    }
    process.exit(0)
  }

  const start = async (message: Extract<ControlMessage['parleyWorker'], { type: 'start' }>) => {
    const { config } = message
    const log = createLogger(config).child({ worker: id })
    const onError = (err: Error) => log.warn({ err }, 'cluster bus error')
    const bus = config.redis ? undefined : new ClusterBus(workerProcessTransport(onError), { onError })
    try {
      server = await startServer(
        config,
        { log, ...(bus ? { bus } : {}) },
        {
          ...(message.https ? { https: message.https } : {}),
          workerId: id,
        },
      )
    } catch (err) {
      log.error({ err }, 'worker failed to start')
      await send({ parleyWorker: { type: 'failed', error: (err as Error).message } })
      process.exit(1)
    }
    await send({ parleyWorker: { type: 'listening', url: server.url, port: server.port } })
  }

  process.on('message', (raw) => {
    const message = controlMessage(raw)
    if (message?.type === 'start' && !starting && !stopping) starting = start(message)
    else if (message?.type === 'shutdown') void stop('primary')
  })
  process.once('SIGTERM', () => void stop('SIGTERM'))
  process.once('SIGINT', () => void stop('SIGINT'))
  process.once('disconnect', () => void stop('primary gone'))
  void send({ parleyWorker: { type: 'ready' } })
}
