/**
 * Runs async tasks one at a time, in submission order (architecture §4: negotiation for one call
 * runs through one queue, so offers, answers and ICE restarts never interleave).
 */
export class AsyncQueue {
  #tail: Promise<unknown> = Promise.resolve()
  #pending = 0
  #closed = false

  /** Number of tasks queued or running. */
  get size(): number {
    return this.#pending
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed
  }

  /** Queues `task`; resolves/rejects with its result. Rejects at once when the queue is closed. */
  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('Queue closed'))
    this.#pending++
    const result = this.#tail.then(() => {
      if (this.#closed) throw new Error('Queue closed')
      return task()
    })
    const settle = () => {
      this.#pending--
    }
    this.#tail = result.then(settle, settle)
    return result
  }

  /** Rejects tasks that have not started yet; a running task finishes on its own. Idempotent. */
  close(): void {
    this.#closed = true
  }
}
