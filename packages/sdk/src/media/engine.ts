/**
 * The MediaEngine seam (architecture §2): everything the SDK needs from the browser's media stack.
 * `rtc-engine.ts` implements it with getUserMedia and RTCPeerConnection; tests use a fake.
 * media/ never talks to the server.
 */
import type { Emitter } from '../core/emitter.js'
import type { IceCheckReason, IceCollectionCheckResult, IceCollectionInfo } from '../core/types.js'

/** A remote track and the stream (`a=msid`) it belongs to. */
export interface RemoteTrackInfo {
  track: MediaStreamTrack
  streamId: string | undefined
  mid: string | null
}

export interface PeerEvents {
  [event: string]: unknown
  /** A remote track appeared (RTCPeerConnection `track` event). */
  remoteTrack: RemoteTrackInfo
  /** `iceConnectionState` changed. */
  iceConnectionState: { state: RTCIceConnectionState }
}

/** What the ICE check sees; the call layer adds `callId` and `callOperation`. */
export type GatherInfo = Omit<IceCollectionInfo, 'callId' | 'callOperation'>

export interface GatherOptions {
  /** Decides when gathering is good enough (sdk-api §5.1.9). Runs on every trigger. */
  check: (info: GatherInfo) => IceCollectionCheckResult
  /** Safety cap: after this many ms the operation continues with what exists (or fails without candidates). */
  hardTimeout: number
  /** Continue even without candidates once gathering is complete (re-offers on an existing transport). */
  allowNoCandidates?: boolean
  /**
   * An ICE restart: until the first trigger, a `complete` gathering state with no candidate is the previous
   * generation's, not the new one's (the browser reports `gathering` only a moment after setLocalDescription).
   */
  restart?: boolean
}

/** Thrown by `gatherIce` when the check says `Error`, returns garbage, or nothing was gathered. */
export class IceCollectionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'IceCollectionError'
  }
}

/** One peer connection. Owns it; `close()` is idempotent. */
export interface PeerSession {
  readonly events: Emitter<PeerEvents>
  readonly iceConnectionState: RTCIceConnectionState
  readonly signalingState: RTCSignalingState
  /**
   * Adds a local track to be sent; reuses an offered transceiver of the same kind when answering.
   * Idempotent: a track already sent is left alone.
   */
  addTrack(track: MediaStreamTrack, stream: MediaStream): void
  /**
   * Stops sending `track` without renegotiating by itself (removeMedia, sdk-api §5.3.11): its
   * transceiver stays (receive-only at the next offer), or is dropped if it was never negotiated.
   */
  detachTrack(track: MediaStreamTrack): Promise<void>
  /** Puts a detached track back on its own transceiver (a removeMedia that failed). */
  reattachTrack(track: MediaStreamTrack): Promise<void>
  /** A receive-only transceiver of `kind`, so a fresh offer still asks for that media (slow start). */
  addReceiver(kind: 'audio' | 'video'): void
  /** Swaps the track a sender sends, without renegotiation. */
  replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): Promise<void>
  /** Remote tracks whose negotiated direction includes receiving. */
  receivingTracks(): RemoteTrackInfo[]
  /**
   * Sets every transceiver's direction for the next offer/answer: all `inactive` when held,
   * otherwise `sendrecv` where a local track is attached and `recvonly` elsewhere (protocol.md §10.3).
   */
  setHold(hold: boolean): void
  createOffer(options?: { iceRestart?: boolean }): Promise<string>
  createAnswer(): Promise<string>
  setLocalDescription(type: 'offer' | 'answer', sdp: string): Promise<void>
  /**
   * Creates an offer or answer and applies it unchanged in one step (setLocalDescription without a
   * description, RFC 8829 §5.4); resolves with the applied SDP. One trip to the browser's signalling thread
   * instead of two, for when nothing would rewrite the description before it is applied.
   */
  createAndSetLocal(type: 'offer' | 'answer'): Promise<string>
  /** `pranswer`: a provisional answer (a phone call's early media), replaced later by the final answer. */
  setRemoteDescription(type: 'offer' | 'answer' | 'pranswer', sdp: string): Promise<void>
  /** Undoes a local offer that was not answered. */
  rollback(): Promise<void>
  /** Waits until `check` says the local description's candidates are good enough; returns its SDP. */
  gatherIce(options: GatherOptions): Promise<string>
  /** Plays DTMF through the first audio sender; false when the connection cannot (no telephone-event). */
  insertDTMF(tones: string, duration: number, gap: number): boolean
  getStats(track?: MediaStreamTrack): Promise<RTCStatsReport>
  close(): void
}

export interface PeerOptions {
  /** Codec names (e.g. `H264`) to leave out of local offers via `setCodecPreferences`. */
  excludeCodecs: string[]
}

export interface MediaEngine {
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>
  /**
   * Whether the user has already granted access to these devices, so that getUserMedia would not prompt
   * (Permissions API); false when the browser cannot tell. Answers synchronously once the browser has
   * told (the states are live), so that an incoming call's devices can start in the invitation's own task.
   */
  mediaPermitted(kinds: ('camera' | 'microphone')[]): boolean | Promise<boolean>
  getDisplayMedia(constraints: DisplayMediaStreamOptions): Promise<MediaStream>
  createPeer(config: RTCConfiguration, options: PeerOptions): PeerSession
  enumerateDevices(): Promise<MediaDeviceInfo[]>
  /** Subscribes to device changes; returns the unsubscribe function. */
  onDeviceChange(listener: () => void): () => void
  /** Sending codecs of a kind, or undefined without `RTCRtpSender.getCapabilities`. */
  codecCapabilities(kind: 'audio' | 'video'): RTCRtpCodec[] | undefined
}

export type { IceCheckReason }
