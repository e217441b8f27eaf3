/**
 * MediaEngine on the browser's getUserMedia and RTCPeerConnection (unified plan).
 *
 * Notes for Chromium:
 * - `addTrack(track, stream)` gives every m-section an `a=msid:<stream> <track>` line, which the
 *   remote side needs to group tracks into streams (protocol.md §10.1).
 * - When answering, `addTrack` reuses the transceiver the remote offer created for that kind.
 * - H264 is left out of offers with `setCodecPreferences` (sdk-api §1.2 `removeH264Codecs`), so the
 *   local description needs no munging; the SDP pipeline strips what remains from remote SDP.
 * - Gathering completion is seen through `icegatheringstatechange` and the null `icecandidate`.
 */
import { Emitter } from '../core/emitter.js'
import type { IceCheckReason } from '../core/types.js'
import type {
  GatherOptions,
  MediaEngine,
  PeerEvents,
  PeerOptions,
  PeerSession,
  RemoteTrackInfo,
} from './engine.js'
import { gatherWithCheck } from './gather.js'

class RtcPeerSession implements PeerSession {
  readonly events = new Emitter<PeerEvents>()
  readonly #pc: RTCPeerConnection
  readonly #excludeCodecs: string[]
  readonly #streamIds = new Map<string, string>()
  /** Transceivers whose track `detachTrack` took off, for `reattachTrack`. */
  readonly #detached = new Map<MediaStreamTrack, RTCRtpTransceiver>()
  #candidates: RTCIceCandidate[] = []
  #triggers = new Set<(reason: IceCheckReason) => void>()
  #closed = false

  constructor(config: RTCConfiguration, options: PeerOptions) {
    // `sdpSemantics` is not part of RTCConfiguration any more; unified plan is the only mode.
    const { sdpSemantics: _ignored, ...rest } = config as RTCConfiguration & { sdpSemantics?: string }
    this.#pc = new RTCPeerConnection(rest)
    this.#excludeCodecs = options.excludeCodecs.map((c) => c.toLowerCase())
    const pc = this.#pc
    pc.addEventListener('track', (ev: RTCTrackEvent) => {
      const streamId = ev.streams[0]?.id
      if (streamId) this.#streamIds.set(ev.track.id, streamId)
      this.events.emit('remoteTrack', { track: ev.track, streamId, mid: ev.transceiver?.mid ?? null })
    })
    pc.addEventListener('iceconnectionstatechange', () => {
      this.events.emit('iceConnectionState', { state: pc.iceConnectionState })
    })
    pc.addEventListener('icecandidate', (ev: RTCPeerConnectionIceEvent) => {
      if (ev.candidate && ev.candidate.candidate) this.#candidates.push(ev.candidate)
      this.#trigger(ev.candidate && ev.candidate.candidate ? 'NewCandidate' : 'IceGatheringStateChanged')
    })
    pc.addEventListener('icegatheringstatechange', () => this.#trigger('IceGatheringStateChanged'))
  }

  get iceConnectionState(): RTCIceConnectionState {
    return this.#pc.iceConnectionState
  }

  get signalingState(): RTCSignalingState {
    return this.#pc.signalingState
  }

  addTrack(track: MediaStreamTrack, stream: MediaStream): void {
    if (this.#pc.getSenders().some((s) => s.track === track)) return
    this.#pc.addTrack(track, stream)
  }

  async detachTrack(track: MediaStreamTrack): Promise<void> {
    const t = this.#pc.getTransceivers().find((x) => x.sender.track === track)
    if (!t) return
    this.#detached.set(track, t)
    await t.sender.replaceTrack(null)
    if (t.mid === null) {
      // Never negotiated (an addMedia whose offer was rolled back): drop it from later offers (RFC 8829 §4.2.1).
      t.stop()
    } else if (t.direction !== 'inactive') {
      t.direction = t.direction === 'sendonly' ? 'inactive' : 'recvonly'
    }
  }

  async reattachTrack(track: MediaStreamTrack): Promise<void> {
    const t = this.#detached.get(track)
    this.#detached.delete(track)
    if (!t || (t as { stopped?: boolean }).stopped || t.currentDirection === 'stopped') return
    await t.sender.replaceTrack(track)
  }

  addReceiver(kind: 'audio' | 'video'): void {
    this.#pc.addTransceiver(kind, { direction: 'recvonly' })
  }

  async replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): Promise<void> {
    const sender = this.#pc.getSenders().find((s) => s.track === oldTrack)
    if (!sender) throw new Error('Track is not being sent')
    await sender.replaceTrack(newTrack)
  }

  receivingTracks(): RemoteTrackInfo[] {
    return this.#pc
      .getTransceivers()
      .filter((t) => t.currentDirection === 'sendrecv' || t.currentDirection === 'recvonly')
      .map((t) => ({
        track: t.receiver.track,
        streamId: this.#streamIds.get(t.receiver.track.id),
        mid: t.mid,
      }))
  }

  setHold(hold: boolean): void {
    for (const t of this.#pc.getTransceivers()) {
      if (t.currentDirection === 'stopped' || (t as { stopped?: boolean }).stopped) continue
      t.direction = hold ? 'inactive' : t.sender.track ? 'sendrecv' : 'recvonly'
    }
  }

  async createOffer(options: { iceRestart?: boolean } = {}): Promise<string> {
    this.#applyCodecPreferences()
    const offer = await this.#pc.createOffer({ iceRestart: options.iceRestart === true })
    return offer.sdp ?? ''
  }

  async createAnswer(): Promise<string> {
    const answer = await this.#pc.createAnswer()
    return answer.sdp ?? ''
  }

  async setLocalDescription(type: 'offer' | 'answer', sdp: string): Promise<void> {
    this.#candidates = []
    await this.#pc.setLocalDescription({ type, sdp })
  }

  async createAndSetLocal(type: 'offer' | 'answer'): Promise<string> {
    if (type === 'offer') this.#applyCodecPreferences()
    this.#candidates = []
    await this.#pc.setLocalDescription()
    return this.#pc.localDescription?.sdp ?? ''
  }

  async setRemoteDescription(type: 'offer' | 'answer' | 'pranswer', sdp: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type, sdp })
  }

  async rollback(): Promise<void> {
    if (this.#pc.signalingState === 'have-local-offer')
      await this.#pc.setLocalDescription({ type: 'rollback' })
  }

  gatherIce(options: GatherOptions): Promise<string> {
    const pc = this.#pc
    return gatherWithCheck(
      {
        iceGatheringState: () => pc.iceGatheringState,
        localSdp: () => pc.localDescription?.sdp ?? '',
        config: () => pc.getConfiguration(),
        candidates: () => this.#candidates,
        onTrigger: (cb) => {
          this.#triggers.add(cb)
          return () => this.#triggers.delete(cb)
        },
        closed: () => this.#closed,
      },
      options,
    )
  }

  insertDTMF(tones: string, duration: number, gap: number): boolean {
    const sender = this.#pc.getSenders().find((s) => s.track?.kind === 'audio' && s.dtmf)
    const dtmf = sender?.dtmf
    if (!dtmf || dtmf.canInsertDTMF === false) return false
    dtmf.insertDTMF(tones, duration, gap)
    return true
  }

  getStats(track?: MediaStreamTrack): Promise<RTCStatsReport> {
    return this.#pc.getStats(track ?? null)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#trigger('IceGatheringStateChanged')
    this.#triggers.clear()
    this.events.clear()
    this.#pc.close()
  }

  #trigger(reason: IceCheckReason): void {
    for (const cb of [...this.#triggers]) cb(reason)
  }

  /** Leaves excluded codecs (and their RTX) out of the next offer. */
  #applyCodecPreferences(): void {
    if (this.#excludeCodecs.length === 0) return
    const caps = typeof RTCRtpReceiver !== 'undefined' ? RTCRtpReceiver.getCapabilities?.('video') : null
    if (!caps) return
    const codecs = caps.codecs.filter(
      (c) => !this.#excludeCodecs.includes(c.mimeType.split('/')[1]?.toLowerCase() ?? ''),
    )
    for (const t of this.#pc.getTransceivers()) {
      const kind = t.receiver.track?.kind
      if (kind !== 'video' || typeof t.setCodecPreferences !== 'function') continue
      try {
        t.setCodecPreferences(codecs)
      } catch {
        // Older browsers: the SDP pipeline strips the codecs instead.
      }
    }
  }
}

/** The browser MediaEngine. */
export function createRtcEngine(): MediaEngine {
  const devices = (): MediaDevices | undefined =>
    typeof navigator === 'undefined' ? undefined : (navigator.mediaDevices as MediaDevices | undefined)
  const required = (): MediaDevices => {
    const md = devices()
    if (!md) {
      const err = new Error('Media devices are not available (an insecure context, or not a browser)')
      err.name = 'NotSupportedError'
      throw err
    }
    return md
  }
  // A PermissionStatus is live (its `state` follows the user's changes), so each name is queried once: the
  // query is a round trip to the browser process that took ~6 ms on the incoming call's critical path.
  const statuses = new Map<string, Promise<PermissionStatus>>()
  /** The statuses whose query has answered: read synchronously from then on. */
  const known = new Map<string, PermissionStatus>()
  const permissionStatus = (permissions: Permissions, name: string): Promise<PermissionStatus> => {
    let status = statuses.get(name)
    if (!status) {
      status = permissions.query({ name: name as PermissionName })
      status.then(
        (s) => known.set(name, s),
        () => statuses.delete(name),
      )
      statuses.set(name, status)
    }
    return status
  }
  return {
    getUserMedia: async (constraints) => required().getUserMedia(constraints),
    mediaPermitted: (kinds) => {
      const permissions = typeof navigator === 'undefined' ? undefined : navigator.permissions
      if (!permissions?.query || !devices()) return false
      const now = kinds.map((name) => known.get(name))
      if (now.every((s) => s !== undefined)) return now.every((s) => s.state === 'granted')
      try {
        return Promise.all(kinds.map((name) => permissionStatus(permissions, name))).then(
          (states) => states.every((s) => s.state === 'granted'),
          // Browsers that do not know these permission names.
          () => false,
        )
      } catch {
        return false
      }
    },
    getDisplayMedia: async (constraints) => required().getDisplayMedia(constraints),
    createPeer: (config, options) => new RtcPeerSession(config, options),
    enumerateDevices: async () => (devices()?.enumerateDevices ? devices()!.enumerateDevices() : []),
    onDeviceChange: (listener) => {
      const md = devices()
      if (!md?.addEventListener) return () => undefined
      md.addEventListener('devicechange', listener)
      return () => md.removeEventListener('devicechange', listener)
    },
    codecCapabilities: (kind) =>
      typeof RTCRtpSender !== 'undefined'
        ? (RTCRtpSender.getCapabilities?.(kind)?.codecs ?? undefined)
        : undefined,
  }
}
