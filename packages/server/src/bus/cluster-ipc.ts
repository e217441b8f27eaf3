import type { Serializable } from 'node:child_process'
import type { Worker } from 'node:cluster'
import type { BusTransport } from './cluster-bus.js'

/** Reports a failed IPC send; without a callback Node would emit it as an 'error' event nobody handles. */
type SendFailure = (error: Error) => void

/** The worker's end of the cluster IPC channel (`process.send` / `process.on('message')`). */
export function workerProcessTransport(onSendError: SendFailure = () => undefined): BusTransport {
  return {
    send(message) {
      if (!process.send || !process.connected) throw new Error('the IPC channel to the primary is closed')
      process.send(message, undefined, {}, (error: Error | null) => {
        if (error) onSendError(error)
      })
    },
    onMessage(listener) {
      process.on('message', listener)
      return () => process.off('message', listener)
    },
  }
}

/** The primary's end of one worker's cluster IPC channel. */
export function clusterWorkerTransport(
  worker: Worker,
  onSendError: SendFailure = () => undefined,
): BusTransport {
  return {
    send(message) {
      if (!worker.isConnected()) throw new Error(`worker ${worker.id} is disconnected`)
      worker.send(message as Serializable, (error: Error | null) => {
        if (error) onSendError(error)
      })
    },
    onMessage(listener) {
      worker.on('message', listener)
      return () => worker.off('message', listener)
    },
  }
}
