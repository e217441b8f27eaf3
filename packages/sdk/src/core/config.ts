/**
 * Configuration: defaults, validation, normalisation and deep merging (sdk-api §1, §2.3, §2.4).
 *
 * `create` never throws because of bad configuration: every invalid or unknown value is logged at
 * `warn` naming its key, and the previous value (initially the default) is kept. Objects merge key
 * by key; arrays and functions replace the previous value entirely.
 */
import { parseLogLevel, type LogHandler, type LogLevel } from './logger.js'
import type { TimingHandler } from './timing.js'
import type {
  IceCollectionCheckFunction,
  IceServer,
  LegacyIceCollectionCheck,
  PeerConfig,
  SdpHandlerFunction,
} from './types.js'

/** Effective `authentication` section (see `ParleyAuthenticationConfig` for the meaning of each key). */
export interface AuthenticationConfig {
  server: { base?: string; protocol: 'http' | 'https'; port: number; version: 'v1' }
  clientCorrelator?: string
}

/** Effective `call` section, defaults filled in (see `ParleyCallConfig`). */
export interface CallConfig {
  defaultPeerConfig: PeerConfig
  serverTurnCredentials: boolean
  iceCollectionIdealTimeout: number
  iceCollectionMaxTimeout: number
  iceCollectionCheckFunction?: IceCollectionCheckFunction
  iceCollectionDelay: number
  maxIceTimeout: number
  iceCollectionCheck?: LegacyIceCollectionCheck
  sdpHandlers: SdpHandlerFunction[]
  removeH264Codecs: boolean
  removeBundling: boolean
  mediaBrokerOnly: boolean
  ringingFeedbackMode: 'auto' | 'manual'
  callAuditTimer: number
  mediaConnectionRetryDelay: number
  autoRemoveEndedTracks: boolean
  prepareAnswerMedia: boolean
  normalizeDestination: boolean
  trickleIceMode: 'NONE'
  quality: QualityConfig
}

/** Effective `call.quality` section (see `ParleyQualityConfig`). */
export interface QualityConfig {
  enabled: boolean
  interval: number
  raiseAfter: number
  clearAfter: number
  report: boolean
  reportBatchSize: number
  reportQueueLimit: number
  thresholds: { rtt: number; jitter: number; packetLoss: number; mos: number }
}

/** Effective `connectivity` section (see `ParleyConnectivityConfig`). */
export interface ConnectivityConfig {
  method: { type: 'pingPong' | 'keepAlive'; responsibleParty: 'client' | 'server' }
  pingInterval: number
  reconnectLimit: number
  reconnectDelay: number
  reconnectTimeMultiplier: number
  reconnectTimeLimit: number
  autoReconnect: boolean
  maxMissedPings: number
  checkConnectivity: boolean
}

/** Effective `subscription` section (see `ParleySubscriptionConfig`). */
export interface SubscriptionConfig {
  channelLifetime: number
  timeout: number
  expires?: number
}

/** Effective `notifications` section (see `ParleyNotificationsConfig`). */
export interface NotificationsConfig {
  idCacheLength: number
}

/** Effective `logs` section (see `ParleyLogsConfig`). */
export interface LogsConfig {
  logLevel: LogLevel
  handler?: LogHandler
  logActions: boolean | Record<string, unknown>
  enableFcsLogs: boolean
  timingHandler?: TimingHandler
}

/** The effective configuration, as `getConfig()` reports it. */
export interface Config {
  authentication: AuthenticationConfig
  call: CallConfig
  connectivity: ConnectivityConfig
  subscription: SubscriptionConfig
  notifications: NotificationsConfig
  logs: LogsConfig
}

/**
 * Loosely typed deep-partial configuration, validated only at run time. Kept for compatibility;
 * prefer `ParleyConfig` and `ParleyConfigUpdate`.
 */
export type ConfigInput = { [K in keyof Config]?: DeepPartial<Config[K]> & Record<string, unknown> }
/** `T` with every key optional, recursively (functions and arrays kept whole). */
export type DeepPartial<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly unknown[]
    ? T
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T

type Check = (v: unknown) => { ok: true; value: unknown } | { ok: false }
interface Leaf {
  leaf: true
  def: unknown
  check: Check
}
interface Node {
  [key: string]: Leaf | Node
}

const ok = (value: unknown) => ({ ok: true as const, value })
const bad = { ok: false as const }
const leaf = (def: unknown, check: Check): Leaf => ({ leaf: true, def, check })
const bool: Check = (v) => (typeof v === 'boolean' ? ok(v) : bad)
const str: Check = (v) => (typeof v === 'string' && v.length > 0 ? ok(v) : bad)
const nonNeg: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? ok(v) : bad)
const nonNegInt: Check = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? ok(v) : bad)
const positive: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? ok(v) : bad)
const atLeastOne: Check = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 ? ok(v) : bad)
const fn: Check = (v) => (typeof v === 'function' ? ok(v) : bad)
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? ok(v) : bad
const port: Check = (v) => {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536 ? ok(n) : bad
}
const fnArray: Check = (v) => (Array.isArray(v) && v.every((f) => typeof f === 'function') ? ok([...v]) : bad)
const logLevel: Check = (v) => {
  const l = parseLogLevel(v)
  return l ? ok(l) : bad
}
const logActions: Check = (v) =>
  typeof v === 'boolean' ? ok(v) : typeof v === 'object' && v !== null ? ok({ ...(v as object) }) : bad

/** Validates an ICE server list; `url` is accepted as an alias of `urls` (sdk-api §5.1.7). */
export function normalizeIceServers(v: unknown, warn?: (msg: string) => void): IceServer[] | undefined {
  if (!Array.isArray(v)) return undefined
  const out: IceServer[] = []
  v.forEach((entry: unknown, i) => {
    if (typeof entry !== 'object' || entry === null) {
      warn?.(`iceServers[${i}] is not an object; ignored`)
      return
    }
    const e = entry as Record<string, unknown>
    const urls = e.urls ?? e.url
    const valid =
      typeof urls === 'string' || (Array.isArray(urls) && urls.every((u) => typeof u === 'string'))
    if (!valid) {
      warn?.(`iceServers[${i}] has no valid "urls"; ignored`)
      return
    }
    // Parley: an entry whose URL is empty (e.g. a template placeholder left unfilled) is skipped, since
    // RTCPeerConnection would reject the whole configuration because of it.
    if (urls === '' || (Array.isArray(urls) && urls.every((u) => u === ''))) {
      warn?.(`iceServers[${i}] has an empty "urls"; ignored`)
      return
    }
    const server: IceServer = { urls: Array.isArray(urls) ? [...(urls as string[])] : (urls as string) }
    if (typeof e.username === 'string') server.username = e.username
    if (typeof e.credential === 'string') server.credential = e.credential
    out.push(server)
  })
  return out
}

const SCHEMA: Node = {
  authentication: {
    server: {
      base: leaf(undefined, str),
      protocol: leaf('https', oneOf('http', 'https')),
      port: leaf(443, port),
      version: leaf('v1', oneOf('v1')),
    },
    clientCorrelator: leaf(undefined, str),
  },
  call: {
    defaultPeerConfig: {
      iceServers: leaf([], (v) => {
        const list = normalizeIceServers(v)
        return list ? ok(list) : bad
      }),
      sdpSemantics: leaf('unified-plan', oneOf('unified-plan', 'plan-b')),
      iceCandidatePoolSize: leaf(undefined, nonNegInt),
      iceTransportPolicy: leaf(undefined, oneOf('all', 'public', 'relay')),
      bundlePolicy: leaf(undefined, oneOf('balanced', 'max-compat', 'max-bundle')),
      rtcpMuxPolicy: leaf(undefined, oneOf('negotiate', 'require')),
      certificates: leaf(undefined, (v) => (Array.isArray(v) ? ok(v) : bad)),
      peerIdentity: leaf(undefined, str),
    },
    serverTurnCredentials: leaf(true, bool),
    iceCollectionIdealTimeout: leaf(1000, nonNeg),
    iceCollectionMaxTimeout: leaf(3000, nonNeg),
    iceCollectionCheckFunction: leaf(undefined, fn),
    iceCollectionDelay: leaf(1000, positive),
    maxIceTimeout: leaf(3000, nonNeg),
    iceCollectionCheck: leaf(undefined, fn),
    sdpHandlers: leaf([], fnArray),
    removeH264Codecs: leaf(true, bool),
    removeBundling: leaf(false, bool),
    mediaBrokerOnly: leaf(false, bool),
    ringingFeedbackMode: leaf('auto', oneOf('auto', 'manual')),
    callAuditTimer: leaf(25000, positive),
    mediaConnectionRetryDelay: leaf(3000, nonNeg),
    autoRemoveEndedTracks: leaf(false, bool),
    prepareAnswerMedia: leaf(true, bool),
    normalizeDestination: leaf(true, bool),
    trickleIceMode: leaf('NONE', oneOf('NONE')),
    quality: {
      enabled: leaf(true, bool),
      interval: leaf(2000, (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 100 ? ok(v) : bad)),
      raiseAfter: leaf(3, atLeastOne),
      clearAfter: leaf(3, atLeastOne),
      report: leaf(true, bool),
      reportBatchSize: leaf(5, (v) =>
        typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 100 ? ok(v) : bad,
      ),
      reportQueueLimit: leaf(60, atLeastOne),
      thresholds: {
        rtt: leaf(400, nonNeg),
        jitter: leaf(30, nonNeg),
        packetLoss: leaf(0.03, (v) => (typeof v === 'number' && v >= 0 && v <= 1 ? ok(v) : bad)),
        mos: leaf(3.5, (v) => (typeof v === 'number' && v >= 1 && v <= 4.5 ? ok(v) : bad)),
      },
    },
  },
  connectivity: {
    method: {
      type: leaf('pingPong', oneOf('pingPong', 'keepAlive')),
      responsibleParty: leaf('client', oneOf('client', 'server')),
    },
    pingInterval: leaf(30000, positive),
    reconnectLimit: leaf(5, nonNegInt),
    reconnectDelay: leaf(5000, nonNeg),
    reconnectTimeMultiplier: leaf(1, positive),
    reconnectTimeLimit: leaf(640000, nonNeg),
    autoReconnect: leaf(true, bool),
    maxMissedPings: leaf(3, (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 ? ok(v) : bad)),
    checkConnectivity: leaf(true, bool),
  },
  subscription: {
    channelLifetime: leaf(3600, positive),
    timeout: leaf(20, positive),
    expires: leaf(undefined, positive),
  },
  notifications: {
    idCacheLength: leaf(100, nonNegInt),
  },
  logs: {
    logLevel: leaf('debug', logLevel),
    handler: leaf(undefined, fn),
    logActions: leaf(false, logActions),
    enableFcsLogs: leaf(true, bool),
    timingHandler: leaf(undefined, fn),
  },
}

/** Keys of `defaultPeerConfig` that are not validated but passed through to RTCPeerConnection. */
const PASSTHROUGH = new Set(['call.defaultPeerConfig'])

/** Renamed keys accepted for compatibility (sdk-api §1.2). */
const CALL_ALIASES: Record<string, string> = {
  idealIceCollectionTimeout: 'iceCollectionIdealTimeout',
  maxIceCollectionTimeout: 'iceCollectionMaxTimeout',
}

const isLeaf = (s: Leaf | Node): s is Leaf => (s as Leaf).leaf === true
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function defaultsOf(node: Node): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, s] of Object.entries(node)) {
    if (isLeaf(s)) {
      if (s.def !== undefined) out[k] = Array.isArray(s.def) ? [...s.def] : s.def
    } else out[k] = defaultsOf(s)
  }
  return out
}

/** The configuration with every default filled in. */
export function defaultConfig(): Config {
  return defaultsOf(SCHEMA) as unknown as Config
}

/** Facts about the input that the normalised config cannot show. */
export interface ConfigMeta {
  /** `authentication.server.port` was given explicitly at some point (see signalling/urls.ts). */
  portExplicit: boolean
  /** Whether `authentication.server.protocol` was given (else it may follow the page, see client.ts). */
  protocolExplicit?: boolean
}

/**
 * Applies the 4.x → 5.x moves of sdk-api §1.2 to a copy of the input's `call` section:
 * `call.iceServers`/`call.sdpSemantics` → `call.defaultPeerConfig`, `maxIceTimeout` →
 * `iceCollectionMaxTimeout`, and the renamed ICE timeout keys.
 */
function preNormalizeCall(
  call: Record<string, unknown>,
  warn: (msg: string) => void,
): Record<string, unknown> {
  const moved = new Set<string>([...Object.keys(CALL_ALIASES), 'iceServers', 'sdpSemantics'])
  const out: Record<string, unknown> = Object.fromEntries(Object.entries(call).filter(([k]) => !moved.has(k)))
  for (const [alias, name] of Object.entries(CALL_ALIASES)) {
    if (alias in call && !(name in call)) out[name] = call[alias]
  }
  if (out.maxIceTimeout !== undefined && out.iceCollectionMaxTimeout === undefined) {
    out.iceCollectionMaxTimeout = out.maxIceTimeout
  }
  const peer: Record<string, unknown> = isPlainObject(call.defaultPeerConfig)
    ? { ...call.defaultPeerConfig }
    : {}
  let movedAny = false
  for (const key of ['iceServers', 'sdpSemantics']) {
    if (!(key in call)) continue
    if (key in peer) warn(`call.${key} ignored: call.defaultPeerConfig.${key} is also set and wins`)
    else peer[key] = call[key]
    movedAny = true
  }
  if ('defaultPeerConfig' in call && !isPlainObject(call.defaultPeerConfig)) {
    warn('"call.defaultPeerConfig" must be an object; ignored')
  }
  if (movedAny || 'defaultPeerConfig' in call) out.defaultPeerConfig = peer
  return out
}

/**
 * Merges `input` into `target` (mutated), validating every value. Returns nothing; problems are
 * reported through `warn`.
 */
export function mergeConfig(
  target: Config,
  input: unknown,
  warn: (msg: string) => void,
  meta?: ConfigMeta,
): void {
  if (!isPlainObject(input)) {
    if (input !== undefined) warn('configuration must be an object; ignored')
    return
  }
  const prepared: Record<string, unknown> = { ...input }
  if (isPlainObject(prepared.call)) prepared.call = preNormalizeCall(prepared.call, warn)
  const server = isPlainObject(prepared.authentication) ? prepared.authentication.server : undefined
  if (meta && isPlainObject(server) && server.port !== undefined && port(server.port).ok)
    meta.portExplicit = true
  if (meta && isPlainObject(server) && (server.protocol === 'http' || server.protocol === 'https'))
    meta.protocolExplicit = true
  // `logs` first, so that warnings about the other sections reach the configured log handler.
  const ordered = Object.fromEntries(
    Object.entries(prepared).sort(([a], [b]) => Number(b === 'logs') - Number(a === 'logs')),
  )
  mergeNode(target as unknown as Record<string, unknown>, ordered, SCHEMA, '', warn)
  const peer = target.call.defaultPeerConfig
  if (peer.sdpSemantics === 'plan-b') {
    warn("call.defaultPeerConfig.sdpSemantics 'plan-b' is deprecated; Parley negotiates unified-plan")
  }
}

function mergeNode(
  target: Record<string, unknown>,
  input: Record<string, unknown>,
  node: Node,
  path: string,
  warn: (msg: string) => void,
): void {
  for (const [key, value] of Object.entries(input)) {
    const keyPath = path ? `${path}.${key}` : key
    const spec = node[key]
    if (!spec) {
      if (PASSTHROUGH.has(path)) target[key] = value
      else warn(`unknown configuration key "${keyPath}" ignored`)
      continue
    }
    if (value === undefined) continue
    if (isLeaf(spec)) {
      const result = spec.check(value)
      if (result.ok) target[key] = result.value
      else warn(`invalid value for "${keyPath}" ignored; keeping ${JSON.stringify(target[key])}`)
      continue
    }
    if (!isPlainObject(value)) {
      warn(`"${keyPath}" must be an object; ignored`)
      continue
    }
    if (!isPlainObject(target[key])) target[key] = {}
    mergeNode(target[key] as Record<string, unknown>, value, spec, keyPath, warn)
  }
}

/** A deep copy of the configuration for `getConfig()`; functions are shared, arrays and objects copied. */
export function cloneConfig<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => cloneConfig(v)) as T
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = cloneConfig(v)
    return out as T
  }
  return value
}
