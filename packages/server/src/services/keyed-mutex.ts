/**
 * Serialises async work per key (one call's operations run one at a time on this node). Across nodes the
 * store's optimistic versions keep state consistent; this only avoids needless conflicts and retries.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>()

  /** Runs `fn` after every earlier `run` with the same key has settled. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const done = new Promise<void>((resolve) => (release = resolve))
    const tail = previous.then(() => done)
    this.#tails.set(key, tail)
    await previous
    try {
      return await fn()
    } finally {
      release()
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }

  /** Keys with work queued or running (for tests and diagnostics). */
  get size(): number {
    return this.#tails.size
  }
}
