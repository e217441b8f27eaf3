/**
 * A small typed event emitter: one payload object per event (architecture §3).
 * Listeners are called synchronously in registration order; a listener that throws is
 * reported through `onListenerError` and never stops delivery to the others.
 */
export type Listener<P> = (payload: P) => void

/** Map of event name → payload type. */
export type EventMap = { [event: string]: unknown }

export class Emitter<M extends EventMap> {
  #listeners = new Map<keyof M, Array<Listener<never>>>()
  readonly #onListenerError: (event: string, err: unknown) => void

  constructor(onListenerError?: (event: string, err: unknown) => void) {
    this.#onListenerError = onListenerError ?? (() => undefined)
  }

  /** Adds a listener; returns a function that removes it. Adding the same function twice makes it fire twice. */
  on<K extends keyof M>(event: K, listener: Listener<M[K]>): () => void {
    const list = this.#listeners.get(event) ?? []
    list.push(listener as Listener<never>)
    this.#listeners.set(event, list)
    return () => this.off(event, listener)
  }

  /** Removes one registration of `listener`. */
  off<K extends keyof M>(event: K, listener: Listener<M[K]>): void {
    const list = this.#listeners.get(event)
    if (!list) return
    const i = list.lastIndexOf(listener as Listener<never>)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.#listeners.delete(event)
  }

  /** Calls every listener of `event` with `payload`. */
  emit<K extends keyof M>(event: K, payload: M[K]): void {
    const list = this.#listeners.get(event)
    if (!list) return
    for (const listener of [...list]) {
      try {
        ;(listener as Listener<M[K]>)(payload)
      } catch (err) {
        this.#onListenerError(String(event), err)
      }
    }
  }

  /** Number of listeners for `event` (for tests and leak checks). */
  listenerCount(event: keyof M): number {
    return this.#listeners.get(event)?.length ?? 0
  }

  /** Drops every listener. */
  clear(): void {
    this.#listeners.clear()
  }
}
