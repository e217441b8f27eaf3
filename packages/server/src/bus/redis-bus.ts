import { Redis } from 'ioredis'
import { TopicHandlers } from './topic-handlers.js'
import { BUS_RESYNC, type Bus } from './types.js'

/** Options of a RedisBus. */
export interface RedisBusOptions {
  /**
   * Called with connection errors (ioredis reconnects by itself), publishes lost while Redis is away, and
   * errors thrown by handlers; defaults to ignoring them.
   */
  onError?: (error: Error) => void
  /** Prefix of the connections' names in Redis `CLIENT LIST` (`<name>-pub`, `<name>-sub`); default `parley`. */
  clientName?: string
}

/** At most this many topics go into one SUBSCRIBE or UNSUBSCRIBE command. */
const MAX_TOPICS_PER_COMMAND = 1_000

interface PendingCommand {
  kind: 'subscribe' | 'unsubscribe'
  topic: string
  resolve: () => void
  reject: (error: unknown) => void
}

/**
 * The multi-node Bus adapter (architecture §2) over Redis pub/sub: a message published on any node reaches
 * the subscribers of its topic on every node. Like the bus contract says, delivery is at-most-once — a
 * message published while Redis is unreachable is lost — because the durable truth is in the Store and the
 * bus only says "look now".
 *
 * One publisher and one subscriber connection per node, however many topics: a node holding 50,000
 * channel sockets holds 50,000 Redis channel subscriptions on one connection, with the fan-out to local
 * handlers done here from one map. SUBSCRIBE and UNSUBSCRIBE requests made in the same tick are sent as one
 * command each (in order, so a subscribe after an unsubscribe of the same topic is never overtaken).
 * ioredis reconnects by itself and then re-subscribes every topic this connection holds; messages
 * published meanwhile are gone, so once the re-subscription is confirmed every handler gets BUS_RESYNC.
 */
export class RedisBus implements Bus {
  readonly #publisher: Redis
  readonly #subscriber: Redis
  readonly #onError: (error: Error) => void
  readonly #handlers = new TopicHandlers(
    {
      subscribe: (topic) => this.#send('subscribe', topic),
      unsubscribe: (topic) => this.#send('unsubscribe', topic),
    },
    (error) => this.#onError(error),
  )
  #pending: PendingCommand[] = []
  #flushScheduled = false
  #closed = false
  #closing: Promise<void> | undefined
  /** How many times the subscriber connection became ready; every time after the first is a reconnect. */
  #subscriberReadies = 0

  /** Connects to Redis at `url` (`redis://[:password@]host:port[/db]` or `rediss://…`); rejects when unreachable. */
  static async open(url: string, options: RedisBusOptions = {}): Promise<RedisBus> {
    const bus = new RedisBus(url, options)
    try {
      await bus.#connect()
    } catch (error) {
      await bus.close()
      // The URL is not echoed: it may carry a password.
      throw new Error(`--redis: cannot connect to Redis: ${(error as Error).message}`)
    }
    return bus
  }

  private constructor(url: string, options: RedisBusOptions) {
    this.#onError = options.onError ?? (() => undefined)
    const name = options.clientName ?? 'parley'
    this.#publisher = new Redis(url, {
      lazyConnect: true,
      // A wake-up that cannot be sent now is worth nothing later (subscribers resync after the reconnect),
      // so publishes fail fast instead of queueing while Redis is away.
      enableOfflineQueue: false,
      // Publishes made in one event-loop turn (the wakes of every request answered in it) go out in one
      // write, not one socket write each (issue 13); each still resolves when Redis answered it.
      enableAutoPipelining: true,
      connectionName: `${name}-pub`,
    })
    // Subscriptions made during an outage are queued and sent on reconnect, with the ones ioredis
    // re-subscribes by itself.
    this.#subscriber = new Redis(url, { lazyConnect: true, connectionName: `${name}-sub` })
    for (const client of [this.#publisher, this.#subscriber]) {
      // Without a listener an 'error' event would crash the process; ioredis retries on its own.
      client.on('error', (error: Error) => this.#onError(error))
    }
    this.#subscriber.on('message', (topic: string, message: string) =>
      this.#handlers.dispatch(topic, message),
    )
    this.#subscriber.on('ready', () => {
      this.#subscriberReadies += 1
      if (this.#subscriberReadies > 1) void this.#resync()
    })
  }

  /**
   * After a reconnect: ioredis sent SUBSCRIBE for every held topic before announcing 'ready', so the answer
   * to a PING behind it means they are all in place; then every handler is told to look at the Store.
   */
  async #resync(): Promise<void> {
    try {
      await this.#subscriber.ping()
    } catch (error) {
      this.#onError(error as Error)
      return
    }
    for (const topic of this.#handlers.topics()) this.#handlers.dispatch(topic, BUS_RESYNC)
  }

  async #connect(): Promise<void> {
    await Promise.all([this.#publisher.connect(), this.#subscriber.connect()])
  }

  /** Resolves once Redis accepted the message; a message that cannot be sent is reported and dropped. */
  async publish(topic: string, message: string): Promise<void> {
    if (this.#closed) return
    try {
      await this.#publisher.publish(topic, message)
    } catch (error) {
      this.#onError(error as Error)
    }
  }

  /** Resolves once Redis confirmed the subscription, so a message published afterwards is received. */
  async subscribe(topic: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    return this.#handlers.add(topic, handler)
  }

  /**
   * PING on the publishing connection (which fails fast while Redis is away, see the constructor); the
   * subscribing connection must be ready too, or wake-ups for this node's sockets would be lost.
   */
  async ping(): Promise<void> {
    if (this.#closed) throw new Error('the bus is closed')
    if (this.#subscriber.status !== 'ready')
      throw new Error(`redis subscriber connection is ${this.#subscriber.status}`)
    await this.#publisher.ping()
  }

  /** Stops delivery at once and quits both connections; later calls wait for the first. */
  async close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true
      this.#handlers.close()
      for (const command of this.#pending.splice(0)) command.reject(new Error('the bus is closed'))
      await Promise.all(
        [this.#publisher, this.#subscriber].map(async (client) => {
          if (client.status === 'ready') {
            // QUIT lets Redis drop the subscriptions cleanly; a failure just means the link is already gone.
            await client.quit().catch(() => client.disconnect())
          } else {
            client.disconnect()
          }
        }),
      )
    })()
    return this.#closing
  }

  /** Queues a SUBSCRIBE or UNSUBSCRIBE of one topic; requests of the same tick are sent together. */
  #send(kind: PendingCommand['kind'], topic: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ kind, topic, resolve, reject })
      if (!this.#flushScheduled) {
        this.#flushScheduled = true
        queueMicrotask(() => this.#flush())
      }
    })
  }

  #flush(): void {
    this.#flushScheduled = false
    const pending = this.#pending.splice(0)
    let index = 0
    while (index < pending.length) {
      // A run of requests of one kind, in order, becomes one command; the commands keep the runs' order
      // because they go out on one connection.
      const kind = pending[index]!.kind
      const run: PendingCommand[] = []
      while (index < pending.length && pending[index]!.kind === kind && run.length < MAX_TOPICS_PER_COMMAND) {
        run.push(pending[index]!)
        index += 1
      }
      const topics = run.map((command) => command.topic)
      const sent =
        kind === 'subscribe' ? this.#subscriber.subscribe(...topics) : this.#subscriber.unsubscribe(...topics)
      sent.then(
        () => run.forEach((command) => command.resolve()),
        (error: unknown) => run.forEach((command) => command.reject(error)),
      )
    }
  }
}
