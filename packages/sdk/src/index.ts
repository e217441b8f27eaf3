/**
 * Parley browser SDK — the Kandy CPaaS call API (shared/spec/sdk-api.md).
 * The only entry point: `create(config)` and `sdpHandlers`, plus types.
 */
import { createClient, sdpHandlers, type Api } from './client.js'

/** Creates one independent SDK instance (sdk-api §1). */
export function create(config: object): Api {
  return createClient(config)
}

export { sdpHandlers }
export type { Api, CallApi, ConnectionApi, MediaApi, ServicesApi, WSConnectionObject } from './client.js'
export type { CallObject } from './call/call.js'
export type { CallState } from './call/states.js'
export type { CodecSelector } from './call/sdp.js'
export type { Config, ConfigInput } from './core/config.js'
export type { BasicError } from './core/errors.js'
export type { LogEntry, LogHandler, LogLevel } from './core/logger.js'
export type {
  IceCollectionCheckFunction,
  IceCollectionCheckResult,
  IceCollectionInfo,
  IceServer,
  MediaOffered,
  PeerConfig,
  SdpHandlerFunction,
  SdpHandlerInfo,
  SdpObject,
} from './core/types.js'
export type { DeviceInfo, DevicesObject } from './media/devices.js'
export type { MediaObject, TrackObject } from './media/track-registry.js'
