/**
 * Renders tracks into containers (sdk-api §6.5–6.6): one `<video>` or `<audio>` element per track
 * and container, autoplaying and inline; local elements are muted so the user never hears their own
 * microphone. The SDK removes what it rendered when a track's call ends.
 */
import { basicError, type BasicError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { TrackRegistry } from './track-registry.js'

export const TRACK_ATTRIBUTE = 'data-parley-track-id'

export class Renderer {
  readonly #doc: () => Document | undefined
  readonly #tracks: TrackRegistry
  readonly #log: Logger
  /** `${trackId}\n${selector}` → element. */
  readonly #elements = new Map<string, HTMLMediaElement>()

  constructor(doc: () => Document | undefined, tracks: TrackRegistry, log: Logger) {
    this.#doc = doc
    this.#tracks = tracks
    this.#log = log
  }

  /** Renders the known tracks; returns an error naming what could not be rendered. */
  render(trackIds: string[], selector: string, options: { speakerId?: string } = {}): BasicError | undefined {
    const doc = this.#doc()
    let container: Element | null = null
    try {
      container = doc?.querySelector(selector) ?? null
    } catch {
      container = null
    }
    if (!container) return basicError('media:1', `No element matches the selector "${selector}"`)
    const unknown: string[] = []
    for (const id of trackIds) {
      const entry = this.#tracks.get(id)
      if (!entry) {
        unknown.push(id)
        continue
      }
      const key = `${id}\n${selector}`
      if (this.#elements.has(key)) continue
      const kind = entry.track.kind === 'video' ? 'video' : 'audio'
      const el = doc!.createElement(kind)
      el.setAttribute(TRACK_ATTRIBUTE, id)
      el.autoplay = true
      el.setAttribute('autoplay', '')
      if (kind === 'video') {
        el.setAttribute('playsinline', '')
        ;(el as HTMLVideoElement).playsInline = true
      }
      if (entry.isLocal) {
        el.muted = true
        el.setAttribute('muted', '')
      }
      if (typeof MediaStream === 'function') el.srcObject = new MediaStream([entry.track])
      if (options.speakerId && typeof (el as { setSinkId?: unknown }).setSinkId === 'function') {
        ;(el as unknown as { setSinkId(id: string): Promise<void> })
          .setSinkId(options.speakerId)
          .catch((err: unknown) => this.#log.warn('setSinkId failed', err))
      }
      container.appendChild(el)
      const played = (el as { play?: () => Promise<void> | undefined }).play?.call(el)
      if (played && typeof played.catch === 'function') played.catch(() => undefined)
      this.#elements.set(key, el)
      if (!entry.containers.includes(selector)) entry.containers.push(selector)
    }
    return unknown.length > 0
      ? basicError('media:1', `Unknown track id(s): ${unknown.join(', ')}`)
      : undefined
  }

  /** Removes the elements rendering these tracks in this container; others are ignored silently. */
  remove(trackIds: string[], selector: string): void {
    for (const id of trackIds) {
      const key = `${id}\n${selector}`
      const el = this.#elements.get(key)
      if (!el) continue
      this.#detach(el)
      this.#elements.delete(key)
      const entry = this.#tracks.get(id)
      if (entry) entry.containers = entry.containers.filter((s) => s !== selector)
    }
  }

  /** Removes every element rendering `trackId`. */
  removeTrack(trackId: string): void {
    for (const [key, el] of [...this.#elements]) {
      if (!key.startsWith(`${trackId}\n`)) continue
      this.#detach(el)
      this.#elements.delete(key)
    }
    const entry = this.#tracks.get(trackId)
    if (entry) entry.containers = []
  }

  /** Removes everything rendered. */
  clear(): void {
    for (const el of this.#elements.values()) this.#detach(el)
    this.#elements.clear()
  }

  /** Number of rendered elements (for leak checks). */
  get size(): number {
    return this.#elements.size
  }

  #detach(el: HTMLMediaElement): void {
    try {
      el.pause?.()
    } catch {
      // not implemented (tests) or already paused
    }
    el.srcObject = null
    el.remove()
  }
}
