import type { Config } from '../config.js'
import type { TlsPem } from '../main.js'

/**
 * Control messages between the cluster primary and its workers, on the cluster IPC channel next to the bus
 * relay's `parleyBus` messages. Wrapped in `parleyWorker` so that neither can be taken for the other.
 */
export type ControlMessage =
  /** Worker → primary: listening for control messages; send `start`. */
  | { parleyWorker: { type: 'ready' } }
  /**
   * Primary → worker: run the server with this configuration (the primary's own, minus its one-time duties)
   * and these PEMs, so that every worker serves the same certificate.
   */
  | { parleyWorker: { type: 'start'; config: Config; https?: TlsPem } }
  /** Worker → primary: the server is listening. */
  | { parleyWorker: { type: 'listening'; url: string; port: number } }
  /** Worker → primary: the server could not start (the worker exits next). */
  | { parleyWorker: { type: 'failed'; error: string } }
  /** Primary → worker: finish in-flight requests, close sockets with 1001, exit. */
  | { parleyWorker: { type: 'shutdown' } }

/** The control message in `message`, or undefined for anything else on the channel. */
export function controlMessage(message: unknown): ControlMessage['parleyWorker'] | undefined {
  if (typeof message !== 'object' || message === null || !('parleyWorker' in message)) return undefined
  const body = (message as { parleyWorker: unknown }).parleyWorker
  if (typeof body !== 'object' || body === null || typeof (body as { type?: unknown }).type !== 'string')
    return undefined
  return body as ControlMessage['parleyWorker']
}
