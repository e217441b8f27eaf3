/**
 * The public event bus behind `client.on/off/subscribe/unsubscribe`.
 *
 * sdk-api §0.4: API functions never invoke listeners synchronously, and events of one step are
 * delivered in the order they were produced. Every `emit` is therefore queued and the queue is
 * drained on a later task, in FIFO order. `defer` queues an internal callback in the same order
 * (used to clean up after listeners of an event have run, e.g. removing rendered elements).
 */
export type AnyListener = (payload?: unknown) => void
export type GlobalListener = (type: string, args: unknown[]) => void

type Item = { type: string; args: unknown[] } | { fn: () => void }

export class EventBus {
  #listeners = new Map<string, AnyListener[]>()
  #global: GlobalListener[] = []
  #queue: Item[] = []
  #scheduled = false
  #closed = false
  readonly #onListenerError: (event: string, err: unknown) => void

  constructor(onListenerError: (event: string, err: unknown) => void) {
    this.#onListenerError = onListenerError
  }

  on(type: string, listener: AnyListener): void {
    if (typeof listener !== 'function') throw new Error(`Listener for "${type}" must be a function`)
    if (this.#closed) return
    const list = this.#listeners.get(type) ?? []
    list.push(listener)
    this.#listeners.set(type, list)
  }

  off(type: string, listener: AnyListener): void {
    const list = this.#listeners.get(type)
    if (!list) return
    const i = list.lastIndexOf(listener)
    if (i >= 0) list.splice(i, 1)
  }

  subscribe(listener: GlobalListener): void {
    if (typeof listener !== 'function') throw new Error('Listener must be a function')
    if (this.#closed) return
    this.#global.push(listener)
  }

  unsubscribe(listener: GlobalListener): void {
    const i = this.#global.lastIndexOf(listener)
    if (i >= 0) this.#global.splice(i, 1)
  }

  /** Queues an event with one payload object (or none, for `devices:change`). */
  emit(type: string, ...args: unknown[]): void {
    if (this.#closed) return
    this.#queue.push({ type, args })
    this.#schedule()
  }

  /** Queues an internal callback, run after every event queued before it has been delivered. */
  defer(fn: () => void): void {
    if (this.#closed) return
    this.#queue.push({ fn })
    this.#schedule()
  }

  /** Delivers everything queued so far, synchronously (used by tests and before destruction). */
  flush(): void {
    this.#scheduled = false
    while (this.#queue.length > 0 && !this.#closed) {
      const item = this.#queue.shift()!
      if ('fn' in item) {
        try {
          item.fn()
        } catch (err) {
          this.#onListenerError('(deferred)', err)
        }
        continue
      }
      for (const listener of [...(this.#listeners.get(item.type) ?? [])]) {
        try {
          listener(...(item.args as [unknown]))
        } catch (err) {
          this.#onListenerError(item.type, err)
        }
      }
      for (const listener of [...this.#global]) {
        try {
          listener(item.type, item.args)
        } catch (err) {
          this.#onListenerError(item.type, err)
        }
      }
    }
  }

  /** Drops all listeners and queued events; nothing is emitted afterwards. */
  close(): void {
    this.#closed = true
    this.#queue = []
    this.#listeners.clear()
    this.#global = []
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    // A macrotask, not a microtask: "emitted on a later task" (sdk-api §0.4). A MessageChannel task runs
    // right away, where setTimeout(0) is clamped to 4 ms once nested (HTML timers), which adds up on every
    // hop of a call set-up.
    nextTask(() => this.flush())
  }
}

let channel: MessageChannel | undefined
const pending: (() => void)[] = []

/** Runs `fn` on a later task: through a MessageChannel where there is one, else setTimeout(0). */
function nextTask(fn: () => void): void {
  if (typeof MessageChannel === 'undefined') {
    setTimeout(fn, 0)
    return
  }
  if (!channel) {
    channel = new MessageChannel()
    channel.port1.onmessage = () => pending.shift()?.()
    // Under Node (tests, headless use) an open port would keep the process alive.
    ;(channel.port1 as { unref?: () => void }).unref?.()
  }
  pending.push(fn)
  channel.port2.postMessage(null)
}
