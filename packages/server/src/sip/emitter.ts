import type { SipEmitter } from './types.js'

/** A typed event emitter whose listener errors are reported, never thrown into the SIP stack. */
export class Emitter<E> implements SipEmitter<E> {
  readonly #listeners = new Map<keyof E, Set<(payload: never) => void>>()

  constructor(readonly onListenerError: (err: unknown) => void = () => undefined) {}

  on<K extends keyof E>(event: K, listener: (payload: E[K]) => void): this {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(listener as (payload: never) => void)
    return this
  }

  off<K extends keyof E>(event: K, listener: (payload: E[K]) => void): this {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void)
    return this
  }

  once<K extends keyof E>(event: K, listener: (payload: E[K]) => void): this {
    const wrapped = (payload: E[K]) => {
      this.off(event, wrapped)
      listener(payload)
    }
    return this.on(event, wrapped)
  }

  listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.size ?? 0
  }

  /** Calls the listeners of `event`; returns whether there was any. */
  protected emit<K extends keyof E>(event: K, payload: E[K]): boolean {
    const set = this.#listeners.get(event)
    if (!set || set.size === 0) return false
    for (const listener of [...set]) {
      try {
        ;(listener as (payload: E[K]) => void)(payload)
      } catch (err) {
        this.onListenerError(err)
      }
    }
    return true
  }
}
