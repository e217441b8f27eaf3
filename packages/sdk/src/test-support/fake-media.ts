/**
 * A fake MediaEngine for tests: tracks, streams and a peer connection that produce and consume
 * real SDP text (parsed with sdp-transform) and follow unified-plan offer/answer rules closely
 * enough for the call layer: transceivers matched by mid, directions intersected, `a=msid` lines,
 * remote tracks surfacing on setRemoteDescription, currentDirection after both descriptions.
 */
import { parse } from 'sdp-transform'
import { Emitter } from '../core/emitter.js'
import type { IceCheckReason } from '../core/types.js'
import type {
  GatherOptions,
  MediaEngine,
  PeerEvents,
  PeerOptions,
  PeerSession,
  RemoteTrackInfo,
} from '../media/engine.js'
import { gatherWithCheck } from '../media/gather.js'

let seq = 0
const nextId = (prefix: string) => `${prefix}${++seq}`

export class FakeTrack extends EventTarget {
  readonly id: string
  readonly kind: 'audio' | 'video'
  readonly label: string
  enabled = true
  muted = false
  readyState: 'live' | 'ended' = 'live'
  stopped = false

  constructor(kind: 'audio' | 'video', id = nextId(`${kind}-`)) {
    super()
    this.kind = kind
    this.id = id
    this.label = `fake ${kind}`
  }

  stop(): void {
    this.stopped = true
    this.readyState = 'ended'
  }

  /** Simulates the browser muting the source (network loss for remote tracks). */
  fireMute(): void {
    this.muted = true
    this.dispatchEvent(new Event('mute'))
  }

  fireUnmute(): void {
    this.muted = false
    this.dispatchEvent(new Event('unmute'))
  }

  /** Simulates the track ending by itself (device unplugged). */
  fireEnded(): void {
    this.readyState = 'ended'
    this.dispatchEvent(new Event('ended'))
  }
}

export class FakeStream {
  readonly id: string
  readonly #tracks: FakeTrack[]
  constructor(tracks: FakeTrack[], id = nextId('stream-')) {
    this.id = id
    this.#tracks = tracks
  }
  getTracks(): FakeTrack[] {
    return [...this.#tracks]
  }
}

type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive'

interface Transceiver {
  mid: string | null
  kind: 'audio' | 'video'
  direction: Direction
  currentDirection: Direction | null
  sender: { track: FakeTrack; stream: FakeStream } | undefined
  receiver: FakeTrack
  remoteStreamId: string | undefined
  remoteAnnounced: boolean
  fromRemote: boolean
}

const reverse = (d: Direction): Direction =>
  d === 'sendonly' ? 'recvonly' : d === 'recvonly' ? 'sendonly' : d
const intersect = (a: Direction, b: Direction): Direction => {
  const send = a.includes('send') && b.includes('send')
  const recv = (a === 'sendrecv' || a === 'recvonly') && (b === 'sendrecv' || b === 'recvonly')
  return send && recv ? 'sendrecv' : send ? 'sendonly' : recv ? 'recvonly' : 'inactive'
}

export interface FakeEngineOptions {
  /** Candidates gathered per local description (default: one host candidate). */
  candidates?: 'host' | 'none'
  /** Delay before gathering completes (default 0). */
  gatherDelayMs?: number
  /** Make getUserMedia fail with this error name. */
  failGetUserMedia?: string
  /** Offer H264 in video sections (to test its removal). */
  offerH264?: boolean
  /** Camera and microphone access already granted (`mediaPermitted`); default false. */
  permissionsGranted?: boolean
}

export class FakePeer implements PeerSession {
  readonly events = new Emitter<PeerEvents>()
  readonly config: RTCConfiguration
  readonly options: PeerOptions
  iceConnectionState: RTCIceConnectionState = 'new'
  signalingState: RTCSignalingState = 'stable'
  iceGatheringState: RTCIceGatheringState = 'new'
  closed = false
  localSdp = ''
  remoteSdp = ''
  readonly transceivers: Transceiver[] = []
  readonly dtmf: string[] = []
  readonly #engine: FakeEngine
  readonly #sessionId = String(Math.floor(Math.random() * 1e15))
  #version = 0
  #triggers = new Set<(reason: IceCheckReason) => void>()
  #candidates: RTCIceCandidate[] = []
  #pendingLocal: { type: 'offer' | 'answer'; sdp: string } | undefined
  readonly #detached = new Map<
    FakeTrack,
    { transceiver: Transceiver; sender: NonNullable<Transceiver['sender']> }
  >()

  constructor(engine: FakeEngine, config: RTCConfiguration, options: PeerOptions) {
    this.#engine = engine
    this.config = config
    this.options = options
  }

  addTrack(track: MediaStreamTrack, stream: MediaStream): void {
    const t = track as unknown as FakeTrack
    const s = stream as unknown as FakeStream
    if (this.transceivers.some((x) => x.sender?.track === t)) return
    const reuse = this.transceivers.find((x) => x.kind === t.kind && !x.sender && x.fromRemote)
    if (reuse) {
      reuse.sender = { track: t, stream: s }
      if (reuse.direction === 'recvonly') reuse.direction = 'sendrecv'
      if (reuse.direction === 'inactive') reuse.direction = 'sendonly'
      return
    }
    this.transceivers.push(this.#newTransceiver(t.kind, 'sendrecv', { track: t, stream: s }, false))
  }

  async detachTrack(track: MediaStreamTrack): Promise<void> {
    const i = this.transceivers.findIndex((x) => x.sender?.track === (track as unknown as FakeTrack))
    const t = this.transceivers[i]
    if (!t) return
    this.#detached.set(track as unknown as FakeTrack, { transceiver: t, sender: t.sender! })
    t.sender = undefined
    if (t.mid === null) this.transceivers.splice(i, 1)
    else if (t.direction !== 'inactive') t.direction = t.direction === 'sendonly' ? 'inactive' : 'recvonly'
  }

  async reattachTrack(track: MediaStreamTrack): Promise<void> {
    const d = this.#detached.get(track as unknown as FakeTrack)
    this.#detached.delete(track as unknown as FakeTrack)
    if (d && this.transceivers.includes(d.transceiver)) d.transceiver.sender = d.sender
  }

  addReceiver(kind: 'audio' | 'video'): void {
    this.transceivers.push(this.#newTransceiver(kind, 'recvonly', undefined, false))
  }

  async replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): Promise<void> {
    const t = this.transceivers.find((x) => x.sender?.track === (oldTrack as unknown as FakeTrack))
    if (!t || !t.sender) throw new Error('not sending')
    t.sender = { track: newTrack as unknown as FakeTrack, stream: t.sender.stream }
  }

  receivingTracks(): RemoteTrackInfo[] {
    return this.transceivers
      .filter((t) => t.currentDirection === 'sendrecv' || t.currentDirection === 'recvonly')
      .filter((t) => t.remoteAnnounced)
      .map((t) => ({
        track: t.receiver as unknown as MediaStreamTrack,
        streamId: t.remoteStreamId,
        mid: t.mid,
      }))
  }

  setHold(hold: boolean): void {
    for (const t of this.transceivers) t.direction = hold ? 'inactive' : t.sender ? 'sendrecv' : 'recvonly'
  }

  async createOffer(options: { iceRestart?: boolean } = {}): Promise<string> {
    this.#check()
    this.transceivers.forEach((t, i) => {
      if (t.mid === null) t.mid = String(i)
    })
    void options
    return this.#write('offer', (t) => t.direction)
  }

  async createAnswer(): Promise<string> {
    this.#check()
    if (this.signalingState !== 'have-remote-offer') throw new Error('InvalidStateError: no remote offer')
    const remote = this.#remoteDirections()
    return this.#write('answer', (t) =>
      intersect(reverse(remote.get(t.mid ?? '') ?? 'inactive'), t.direction),
    )
  }

  /** How many descriptions were applied through `createAndSetLocal`. */
  implicitLocal = 0

  async createAndSetLocal(type: 'offer' | 'answer'): Promise<string> {
    const sdp = type === 'offer' ? await this.createOffer() : await this.createAnswer()
    await this.setLocalDescription(type, sdp)
    this.implicitLocal++
    return sdp
  }

  async setLocalDescription(type: 'offer' | 'answer', sdp: string): Promise<void> {
    this.#check()
    this.#pendingLocal = { type, sdp }
    this.localSdp = sdp
    this.#candidates = []
    if (type === 'offer') this.signalingState = 'have-local-offer'
    else {
      // Answerer: negotiated direction = our answer's direction per m-line.
      const dirs = this.#directions(sdp)
      for (const t of this.transceivers) t.currentDirection = dirs.get(t.mid ?? '') ?? t.currentDirection
      this.signalingState = 'stable'
      this.#connect()
    }
    this.#startGathering()
  }

  async setRemoteDescription(type: 'offer' | 'answer' | 'pranswer', sdp: string): Promise<void> {
    this.#check()
    if (this.#engine.failRemoteDescription) throw new Error('OperationError: fake SRD failure')
    const parsed = parse(sdp)
    this.remoteSdp = sdp
    for (const m of parsed.media) {
      const mid = m.mid === undefined ? null : String(m.mid)
      let t = this.transceivers.find((x) => x.mid === mid)
      if (!t && type === 'offer') {
        t = this.#newTransceiver(m.type === 'video' ? 'video' : 'audio', 'recvonly', undefined, true)
        t.mid = mid
        this.transceivers.push(t)
      }
      if (!t) continue
      const dir = ((m as { direction?: Direction }).direction ?? 'sendrecv') as Direction
      const msid = (m as { msid?: Array<{ id: string }> }).msid?.[0]
      if (dir === 'sendrecv' || dir === 'sendonly') {
        if (msid) t.remoteStreamId = msid.id
        if (!t.remoteAnnounced) {
          t.remoteAnnounced = true
          this.events.emit('remoteTrack', {
            track: t.receiver as unknown as MediaStreamTrack,
            streamId: t.remoteStreamId,
            mid: t.mid,
          })
        }
      }
      if (type !== 'offer') t.currentDirection = reverse(dir)
    }
    if (type === 'offer') this.signalingState = 'have-remote-offer'
    else if (type === 'pranswer') this.signalingState = 'have-remote-pranswer'
    else {
      this.signalingState = 'stable'
      this.#connect()
    }
  }

  async rollback(): Promise<void> {
    if (this.signalingState === 'have-local-offer') this.signalingState = 'stable'
  }

  gatherIce(options: GatherOptions): Promise<string> {
    return gatherWithCheck(
      {
        iceGatheringState: () => this.iceGatheringState,
        localSdp: () => this.localSdp,
        config: () => this.config,
        candidates: () => this.#candidates,
        onTrigger: (cb) => {
          this.#triggers.add(cb)
          return () => this.#triggers.delete(cb)
        },
        closed: () => this.closed,
      },
      options,
    )
  }

  insertDTMF(tones: string): boolean {
    if (!this.transceivers.some((t) => t.kind === 'audio' && t.sender)) return false
    this.dtmf.push(tones)
    return true
  }

  async getStats(): Promise<RTCStatsReport> {
    const map = new Map<string, unknown>([['T01', { id: 'T01', type: 'transport', timestamp: Date.now() }]])
    return map as unknown as RTCStatsReport
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.signalingState = 'closed'
    this.iceConnectionState = 'closed'
    this.#trigger('IceGatheringStateChanged')
    this.#triggers.clear()
    this.events.clear()
  }

  /** Simulates a change of the ICE connection state. */
  setIceState(state: RTCIceConnectionState): void {
    this.iceConnectionState = state
    this.events.emit('iceConnectionState', { state })
  }

  #check(): void {
    if (this.closed) throw new Error('InvalidStateError: closed')
  }

  #newTransceiver(
    kind: 'audio' | 'video',
    direction: Direction,
    sender: Transceiver['sender'],
    fromRemote: boolean,
  ): Transceiver {
    return {
      mid: null,
      kind,
      direction,
      currentDirection: null,
      sender,
      receiver: new FakeTrack(kind, nextId(`remote-${kind}-`)),
      remoteStreamId: undefined,
      remoteAnnounced: false,
      fromRemote,
    }
  }

  #remoteDirections(): Map<string, Direction> {
    return this.#directions(this.remoteSdp)
  }

  #directions(sdp: string): Map<string, Direction> {
    const out = new Map<string, Direction>()
    for (const m of parse(sdp).media) {
      out.set(String(m.mid), ((m as { direction?: Direction }).direction ?? 'sendrecv') as Direction)
    }
    return out
  }

  #write(type: 'offer' | 'answer', dir: (t: Transceiver) => Direction): string {
    const mids = this.transceivers.map((t) => t.mid ?? '')
    const lines = [
      'v=0',
      `o=- ${this.#sessionId} ${++this.#version} IN IP4 127.0.0.1`,
      's=-',
      't=0 0',
      `a=group:BUNDLE ${mids.join(' ')}`,
      'a=msid-semantic: WMS',
    ]
    for (const t of this.transceivers) {
      const video = t.kind === 'video'
      const pts = video ? (this.#engine.options.offerH264 ? '96 97 102 103' : '96 97') : '111 126'
      lines.push(`m=${t.kind} 9 UDP/TLS/RTP/SAVPF ${pts}`, 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0')
      lines.push('a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=ice-options:trickle')
      lines.push(
        'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
      )
      lines.push(`a=setup:${type === 'offer' ? 'actpass' : 'active'}`, `a=mid:${t.mid ?? ''}`, `a=${dir(t)}`)
      if (t.sender) lines.push(`a=msid:${t.sender.stream.id} ${t.sender.track.id}`)
      lines.push('a=rtcp-mux')
      if (video) {
        lines.push('a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack', 'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96')
        if (this.#engine.options.offerH264) {
          lines.push(
            'a=rtpmap:102 H264/90000',
            'a=rtcp-fb:102 nack',
            'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
            'a=rtpmap:103 rtx/90000',
            'a=fmtp:103 apt=102',
          )
        }
      } else {
        lines.push(
          'a=rtpmap:111 opus/48000/2',
          'a=fmtp:111 minptime=10;useinbandfec=1',
          'a=rtpmap:126 telephone-event/8000',
        )
      }
    }
    return lines.join('\r\n') + '\r\n'
  }

  #startGathering(): void {
    this.iceGatheringState = 'gathering'
    const local = this.#pendingLocal
    setTimeout(() => {
      if (this.closed || this.#pendingLocal !== local) return
      if (this.#engine.options.candidates !== 'none') {
        const cand = 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host'
        this.localSdp = this.localSdp.replace(/(a=mid:[^\r\n]*\r\n)/g, `$1a=${cand}\r\n`)
        this.#candidates.push({ candidate: cand } as RTCIceCandidate)
        this.#trigger('NewCandidate')
      }
      this.iceGatheringState = 'complete'
      this.#trigger('IceGatheringStateChanged')
    }, this.#engine.options.gatherDelayMs ?? 0)
  }

  #trigger(reason: IceCheckReason): void {
    for (const cb of [...this.#triggers]) cb(reason)
  }

  #connect(): void {
    if (this.iceConnectionState !== 'new') return
    setTimeout(() => {
      if (this.closed) return
      this.setIceState('checking')
      setTimeout(() => !this.closed && this.setIceState('connected'), 0)
    }, 0)
  }
}

export class FakeEngine implements MediaEngine {
  readonly options: FakeEngineOptions
  readonly peers: FakePeer[] = []
  readonly tracks: FakeTrack[] = []
  readonly constraints: MediaStreamConstraints[] = []
  failRemoteDescription = false

  constructor(options: FakeEngineOptions = {}) {
    this.options = options
  }

  async getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream> {
    this.constraints.push(constraints)
    if (this.options.failGetUserMedia) {
      const err = new Error('Permission denied')
      err.name = this.options.failGetUserMedia
      throw err
    }
    const tracks: FakeTrack[] = []
    if (constraints.audio) tracks.push(new FakeTrack('audio'))
    if (constraints.video) tracks.push(new FakeTrack('video'))
    this.tracks.push(...tracks)
    return new FakeStream(tracks) as unknown as MediaStream
  }

  /** Synchronous, as the browser engine answers once its permission states are known. */
  mediaPermitted(): boolean {
    return this.options.permissionsGranted === true
  }

  async getDisplayMedia(): Promise<MediaStream> {
    const track = new FakeTrack('video')
    this.tracks.push(track)
    return new FakeStream([track]) as unknown as MediaStream
  }

  createPeer(config: RTCConfiguration, options: PeerOptions): PeerSession {
    const peer = new FakePeer(this, config, options)
    this.peers.push(peer)
    return peer
  }

  async enumerateDevices(): Promise<MediaDeviceInfo[]> {
    return [
      { deviceId: 'mic1', groupId: 'g1', kind: 'audioinput', label: 'Fake mic', toJSON: () => ({}) },
      { deviceId: 'cam1', groupId: 'g2', kind: 'videoinput', label: 'Fake cam', toJSON: () => ({}) },
    ] as MediaDeviceInfo[]
  }

  onDeviceChange(): () => void {
    return () => undefined
  }

  codecCapabilities(kind: 'audio' | 'video'): RTCRtpCodec[] {
    return kind === 'audio'
      ? [{ mimeType: 'audio/opus', clockRate: 48000, channels: 2 }]
      : [{ mimeType: 'video/VP8', clockRate: 90000 }]
  }

  /** The local tracks that were created and not stopped. */
  liveLocalTracks(): FakeTrack[] {
    return this.tracks.filter((t) => !t.stopped)
  }

  lastPeer(): FakePeer {
    const p = this.peers[this.peers.length - 1]
    if (!p) throw new Error('no peer created')
    return p
  }
}
