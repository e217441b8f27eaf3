/**
 * Public types shared by several layers (sdk-api §5.1). Kept in core so that media/, call/ and the
 * client facade can all use them without depending on each other.
 */
import type { SessionDescription } from 'sdp-transform'

/** STUN/TURN server in `RTCIceServer` form; `url` is a legacy alias of `urls` (sdk-api §5.1.7). */
export interface IceServer {
  urls: string | string[]
  username?: string
  credential?: string
}

/** `RTCConfiguration` plus `sdpSemantics` (sdk-api §5.1.6). */
export interface PeerConfig {
  iceServers: IceServer[]
  sdpSemantics: 'unified-plan' | 'plan-b'
  iceCandidatePoolSize?: number
  iceTransportPolicy?: 'all' | 'public' | 'relay'
  bundlePolicy?: 'balanced' | 'max-compat' | 'max-bundle'
  rtcpMuxPolicy?: 'negotiate' | 'require'
  certificates?: unknown[]
  peerIdentity?: string
  [key: string]: unknown
}

/** Why the ICE collection check runs now (sdk-api §5.1.8). */
export type IceCheckReason = 'NewCandidate' | 'IceGatheringStateChanged' | 'Scheduled'

/** Argument of the ICE collection check function (sdk-api §5.1.8). */
export interface IceCollectionInfo {
  callId: string
  callOperation: string
  reason: IceCheckReason
  iceCandidates: RTCIceCandidate[]
  iceCollectionDuration: number
  iceGatheringState: string
  rtcPeerConnectionConfig: object
  rtcLocalSessionDescription: string
}

/** The configured timeouts passed to the ICE collection check. */
export interface IceTimeouts {
  iceCollectionIdealTimeout: number
  iceCollectionMaxTimeout: number
}

/** Result of the ICE collection check (sdk-api §5.1.9). */
export interface IceCollectionCheckResult {
  type: 'StartCall' | 'Error' | 'Wait'
  error?: string | Error
  wait?: number
}

/** Decides when ICE gathering is good enough to continue an operation (sdk-api §5.1.9). */
export type IceCollectionCheckFunction = (
  info: IceCollectionInfo,
  timeouts: IceTimeouts,
) => IceCollectionCheckResult

/** 4.x legacy boolean check (sdk-api §5.1.10). */
export type LegacyIceCollectionCheck = (
  iceCandidates: RTCIceCandidate[],
  details: {
    iceServerUrls: string[]
    elapsedTime: number
    maxIceTimeout: number
    offeredMedia: unknown[]
    iceCollectionDelay: number
  },
) => boolean

/** SDP in the object form of sdp-transform's `parse` (sdk-api §5.1.11). */
export type SdpObject = SessionDescription

/** What an SDP handler is called for (sdk-api §5.1.11). */
export interface SdpHandlerInfo {
  callId: string
  type: RTCSdpType
  step: 'set' | 'send'
  endpoint: 'local' | 'remote'
}

/** Rewrites an SDP (object form) before it is applied or sent; returns the SDP to continue with. */
export type SdpHandlerFunction = (
  newSdp: SdpObject,
  info: SdpHandlerInfo,
  originalSdp: SdpObject,
) => SdpObject

/** Media kinds offered by the caller (sdk-api §5.1.3). */
export interface MediaOffered {
  audio: boolean
  video: boolean
}

/** A media constraint: a bare value, or an exact or ideal one (sdk-api §5.1.2). */
export type MediaConstraint = string | number | { exact?: string | number; ideal?: string | number }

/** Camera constraints (sdk-api §5.3). */
export interface VideoOptions {
  deviceId?: MediaConstraint
  height?: MediaConstraint
  width?: MediaConstraint
  frameRate?: MediaConstraint
}

/** The media of `make`, `answer`, `addMedia` and `replaceTrack` (sdk-api §5.3). */
export interface CallMedia {
  /** Send audio. Default `false`. */
  audio?: boolean
  /** Microphone constraints. */
  audioOptions?: { deviceId?: MediaConstraint }
  /** Send camera video. Default `false`. */
  video?: boolean
  /** Camera constraints. */
  videoOptions?: VideoOptions
  /** Share the screen. Default `false`. */
  screen?: boolean
  /** Screen capture constraints. */
  screenOptions?: { height?: MediaConstraint; width?: MediaConstraint; frameRate?: MediaConstraint }
}

/** Received-bandwidth limits in kbit/s (sdk-api §5.1.4). */
export interface BandwidthControls {
  /** Total of all media. */
  call?: number
  /** Received audio. */
  audio?: number
  /** Received video. */
  video?: number
}

/** DSCP network priority of outgoing packets per media kind (sdk-api §5.1.5). Default `'low'` each. */
export interface DSCPControls {
  audioNetworkPriority?: RTCPriorityType
  videoNetworkPriority?: RTCPriorityType
  screenNetworkPriority?: RTCPriorityType
}

/** Options of call operations that negotiate media (sdk-api §5.3). */
export interface CallOptions {
  /** Limits on the media received from the remote party. */
  bandwidth?: BandwidthControls
  /** Network priority of outgoing media. */
  dscpControls?: DSCPControls
}
