import type { Bus } from './types.js'

/** In-process bus for a single node: handlers run on the next microtask, in publish order. */
export class LocalBus implements Bus {
  readonly #topics = new Map<string, Set<(message: string) => void>>()
  #closed = false

  async publish(topic: string, message: string): Promise<void> {
    if (this.#closed) return
    const handlers = this.#topics.get(topic)
    if (!handlers) return
    for (const handler of [...handlers]) {
      queueMicrotask(() => handler(message))
    }
  }

  async subscribe(topic: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    let handlers = this.#topics.get(topic)
    if (!handlers) {
      handlers = new Set()
      this.#topics.set(topic, handlers)
    }
    const own = (message: string) => handler(message)
    handlers.add(own)
    return async () => {
      const set = this.#topics.get(topic)
      set?.delete(own)
      if (set?.size === 0) this.#topics.delete(topic)
    }
  }

  /** In-process: ready until closed. */
  async ping(): Promise<void> {
    if (this.#closed) throw new Error('the bus is closed')
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#topics.clear()
  }
}
