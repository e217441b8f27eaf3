type Handler = (message: string) => void

interface Topic {
  handlers: Set<Handler>
  /** Settles once upstream confirmed the subscription that created this entry. */
  ready: Promise<void>
}

/** What a bus does upstream for a topic: subscribe on its first handler, unsubscribe after its last. */
export interface Upstream {
  /** Subscribes the topic upstream; settles once confirmed (a message published after it is received). */
  subscribe(topic: string): Promise<void>
  unsubscribe(topic: string): Promise<void> | void
}

/**
 * The local side of a bus that subscribes each topic once upstream (Redis, the cluster relay) however many
 * handlers this process has for it: the handler sets, the subscribe that waits for upstream's confirmation,
 * the idempotent unsubscribe, and delivery in which one throwing handler cannot stop the others.
 */
export class TopicHandlers {
  readonly #topics = new Map<string, Topic>()
  readonly #upstream: Upstream
  readonly #onError: (error: Error) => void
  #closed = false

  constructor(upstream: Upstream, onError: (error: Error) => void) {
    this.#upstream = upstream
    this.#onError = onError
  }

  /** Bus.subscribe: resolves once upstream confirmed the topic; the returned function unsubscribes, once. */
  async add(topic: string, handler: Handler): Promise<() => Promise<void>> {
    if (this.#closed) throw new Error('the bus is closed')
    // A wrapper per call, so that subscribing the same function twice gives two independent subscriptions.
    const own: Handler = (message) => handler(message)
    let entry = this.#topics.get(topic)
    if (!entry) {
      entry = { handlers: new Set(), ready: this.#upstream.subscribe(topic) }
      this.#topics.set(topic, entry)
    }
    entry.handlers.add(own)
    const subscribed = entry
    try {
      await subscribed.ready
    } catch (error) {
      void this.#remove(topic, subscribed, own)
      throw error
    }
    let unsubscribed = false
    return async () => {
      if (unsubscribed) return
      unsubscribed = true
      await this.#remove(topic, subscribed, own)
    }
  }

  /** Calls the topic's current handlers with `message`, now or (`later`) each on its own microtask. */
  dispatch(topic: string, message: string, later = false): void {
    if (this.#closed) return
    const handlers = this.#topics.get(topic)?.handlers
    if (!handlers) return
    for (const handler of [...handlers]) {
      if (later) queueMicrotask(() => this.#call(handler, message))
      else this.#call(handler, message)
    }
  }

  /** The topics that have handlers. */
  topics(): string[] {
    return [...this.#topics.keys()]
  }

  /** Stops delivery at once, messages already queued included, and forgets every topic. */
  close(): void {
    this.#closed = true
    this.#topics.clear()
  }

  /** Drops one handler; the last one of a topic also unsubscribes it upstream. */
  async #remove(topic: string, entry: Topic, handler: Handler): Promise<void> {
    entry.handlers.delete(handler)
    if (entry.handlers.size > 0 || this.#topics.get(topic) !== entry) return
    this.#topics.delete(topic)
    if (this.#closed) return
    try {
      await this.#upstream.unsubscribe(topic)
    } catch (error) {
      this.#onError(error as Error)
    }
  }

  #call(handler: Handler, message: string): void {
    if (this.#closed) return
    try {
      handler(message)
    } catch (error) {
      // A throwing handler must not break delivery to the others (nor the transport's own parsing).
      this.#onError(error as Error)
    }
  }
}
