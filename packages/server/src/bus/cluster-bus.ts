import { TopicHandlers } from './topic-handlers.js'
import type { Bus } from './types.js'

/**
 * One end of the message channel between a worker process and the cluster primary: the cluster IPC channel
 * in production (cluster-ipc.ts), an in-memory pair in tests. Messages are plain JSON-able objects.
 */
export interface BusTransport {
  /** Sends one message, in order with the earlier ones; throws when the channel is closed. */
  send(message: unknown): void
  /** Calls `listener` with every message that arrives (of any kind); the returned function stops it. */
  onMessage(listener: (message: unknown) => void): () => void
}

/** What a worker asks of the relay; the relay applies a batch's operations in order. */
export type WorkerOperation =
  | { subscribe: string }
  | { unsubscribe: string }
  | { publish: string; message: string }
  /** The worker's bus closed: drop all its subscriptions. */
  | { leave: true }

/**
 * Worker → primary: the operations of one tick. `confirm` numbers a batch holding subscriptions; the relay
 * answers with `applied` once it registered them. Wrapped in `parleyBus` so that it cannot be mistaken for
 * any other message on the cluster IPC channel.
 */
export interface WorkerBatch {
  parleyBus: { operations: WorkerOperation[]; confirm?: number }
}

/** Primary → worker: messages for the worker's topics (`[topic, message]`, in publish order), confirmations. */
export interface RelayBatch {
  parleyBus: { deliver: [topic: string, message: string][]; applied?: number }
}

/** Options of a ClusterBus. */
export interface ClusterBusOptions {
  /** Called with errors thrown by handlers and with messages that could not be sent; defaults to ignoring them. */
  onError?: (error: Error) => void
}

interface Confirmation {
  promise: Promise<void>
  resolve: () => void
  reject: (error: Error) => void
}

/**
 * The Bus adapter of a worker process (`parley serve --workers N` without `--redis`): the primary's relay
 * (cluster-relay.ts) forwards each publish to the workers subscribed to its topic, so a wake-up queued by one
 * worker reaches the worker holding the channel's socket. A publish reaches this worker's own subscribers
 * directly (on a microtask, as with LocalBus) and the relay skips the publisher.
 *
 * Operations of one tick go to the primary as one message, in order: a worker attaching thousands of channel
 * sockets at once (clients reconnecting after a restart) sends a few large messages, not thousands of small
 * ones. Like every bus, delivery is at-most-once; the IPC channel does not lose messages while both
 * processes live, and a worker whose primary is gone shuts down (cluster/worker.ts).
 */
export class ClusterBus implements Bus {
  readonly #transport: BusTransport
  readonly #onError: (error: Error) => void
  readonly #handlers = new TopicHandlers(
    {
      subscribe: (topic) => {
        this.#queue({ subscribe: topic })
        this.#nextConfirmation ??= confirmation()
        return this.#nextConfirmation.promise
      },
      unsubscribe: (topic) => this.#queue({ unsubscribe: topic }),
    },
    (error) => this.#onError(error),
  )
  readonly #stopListening: () => void
  #pending: WorkerOperation[] = []
  #flushScheduled = false
  /** Confirmation of the batch being gathered, when it holds a subscription. */
  #nextConfirmation: Confirmation | undefined
  /** Batches sent and not confirmed yet, by number; the relay confirms them in order. */
  readonly #unconfirmed = new Map<number, Confirmation>()
  #batchNumber = 0
  #closed = false

  constructor(transport: BusTransport, options: ClusterBusOptions = {}) {
    this.#transport = transport
    this.#onError = options.onError ?? (() => undefined)
    this.#stopListening = transport.onMessage((message) => this.#receive(message))
  }

  async publish(topic: string, message: string): Promise<void> {
    if (this.#closed) return
    this.#handlers.dispatch(topic, message, true)
    this.#queue({ publish: topic, message })
  }

  /** Resolves once the relay registered the subscription, so a publish afterwards from any worker arrives. */
  async subscribe(topic: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    return this.#handlers.add(topic, handler)
  }

  /**
   * Sends an empty batch that the relay must confirm: resolves once the primary answered, so a worker whose
   * relay is gone (or stuck) is not ready.
   */
  async ping(): Promise<void> {
    if (this.#closed) throw new Error('the bus is closed')
    const waiting = confirmation()
    const number = ++this.#batchNumber
    this.#unconfirmed.set(number, waiting)
    try {
      this.#transport.send({ parleyBus: { operations: [], confirm: number } } satisfies WorkerBatch)
    } catch (error) {
      this.#unconfirmed.delete(number)
      throw new Error(`the cluster bus cannot reach the primary: ${(error as Error).message}`)
    }
    await waiting.promise
  }

  /** Stops delivery at once and tells the relay to forget this worker's topics; later calls do nothing. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#handlers.close()
    this.#pending = []
    this.#stopListening()
    const closed = new Error('the bus is closed')
    this.#nextConfirmation?.reject(closed)
    for (const waiting of this.#unconfirmed.values()) waiting.reject(closed)
    this.#unconfirmed.clear()
    try {
      this.#transport.send({ parleyBus: { operations: [{ leave: true }] } } satisfies WorkerBatch)
    } catch {
      // The channel is gone, and with it the primary's record of this worker.
    }
  }

  #queue(operation: WorkerOperation): void {
    this.#pending.push(operation)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    queueMicrotask(() => this.#flush())
  }

  #flush(): void {
    this.#flushScheduled = false
    if (this.#closed || this.#pending.length === 0) return
    const operations = this.#pending
    this.#pending = []
    const waiting = this.#nextConfirmation
    this.#nextConfirmation = undefined
    const batch: WorkerBatch = { parleyBus: { operations } }
    if (waiting) {
      batch.parleyBus.confirm = ++this.#batchNumber
      this.#unconfirmed.set(this.#batchNumber, waiting)
    }
    try {
      this.#transport.send(batch)
    } catch (error) {
      const failure = new Error(`the cluster bus cannot reach the primary: ${(error as Error).message}`)
      if (waiting) {
        this.#unconfirmed.delete(this.#batchNumber)
        waiting.reject(failure)
      }
      this.#onError(failure)
    }
  }

  #receive(raw: unknown): void {
    if (this.#closed || !isRelayBatch(raw)) return
    const { deliver, applied } = raw.parleyBus
    for (const [topic, message] of deliver) this.#handlers.dispatch(topic, message)
    if (applied !== undefined) {
      // Batches are applied in the order they were sent, so this one confirms every earlier batch too.
      for (const [number, waiting] of this.#unconfirmed) {
        if (number > applied) break
        this.#unconfirmed.delete(number)
        waiting.resolve()
      }
    }
  }
}

function confirmation(): Confirmation {
  let resolve!: () => void
  let reject!: (error: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // A subscriber may have gone before the outcome; an unobserved rejection must not crash the worker.
  promise.catch(() => undefined)
  return { promise, resolve, reject }
}

/** A message of the relay for this worker (anything else on the channel is someone else's). */
function isRelayBatch(message: unknown): message is RelayBatch {
  if (typeof message !== 'object' || message === null || !('parleyBus' in message)) return false
  const body = (message as { parleyBus: unknown }).parleyBus
  return typeof body === 'object' && body !== null && Array.isArray((body as { deliver?: unknown }).deliver)
}
