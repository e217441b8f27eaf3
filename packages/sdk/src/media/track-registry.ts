/**
 * Every track the SDK has seen, local and remote (sdk-api §5.1.12–5.1.13). Tracks stay retrievable
 * after removal and after their call ended. The registry reports the browser's `mute`, `unmute`
 * and `ended` events; whether they become public events is decided by the call layer.
 */
import { Emitter } from '../core/emitter.js'

/** Public snapshot of a track (sdk-api §5.1.13). */
export interface TrackObject {
  trackId: string
  id: string
  kind: 'audio' | 'video'
  label: string
  isLocal: boolean
  muted: boolean
  sourceMuted: boolean
  state: 'live' | 'ended'
  disabled: boolean
  streamId: string
  containers: string[]
}

/** Public snapshot of a stream (sdk-api §5.1.12). */
export interface MediaObject {
  id: string
  local: boolean
  tracks: TrackObject[]
}

export interface TrackEntry {
  readonly track: MediaStreamTrack
  readonly isLocal: boolean
  readonly streamId: string
  readonly callId: string | undefined
  muted: boolean
  sourceMuted: boolean
  /** A `media:sourceMuted` was emitted and its `media:sourceUnmuted` is still due. */
  announcedMute: boolean
  /** Stopped by the SDK (call end); `ended` events after this are expected. */
  stoppedBySdk: boolean
  containers: string[]
  release: () => void
}

export interface TrackRegistryEvents {
  [event: string]: unknown
  mute: TrackEntry
  unmute: TrackEntry
  ended: TrackEntry
}

export class TrackRegistry {
  readonly events = new Emitter<TrackRegistryEvents>()
  readonly #tracks = new Map<string, TrackEntry>()

  /** Registers a track (idempotent) and starts listening to its events. */
  add(track: MediaStreamTrack, info: { isLocal: boolean; streamId: string; callId?: string }): TrackEntry {
    const existing = this.#tracks.get(track.id)
    if (existing) return existing
    const onMute = () => this.events.emit('mute', entry)
    const onUnmute = () => this.events.emit('unmute', entry)
    const onEnded = () => this.events.emit('ended', entry)
    track.addEventListener('mute', onMute)
    track.addEventListener('unmute', onUnmute)
    track.addEventListener('ended', onEnded)
    const entry: TrackEntry = {
      track,
      isLocal: info.isLocal,
      streamId: info.streamId,
      callId: info.callId,
      muted: false,
      sourceMuted: false,
      announcedMute: false,
      stoppedBySdk: false,
      containers: [],
      release: () => {
        track.removeEventListener('mute', onMute)
        track.removeEventListener('unmute', onUnmute)
        track.removeEventListener('ended', onEnded)
      },
    }
    this.#tracks.set(track.id, entry)
    return entry
  }

  get(trackId: string): TrackEntry | undefined {
    return this.#tracks.get(trackId)
  }

  /** All entries (for cleanup). */
  all(): TrackEntry[] {
    return [...this.#tracks.values()]
  }

  /** Stops a local track on purpose and stops listening to it. Idempotent. */
  stop(trackId: string): void {
    const entry = this.#tracks.get(trackId)
    if (!entry) return
    entry.stoppedBySdk = true
    entry.release()
    if (entry.isLocal) entry.track.stop()
  }

  snapshot(trackId: string): TrackObject | undefined {
    const e = this.#tracks.get(trackId)
    if (!e) return undefined
    const ended = e.track.readyState === 'ended'
    return {
      trackId: e.track.id,
      id: e.track.id,
      kind: e.track.kind === 'video' ? 'video' : 'audio',
      label: e.track.label,
      isLocal: e.isLocal,
      muted: e.muted,
      sourceMuted: e.sourceMuted,
      state: ended ? 'ended' : 'live',
      disabled: ended,
      streamId: e.streamId,
      containers: [...e.containers],
    }
  }

  mediaSnapshot(streamId: string): MediaObject | undefined {
    const entries = [...this.#tracks.values()].filter((e) => e.streamId === streamId)
    if (entries.length === 0) return undefined
    return {
      id: streamId,
      local: entries[0]!.isLocal,
      tracks: entries.map((e) => this.snapshot(e.track.id)!),
    }
  }

  /** Stops listening to every track and stops local ones. */
  clear(): void {
    for (const e of this.#tracks.values()) {
      e.release()
      if (e.isLocal && !e.stoppedBySdk) e.track.stop()
    }
    this.#tracks.clear()
    this.events.clear()
  }
}
