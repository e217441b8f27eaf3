/**
 * Parley browser SDK — the Kandy CPaaS call API (docs/sdk-api.md).
 * The only entry point: `create(config)` and `sdpHandlers`, plus types.
 *
 * @packageDocumentation
 */
import { createClient, sdpHandlers, type Api } from './client.js'
import type { ParleyConfig } from './core/parley-config.js'

/**
 * Creates one independent SDK instance (sdk-api §1). Several instances may coexist; they share no
 * state. Never throws because of the configuration: an invalid or unknown value is logged at `warn`
 * naming its key and the default is kept; a missing `server.base` or `clientCorrelator` is logged at
 * `error` and the server requests fail later through the normal error events.
 *
 * ```ts
 * const client = create({
 *   authentication: { server: { base: 'parley.example.com' }, clientCorrelator: 'my-app' },
 * })
 * client.on('call:receive', ({ callId }) => client.call.answer(callId, { audio: true }))
 * ```
 */
export function create(config: ParleyConfig): Api {
  return createClient(config)
}

export { sdpHandlers }
export type { Api, CallApi, ConnectionApi, MediaApi, ServicesApi, WSConnectionObject } from './client.js'
export type { CallObject } from './call/call.js'
export type { CallState, CallStates, MediaConnectionStates } from './call/states.js'
export type { CodecSelector } from './call/sdp.js'
export type { QualitySample, QualityWarningName, StreamQuality } from './call/quality-stats.js'
export type { QualityThresholds } from './call/quality-warnings.js'
export type {
  AuthenticationConfig,
  CallConfig,
  Config,
  ConfigInput,
  ConnectivityConfig,
  DeepPartial,
  LogsConfig,
  NotificationsConfig,
  QualityConfig,
  SubscriptionConfig,
} from './core/config.js'
export type {
  ParleyAuthenticationConfig,
  ParleyCallConfig,
  ParleyConnectivityConfig,
  LogActionsOptions,
  ParleyLogsConfig,
  ParleyNotificationsConfig,
  ParleyConfig,
  ParleyConfigUpdate,
  ParleyPeerConfig,
  ParleyQualityConfig,
  ParleyServerConfig,
  ParleySubscriptionConfig,
} from './core/parley-config.js'
export type { BasicError } from './core/errors.js'
export type { LogEntry, LogHandler, LogLevel, LogLevels, LogTarget } from './core/logger.js'
export type { TimingHandler, TimingMark } from './core/timing.js'
export type { BrowserDetails } from './core/browser.js'
export type { SubscriptionInfo } from './signalling/subscriptions.js'
export type {
  BandwidthControls,
  CallMedia,
  CallOptions,
  DSCPControls,
  IceCheckReason,
  IceCollectionCheckFunction,
  IceCollectionCheckResult,
  IceCollectionInfo,
  IceServer,
  IceTimeouts,
  LegacyIceCollectionCheck,
  MediaConstraint,
  MediaOffered,
  PeerConfig,
  SdpHandlerFunction,
  SdpHandlerInfo,
  SdpObject,
  VideoOptions,
} from './core/types.js'
export type { DeviceInfo, DevicesObject } from './media/devices.js'
export type { MediaObject, TrackObject } from './media/track-registry.js'
