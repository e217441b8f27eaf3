import type { BusTransport, RelayBatch, WorkerBatch, WorkerOperation } from './cluster-bus.js'

/** Options of a ClusterBusRelay. */
export interface ClusterBusRelayOptions {
  /** Called when a message to a worker could not be sent (it is dying; its exit detaches it). */
  onError?: (error: Error, worker: number) => void
}

interface Peer {
  id: number
  transport: BusTransport
  topics: Set<string>
  /** Deliveries gathered in this tick, sent as one message. */
  deliver: [string, string][]
  /** The last batch to confirm, sent with the next message. */
  applied: number | undefined
  flushScheduled: boolean
  stopListening: () => void
}

/**
 * The primary's half of the cluster bus (`parley serve --workers N` without `--redis`): knows which workers
 * subscribed to which topic and forwards each publish only to those, except the publisher, whose ClusterBus
 * delivered it to its own subscribers already. One message per worker per tick, so a burst of wake-ups costs
 * the primary a few IPC writes, not one per wake-up. It holds no state of the platform: a replaced worker
 * subscribes again as its clients reconnect.
 */
export class ClusterBusRelay {
  readonly #onError: (error: Error, worker: number) => void
  readonly #peers = new Map<number, Peer>()
  readonly #topics = new Map<string, Set<Peer>>()

  constructor(options: ClusterBusRelayOptions = {}) {
    this.#onError = options.onError ?? (() => undefined)
  }

  /** Starts relaying for worker `id` over `transport` (its cluster IPC channel). */
  attach(id: number, transport: BusTransport): void {
    this.detach(id)
    const peer: Peer = {
      id,
      transport,
      topics: new Set(),
      deliver: [],
      applied: undefined,
      flushScheduled: false,
      stopListening: () => undefined,
    }
    peer.stopListening = transport.onMessage((message) => {
      if (isWorkerBatch(message)) this.#apply(peer, message)
    })
    this.#peers.set(id, peer)
  }

  /** Forgets worker `id` and its subscriptions (it exited, or is being replaced). */
  detach(id: number): void {
    const peer = this.#peers.get(id)
    if (!peer) return
    peer.stopListening()
    this.#leave(peer)
    this.#peers.delete(id)
  }

  /** The workers subscribed to `topic` (diagnostics and tests). */
  subscribers(topic: string): number[] {
    return [...(this.#topics.get(topic) ?? [])].map((peer) => peer.id)
  }

  /** How many topics have a subscriber (diagnostics and tests). */
  get topicCount(): number {
    return this.#topics.size
  }

  #apply(peer: Peer, batch: WorkerBatch): void {
    if (this.#peers.get(peer.id) !== peer) return
    for (const operation of batch.parleyBus.operations) this.#operate(peer, operation)
    if (batch.parleyBus.confirm !== undefined) {
      peer.applied = batch.parleyBus.confirm
      this.#schedule(peer)
    }
  }

  #operate(peer: Peer, operation: WorkerOperation): void {
    if ('publish' in operation) {
      const subscribers = this.#topics.get(operation.publish)
      if (!subscribers) return
      for (const subscriber of subscribers) {
        if (subscriber === peer) continue
        subscriber.deliver.push([operation.publish, operation.message])
        this.#schedule(subscriber)
      }
    } else if ('subscribe' in operation) {
      let subscribers = this.#topics.get(operation.subscribe)
      if (!subscribers) {
        subscribers = new Set()
        this.#topics.set(operation.subscribe, subscribers)
      }
      subscribers.add(peer)
      peer.topics.add(operation.subscribe)
    } else if ('unsubscribe' in operation) {
      this.#drop(peer, operation.unsubscribe)
      peer.topics.delete(operation.unsubscribe)
    } else if ('leave' in operation) {
      this.#leave(peer)
    }
  }

  #leave(peer: Peer): void {
    for (const topic of peer.topics) this.#drop(peer, topic)
    peer.topics.clear()
    peer.deliver = []
  }

  #drop(peer: Peer, topic: string): void {
    const subscribers = this.#topics.get(topic)
    if (!subscribers) return
    subscribers.delete(peer)
    if (subscribers.size === 0) this.#topics.delete(topic)
  }

  #schedule(peer: Peer): void {
    if (peer.flushScheduled) return
    peer.flushScheduled = true
    queueMicrotask(() => this.#flush(peer))
  }

  #flush(peer: Peer): void {
    peer.flushScheduled = false
    if (this.#peers.get(peer.id) !== peer) return
    if (peer.deliver.length === 0 && peer.applied === undefined) return
    const batch: RelayBatch = { parleyBus: { deliver: peer.deliver } }
    if (peer.applied !== undefined) batch.parleyBus.applied = peer.applied
    peer.deliver = []
    peer.applied = undefined
    try {
      peer.transport.send(batch)
    } catch (error) {
      this.#onError(error as Error, peer.id)
    }
  }
}

/** A batch from a worker's ClusterBus (anything else on the channel is someone else's). */
function isWorkerBatch(message: unknown): message is WorkerBatch {
  if (typeof message !== 'object' || message === null || !('parleyBus' in message)) return false
  const body = (message as { parleyBus: unknown }).parleyBus
  if (typeof body !== 'object' || body === null) return false
  const { operations, confirm } = body as { operations?: unknown; confirm?: unknown }
  return (
    Array.isArray(operations) &&
    operations.every(isOperation) &&
    (confirm === undefined || typeof confirm === 'number')
  )
}

function isOperation(operation: unknown): operation is WorkerOperation {
  if (typeof operation !== 'object' || operation === null) return false
  const o = operation as Record<string, unknown>
  if (typeof o.publish === 'string') return typeof o.message === 'string'
  return typeof o.subscribe === 'string' || typeof o.unsubscribe === 'string' || o.leave === true
}
