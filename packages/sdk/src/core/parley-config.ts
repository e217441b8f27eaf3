/**
 * The configuration that `create(config)` and `updateConfig(values)` accept, as types (sdk-api §1).
 *
 * These types describe the documented shape only; they add no run-time behaviour. At run time every
 * value is still validated by core/config.ts, so untyped JavaScript callers keep working: an invalid
 * or unknown value is logged at `warn` and ignored, never thrown.
 */
import type { LogHandler, LogLevel } from './logger.js'
import type { TimingHandler } from './timing.js'
import type {
  IceCollectionCheckFunction,
  IceServer,
  LegacyIceCollectionCheck,
  SdpHandlerFunction,
} from './types.js'

/** Where the Parley server is (sdk-api §1.1). */
export interface ParleyServerConfig {
  /**
   * Host name of the Parley server, used for REST requests and the notification websocket.
   * Required. No scheme and no path. **[Parley extension]** `'host:port'` is accepted too.
   */
  base: string
  /**
   * Scheme of REST requests; the websocket uses `wss` for `https` and `ws` for `http`.
   * Default `'https'`. **[Parley]** When not set, the SDK follows the page's own scheme if it talks to
   * the page's own origin.
   */
  protocol?: 'http' | 'https'
  /** Port of REST and websocket connections. Default `443`. A numeric string is accepted. */
  port?: number | `${number}`
  /** API version segment. Only `'v1'` (the default) is valid. */
  version?: 'v1'
}

/** `config.authentication` (sdk-api §1.1). */
export interface ParleyAuthenticationConfig {
  /** The Parley server. */
  server: ParleyServerConfig
  /**
   * Identifier of this application instance on this device, sent with every request. Required.
   * It need not be unique: the server routes by notification channel, not by correlator.
   */
  clientCorrelator: string
}

/** `RTCConfiguration` plus `sdpSemantics`, passed to every `RTCPeerConnection` (sdk-api §5.1.6). */
export interface ParleyPeerConfig {
  /** STUN/TURN servers. Entries with an empty URL are skipped. */
  iceServers?: IceServer[]
  /** Parley negotiates unified-plan only; `'plan-b'` is accepted, logged and treated as unified-plan. */
  sdpSemantics?: 'unified-plan' | 'plan-b'
  /** Non-negative integer. */
  iceCandidatePoolSize?: number
  /** `'relay'` forces TURN. */
  iceTransportPolicy?: 'all' | 'public' | 'relay'
  /** As in `RTCConfiguration`. */
  bundlePolicy?: 'balanced' | 'max-compat' | 'max-bundle'
  /** As in `RTCConfiguration`. */
  rtcpMuxPolicy?: 'negotiate' | 'require'
  /** As in `RTCConfiguration`. */
  certificates?: unknown[]
  /** As in `RTCConfiguration`. */
  peerIdentity?: string
  /** Other `RTCConfiguration` keys are passed through unchanged. */
  [key: string]: unknown
}

/** `config.call` (sdk-api §1.2). Every key is optional; the defaults are those of the reference SDK. */
export interface ParleyCallConfig {
  /** 5.x home of `iceServers` and `sdpSemantics`. Default `{ sdpSemantics: 'unified-plan', iceServers: [] }`. */
  defaultPeerConfig?: ParleyPeerConfig
  /** 4.x (seed) place of the ICE server list; moved into `defaultPeerConfig.iceServers`. */
  iceServers?: IceServer[]
  /** 4.x place of `sdpSemantics`; moved into `defaultPeerConfig.sdpSemantics`. */
  sdpSemantics?: 'unified-plan' | 'plan-b'
  /** Fetch time-limited TURN credentials from the server and write them into the ICE servers. Default `true`. */
  serverTurnCredentials?: boolean
  /** Milliseconds the default ICE check waits for an ideal candidate set. Default `1000`. */
  iceCollectionIdealTimeout?: number
  /** Alias of `iceCollectionIdealTimeout`. */
  idealIceCollectionTimeout?: number
  /** Milliseconds after which the default ICE check continues with what it has. Default `3000`. */
  iceCollectionMaxTimeout?: number
  /** Alias of `iceCollectionMaxTimeout`. */
  maxIceCollectionTimeout?: number
  /** Decides when ICE gathering is good enough to continue (sdk-api §5.1.9). */
  iceCollectionCheckFunction?: IceCollectionCheckFunction
  /** 4.x: milliseconds between calls of a legacy `iceCollectionCheck`. Default `1000`. */
  iceCollectionDelay?: number
  /** 4.x name of `iceCollectionMaxTimeout`. */
  maxIceTimeout?: number
  /** 4.x boolean ICE check (sdk-api §5.1.10), used only without `iceCollectionCheckFunction`. */
  iceCollectionCheck?: LegacyIceCollectionCheck
  /** Run in order over every SDP before it is applied locally and before it is sent. Default `[]`. */
  sdpHandlers?: SdpHandlerFunction[]
  /** Strip H264 from local and remote SDP. Default `true`. */
  removeH264Codecs?: boolean
  /** Remove `a=group:BUNDLE` lines. Default `false`. */
  removeBundling?: boolean
  /** Every call is anchored on a media relay. Accepted and stored; no further effect. Default `false`. */
  mediaBrokerOnly?: boolean
  /** `'auto'` sends ringing feedback by itself; `'manual'` waits for `call.sendRingingFeedback`. Default `'auto'`. */
  ringingFeedbackMode?: 'auto' | 'manual'
  /** Milliseconds between call audits (the server is asked whether the call still exists). Default `25000`. */
  callAuditTimer?: number
  /** Milliseconds the passive DTLS end waits before `restartMedia`. Default `3000`. */
  mediaConnectionRetryDelay?: number
  /** **[Parley extension]** Remove a local track that ends unexpectedly from its call, as 4.x did. Default `false`. */
  autoRemoveEndedTracks?: boolean
  /**
   * **[Parley extension]** While an incoming call rings, start getUserMedia for the kinds the caller
   * offered, but only when camera/microphone access is already granted (so no prompt appears before the
   * user answers), so that `call.answer` need not wait for the devices. The tracks are used by an answer
   * that asks for exactly those kinds with default options, and stopped otherwise (reject, ignore,
   * cancel, other media). Nothing is sent before the answer. `false`: devices start at `call.answer`
   * only. Default `true`.
   */
  prepareAnswerMedia?: boolean
  /** **[Parley]** Normalise destinations (`sip:` prefix, domain) as the reference does. Default `true`. */
  normalizeDestination?: boolean
  /** Only `'NONE'` (no trickle ICE) is supported. */
  trickleIceMode?: 'NONE'
  /** **[Parley extension]** Live call quality: samples, warnings and reports to the server. */
  quality?: ParleyQualityConfig
}

/**
 * `config.call.quality` **[Parley extension]**: per call, a quality sample from the peer connection's stats
 * every `interval` ms while the call is `Connected` (`call:qualityChange`), warnings with hysteresis
 * (`call:qualityWarning`, `call:qualityWarningCleared`), and batched reports to the Parley server
 * (`POST /parley/v1/{username}/sessions/{legId}/quality`). Read at every sample, so `updateConfig` applies
 * to running calls.
 */
export interface ParleyQualityConfig {
  /** Sample call quality at all. Default `true`. */
  enabled?: boolean
  /** Milliseconds between samples, at least `100`. Default `2000`. */
  interval?: number
  /** Consecutive samples beyond a threshold before its warning is raised. Default `3`. */
  raiseAfter?: number
  /** Consecutive samples within a threshold before its warning is cleared. Default `3`. */
  clearAfter?: number
  /** Post samples to the server, batched; failures are only logged at `debug`. Default `true`. */
  report?: boolean
  /** Samples per report (1…100); the rest are sent at the end of the call. Default `5` (10 s at the default interval). */
  reportBatchSize?: number
  /** Most samples waiting to be sent per call; the oldest are dropped beyond it. Default `60`. */
  reportQueueLimit?: number
  /** Warning thresholds. */
  thresholds?: {
    /** `high-rtt` above this round-trip time in milliseconds. Default `400`. */
    rtt?: number
    /** `high-jitter` above this received-audio jitter in milliseconds. Default `30`. */
    jitter?: number
    /** `high-packet-loss` above this fraction (0…1) lost on any stream. Default `0.03`. */
    packetLoss?: number
    /** `low-mos` below this MOS (1…4.5). Default `3.5`. */
    mos?: number
  }
}

/** `config.connectivity`: liveness checks and reconnection of the notification websocket (sdk-api §1.3). */
export interface ParleyConnectivityConfig {
  /** How liveness is checked, and who sends the pings. Default `{ type: 'pingPong', responsibleParty: 'client' }`. */
  method?: {
    /** `pingPong` expects a pong for every ping; `keepAlive` expects nothing back. */
    type?: 'pingPong' | 'keepAlive'
    /** Who sends the pings or keep-alives. */
    responsibleParty?: 'client' | 'server'
  }
  /** Milliseconds between pings sent by the client. Default `30000`. */
  pingInterval?: number
  /** Failed reconnect attempts before giving up; `0` is unlimited. Default `5`. */
  reconnectLimit?: number
  /** Milliseconds before the first reconnect attempt. Default `5000`. */
  reconnectDelay?: number
  /** Factor applied to the delay after each failed attempt. Default `1`. */
  reconnectTimeMultiplier?: number
  /** Cap in milliseconds on the delay between attempts. Default `640000`. */
  reconnectTimeLimit?: number
  /** Reconnect by itself after a loss. Default `true`. */
  autoReconnect?: boolean
  /** Unanswered pings after which the connection is declared lost. Default `3`. */
  maxMissedPings?: number
  /** Master switch of pings and keep-alives. Default `true`. */
  checkConnectivity?: boolean
}

/** `config.subscription` (sdk-api §1.4). */
export interface ParleySubscriptionConfig {
  /** Seconds of notification channel lifetime requested; refreshed before it runs out. Default `3600`. */
  channelLifetime?: number
  /** Seconds a subscribe or unsubscribe may take before `subscription:error`. Default `20`. */
  timeout?: number
  /** Seconds of service subscription lifetime requested. Default: none sent (the server chooses). */
  expires?: number
}

/** `config.notifications` (sdk-api §1.5). */
export interface ParleyNotificationsConfig {
  /** How many recent notification ids are remembered to drop duplicates; `0` disables it. Default `100`. */
  idCacheLength?: number
}

/** `config.logs.logActions` as an object (sdk-api §1.6). */
export interface LogActionsOptions {
  /** Receiver of trace entries. */
  handler?: LogHandler
  /** Log only the transition, without a state snapshot. */
  actionOnly?: boolean
  /** Console output starts collapsed. */
  collapsed?: boolean
  /** Include which state fields changed. */
  diff?: boolean
  /** Level of trace entries. */
  level?: LogLevel
  /** When `false`, SDP bodies and tokens are replaced by placeholders. */
  exposePayloads?: boolean
}

/** `config.logs` (sdk-api §1.6). */
export interface ParleyLogsConfig {
  /** Minimum level delivered to the handler, case-insensitive. Default `'debug'`. */
  logLevel?: LogLevel | Uppercase<LogLevel>
  /** Receives every entry at or above `logLevel`. Default: the browser console. */
  handler?: LogHandler
  /** Extra debug trace of SDK state transitions; `true` enables it with default options. Default `false`. */
  logActions?: boolean | LogActionsOptions
  /** 4.x only; accepted and ignored. */
  enableFcsLogs?: boolean
  /**
   * **[Parley extension]** Debugging aid: called with a timestamped mark at each step of a call's
   * set-up (getUserMedia, offer, first candidate, requests, notifications…), to find where set-up time
   * goes. Unset (the default), no mark is made. A handler that throws is ignored.
   */
  timingHandler?: TimingHandler
}

/**
 * The configuration of `create(config)` (sdk-api §1): the Kandy call SDK's documented shape.
 *
 * ```ts
 * import { create, type ParleyConfig } from '@parley/sdk'
 *
 * const config: ParleyConfig = {
 *   authentication: { server: { base: 'parley.example.com' }, clientCorrelator: 'my-app' },
 *   call: { iceServers: [{ urls: 'stun:stun.example.com:3478' }] },
 *   logs: { logLevel: 'warn' },
 * }
 * const client = create(config)
 * ```
 */
export interface ParleyConfig {
  /** The server and this application's correlator. Required. */
  authentication: ParleyAuthenticationConfig
  /** Calls: ICE, SDP handling, ringing, audits. */
  call?: ParleyCallConfig
  /** Websocket liveness and reconnection. */
  connectivity?: ParleyConnectivityConfig
  /** Notification channel and service subscription lifetimes. */
  subscription?: ParleySubscriptionConfig
  /** Duplicate notification detection. */
  notifications?: ParleyNotificationsConfig
  /** Log level and handler. */
  logs?: ParleyLogsConfig
}

/** The values `updateConfig` accepts: any part of {@link ParleyConfig}, merged key by key. */
export type ParleyConfigUpdate = {
  [K in keyof ParleyConfig]?: K extends 'authentication'
    ? { server?: Partial<ParleyServerConfig>; clientCorrelator?: string }
    : ParleyConfig[K]
}
