/**
 * Remembers the last `capacity` notification ids to drop duplicates (sdk-api §1.5, protocol.md §9.0).
 * A capacity of 0 disables duplicate detection.
 */
export class IdCache {
  #ids: string[] = []
  #set = new Set<string>()
  #capacity: () => number

  constructor(capacity: () => number) {
    this.#capacity = capacity
  }

  /** Records `id`; returns false when it was already among the remembered ids. */
  add(id: string): boolean {
    const cap = this.#capacity()
    if (cap <= 0) return true
    if (this.#set.has(id)) return false
    this.#ids.push(id)
    this.#set.add(id)
    while (this.#ids.length > cap) this.#set.delete(this.#ids.shift()!)
    return true
  }

  clear(): void {
    this.#ids = []
    this.#set.clear()
  }
}
