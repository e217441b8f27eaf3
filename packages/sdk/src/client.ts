/**
 * `create(config)` → the api facade (sdk-api §2): namespaces `services`, `connection`, `call`,
 * `media`, `logger`, plus the top-level functions. The facade only validates arguments, wires the
 * modules together and forwards; the logic lives in call/, media/ and signalling/.
 */
import { CallManager } from './call/call-manager.js'
import type { CallObject } from './call/call.js'
import { createCodecRemover } from './call/sdp.js'
import { CallStates, MediaConnectionStates } from './call/states.js'
import { browserDetails, type BrowserDetails } from './core/browser.js'
import { cloneConfig, defaultConfig, mergeConfig, type Config, type ConfigMeta } from './core/config.js'
import { EventBus, type AnyListener, type GlobalListener } from './core/event-bus.js'
import { consoleHandler, LogLevels, Logger } from './core/logger.js'
import type { ParleyConfigUpdate } from './core/parley-config.js'
import { readTokens, type Tokens } from './core/tokens.js'
import type { SdpHandlerFunction } from './core/types.js'
import { VERSION } from './core/version.js'
import { Devices, type DevicesObject } from './media/devices.js'
import type { MediaEngine } from './media/engine.js'
import { Renderer } from './media/renderer.js'
import { createRtcEngine } from './media/rtc-engine.js'
import { TrackRegistry, type MediaObject, type TrackObject } from './media/track-registry.js'
import type { SocketFactory } from './signalling/notification-socket.js'
import { RestClient, type FetchLike } from './signalling/rest.js'
import { Subscriptions, type SubscriptionInfo } from './signalling/subscriptions.js'
import { TurnCredentialsManager } from './signalling/turn.js'
import { parseBase, signalingPath, restOrigin } from './signalling/urls.js'

/** What the environment provides; tests replace these with fakes. */
export interface ClientDeps {
  fetch?: FetchLike
  WebSocket?: SocketFactory
  mediaEngine?: MediaEngine
  document?: () => Document | undefined
  /** Where `pagehide` is observed (protocol.md §14.7). */
  window?: Pick<Window, 'addEventListener' | 'removeEventListener'>
  userAgent?: string
  /** The page's location (tests); defaults to the global `location`. */
  location?: { host: string; protocol: string }
}

/** `connection.getSocketState()` (sdk-api §4). */
export interface WSConnectionObject {
  connected: boolean
  pinging: boolean
  method: { type?: string; responsibleParty?: string }
  platform: string
  pingInterval: number
  reconnectLimit: number
  reconnectDelay: number
  reconnectTimeMultiplier: number
  reconnectTimeLimit: number
  autoReconnect: boolean
  maxMissedPings: number
  webSocketOAuthMode: string
  wsInfo: { protocol?: string; server?: string; port?: number; url?: string; params?: string }
  lastContact: number
}

export interface ServicesApi {
  subscribe(
    services: Array<string | { service: string; params?: object }>,
    options?: string | { type?: string },
  ): void
  unsubscribe(services: string[], type?: string): void
  getSubscriptions(): SubscriptionInfo
}

export interface ConnectionApi {
  getSocketState(platform?: string): WSConnectionObject
  enableConnectivityChecking(enable: boolean): void
  resetConnection(): void
}

export interface CallApi {
  make(destination: string, media: object, options?: object): string
  answer(callId: string, media: object, options?: object): void
  reject(callId: string): void
  ignore(callId: string): void
  sendRingingFeedback(callId: string): void
  hold(callId: string): void
  unhold(callId: string): void
  end(callId: string): void
  getAll(): CallObject[]
  getById(callId: string): CallObject | undefined
  addMedia(callId: string, media?: object, options?: object): void
  removeMedia(callId: string, tracks: string[], options?: object): void
  startVideo(callId: string, videoOptions?: object, options?: object): void
  stopVideo(callId: string): void
  sendDTMF(callId: string, tone: string, duration?: number, intertoneGap?: number): void
  getStats(callId: string, trackId?: string): Promise<Map<string, unknown>>
  replaceTrack(callId: string, trackId: string, media?: object): void
  getAvailableCodecs(kind: 'audio' | 'video'): Promise<RTCRtpCodec[]>
  setSdpHandlers(sdpHandlers: SdpHandlerFunction[]): void
  restartMedia(callId: string): void
  forward(callId: string, destination: string): void
  directTransfer(callId: string, destination: string): void
  consultativeTransfer(callId: string, otherCallId: string): void
  states: typeof CallStates
  mediaConnectionStates: typeof MediaConnectionStates
}

export interface MediaApi {
  getDevices(): DevicesObject
  getById(mediaId: string): MediaObject | undefined
  getTrackById(trackId: string): TrackObject | undefined
  initializeDevices(constraints?: { audio?: boolean; video?: boolean }): void
  renderTracks(trackIds: string[], cssSelector: string, options?: { speakerId?: string }): void
  removeTracks(trackIds: string[], cssSelector: string): void
  muteTracks(trackIds: string[]): void
  unmuteTracks(trackIds: string[]): void
}

/** The object `create` returns (sdk-api §2). */
export interface Api {
  getVersion(): string
  destroy(): void
  getConfig(): Config
  updateConfig(newConfigValues: ParleyConfigUpdate): void
  on(type: string, listener: (payload?: any) => void): void // eslint-disable-line @typescript-eslint/no-explicit-any
  off(type: string, listener: (payload?: any) => void): void // eslint-disable-line @typescript-eslint/no-explicit-any
  subscribe(listener: (type: string, args: unknown[]) => void): void
  unsubscribe(listener: (type: string, args: unknown[]) => void): void
  getUserInfo(): { username: string | undefined; token: string | undefined }
  setTokens(params: { accessToken: string; idToken: string }): void
  setCredentials(credentials: { bearerAccessToken?: string; accessToken?: string; idToken: string }): void
  getBrowserDetails(): BrowserDetails
  logger: { levels: typeof LogLevels }
  services: ServicesApi
  connection: ConnectionApi
  call: CallApi
  media: MediaApi
}

const arrayOfStrings = (v: unknown, what: string): string[] => {
  if (!Array.isArray(v)) throw new TypeError(`${what} must be an array of track ids`)
  return v.filter((x): x is string => typeof x === 'string')
}

/** Creates one independent SDK instance. Never throws because of configuration (sdk-api §1). */
export function createClient(input: unknown, deps: ClientDeps = {}): Api {
  const config = defaultConfig()
  const meta: ConfigMeta = { portExplicit: false }
  const logSettings = () => ({ level: config.logs.logLevel, handler: config.logs.handler ?? consoleHandler })
  const log = new Logger(logSettings, { type: 'parley', name: 'parley' })
  const warnConfig = (msg: string) => log.warn(`config: ${msg}`)
  mergeConfig(config, input, warnConfig, meta)
  if (!config.authentication.server.base) log.error('config: authentication.server.base is required')
  if (!config.authentication.clientCorrelator)
    log.error('config: authentication.clientCorrelator is required')
  if (config.connectivity.method.responsibleParty === 'server') {
    log.warn("config: connectivity.pingInterval is ignored with responsibleParty 'server'")
  }
  const parsedBase = parseBase(config.authentication.server.base ?? '')
  const basePort = parsedBase.port
  if (basePort !== undefined && meta.portExplicit) {
    log.warn(`config: authentication.server.base carries port ${basePort}; the explicit server.port wins`)
  }
  // Parley extension: a page served by the Parley server itself (`base: 'host:port'` equal to the page's
  // own host) talks to it with the page's scheme unless `server.protocol` says otherwise, so the seed demo
  // works over plain http in development as well as over https.
  const pageLocation = deps.location ?? (typeof location === 'undefined' ? undefined : location)
  if (!meta.protocolExplicit && !meta.portExplicit && basePort !== undefined && pageLocation) {
    if (pageLocation.host.toLowerCase() === `${parsedBase.host}:${basePort}`.toLowerCase()) {
      config.authentication.server.protocol = pageLocation.protocol === 'http:' ? 'http' : 'https'
    }
  }

  const bus = new EventBus((event, err) => log.error(`a listener of "${event}" threw`, err))
  const emit = (type: string, payload?: object) =>
    payload === undefined ? bus.emit(type) : bus.emit(type, payload)
  const doc = deps.document ?? (() => (typeof document === 'undefined' ? undefined : document))
  const userAgent = deps.userAgent ?? (typeof navigator === 'undefined' ? undefined : navigator.userAgent)
  const engine = deps.mediaEngine ?? createRtcEngine()
  const fetchImpl: FetchLike = deps.fetch ?? ((url, init) => fetch(url, init))
  const WebSocketImpl = deps.WebSocket ?? (globalThis as unknown as { WebSocket: SocketFactory }).WebSocket

  let tokens: Tokens | undefined
  let destroyed = false

  const rest = new RestClient({
    fetch: fetchImpl,
    origin: () => restOrigin(config.authentication.server, meta.portExplicit),
    accessToken: () => tokens?.accessToken,
    onAuthError: (error) => emit('request:error', { error }),
    agent: `parley-js-sdk/${VERSION}`,
    log: log.child('rest'),
  })
  const turn = new TurnCredentialsManager({
    rest,
    basePath: () =>
      tokens ? signalingPath(config.authentication.server.version, tokens.username) : undefined,
    correlator: () => config.authentication.clientCorrelator,
    log: log.child('turn'),
  })
  const tracks = new TrackRegistry()
  const renderer = new Renderer(doc, tracks, log.child('media'))
  const devices = new Devices(engine)
  const browser = browserDetails(userAgent)

  const calls = new CallManager({
    rest,
    engine,
    tracks,
    renderer,
    turn,
    config: () => config,
    tokens: () => tokens,
    isSubscribed: () => subscriptions.isSubscribed('call'),
    emit,
    defer: (fn) => bus.defer(fn),
    log: log.child('call'),
    version: VERSION,
    platform: () => `${browser.browser}/${browser.version ?? ''}`,
  })

  const subscriptions: Subscriptions = new Subscriptions({
    rest,
    WebSocket: WebSocketImpl,
    config: () => config,
    portExplicit: () => meta.portExplicit,
    tokens: () => tokens,
    log: log.child('subscription'),
    emit,
    onNotification: (kind, body) => calls.handleNotification(kind, body),
    onSubscribed: (service) => {
      // protocol.md §7.1: only with configured ICE servers and serverTurnCredentials.
      const c = config.call
      if (service === 'call' && c.serverTurnCredentials && c.defaultPeerConfig.iceServers.length > 0)
        void turn.start()
    },
    onUnsubscribed: (service) => {
      if (service === 'call') turn.stop()
    },
  })

  const refreshDevices = () =>
    devices.refresh().then(
      () => emit('devices:change'),
      (err: unknown) => log.debug('device enumeration failed', err),
    )
  const stopDeviceWatch = engine.onDeviceChange(() => void refreshDevices())
  devices.refresh().catch(() => undefined)

  // protocol.md §14.7: say goodbye (best-effort DELETE of live calls) when the page goes away.
  const win = deps.window ?? (typeof window === 'undefined' ? undefined : window)
  const onPageHide = () => calls.goodbye()
  win?.addEventListener('pagehide', onPageHide)

  /** Wraps an API function so it becomes a no-op after destroy (sdk-api §2.2). */
  const live =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R =>
      (destroyed ? undefined : fn(...args)) as R

  const setTokens = (accessToken: unknown, idToken: unknown) => {
    const t = readTokens(accessToken, idToken)
    if (!t) {
      log.error('setTokens: the id token could not be decoded (or a token is missing); tokens not stored')
      return
    }
    tokens = t
  }

  const socketState = (): WSConnectionObject => {
    const c = config.connectivity
    const socket = subscriptions.socket
    const server = config.authentication.server
    const { host, port } = parseBase(server.base ?? '')
    return {
      connected: socket?.state === 'connected',
      pinging: socket?.pinging ?? false,
      method: { ...c.method },
      platform: 'cpaas',
      pingInterval: c.pingInterval,
      reconnectLimit: c.reconnectLimit,
      reconnectDelay: c.reconnectDelay,
      reconnectTimeMultiplier: c.reconnectTimeMultiplier,
      reconnectTimeLimit: c.reconnectTimeLimit,
      autoReconnect: c.autoReconnect,
      maxMissedPings: c.maxMissedPings,
      webSocketOAuthMode: 'query',
      wsInfo: {
        protocol: server.protocol === 'http' ? 'ws' : 'wss',
        server: host,
        port: !meta.portExplicit && port !== undefined ? port : server.port,
        url: socket?.url ?? '',
        params: 'access_token',
      },
      lastContact: socket?.lastContact ?? 0,
    }
  }

  const api: Api = {
    getVersion: () => VERSION,
    destroy: live(() => {
      destroyed = true
      // Scheduled on the next task, so it is safe inside a listener (sdk-api §2.2).
      setTimeout(() => {
        bus.close()
        calls.destroy()
        renderer.clear()
        tracks.clear()
        subscriptions.destroy()
        turn.stop()
        stopDeviceWatch()
        win?.removeEventListener('pagehide', onPageHide)
      }, 0)
    }),
    getConfig: live(() => cloneConfig(config)),
    updateConfig: live((values: object) => {
      const before = config.connectivity.checkConnectivity
      mergeConfig(config, values, warnConfig, meta)
      if (config.connectivity.checkConnectivity !== before) {
        subscriptions.socket?.setConnectivityChecking(config.connectivity.checkConnectivity)
      }
    }),
    on: live((type: string, listener: AnyListener) => bus.on(type, listener)),
    off: live((type: string, listener: AnyListener) => bus.off(type, listener)),
    subscribe: live((listener: GlobalListener) => bus.subscribe(listener)),
    unsubscribe: live((listener: GlobalListener) => bus.unsubscribe(listener)),
    getUserInfo: live(() => ({ username: tokens?.username, token: tokens?.accessToken })),
    setTokens: live((params: { accessToken: string; idToken: string }) => {
      if (typeof params !== 'object' || params === null)
        throw new TypeError('setTokens: an object is required')
      setTokens(params.accessToken, params.idToken)
    }),
    setCredentials: live((c: { bearerAccessToken?: string; accessToken?: string; idToken: string }) => {
      if (typeof c !== 'object' || c === null) throw new TypeError('setCredentials: an object is required')
      setTokens(c.bearerAccessToken ?? c.accessToken, c.idToken)
    }),
    getBrowserDetails: live(() => ({ ...browser })),
    logger: { levels: LogLevels },
    services: {
      subscribe: live((services: unknown, options?: unknown) => subscriptions.subscribe(services, options)),
      unsubscribe: live((services: unknown, type?: unknown) => subscriptions.unsubscribe(services, type)),
      getSubscriptions: live(() => subscriptions.info()),
    },
    connection: {
      getSocketState: live((_platform?: string) => socketState()),
      enableConnectivityChecking: live((enable: boolean) => {
        config.connectivity.checkConnectivity = enable === true
        subscriptions.socket?.setConnectivityChecking(enable === true)
      }),
      resetConnection: live(() => subscriptions.socket?.reset()),
    },
    call: {
      make: live((destination: string, media: object, options?: object) =>
        calls.make(destination, media, options),
      ),
      answer: live((callId: string, media: object, options?: object) => calls.answer(callId, media, options)),
      reject: live((callId: string) => calls.reject(callId)),
      ignore: live((callId: string) => calls.ignore(callId)),
      sendRingingFeedback: live((callId: string) => calls.sendRingingFeedback(callId)),
      hold: live((callId: string) => calls.hold(callId)),
      unhold: live((callId: string) => calls.unhold(callId)),
      end: live((callId: string) => calls.end(callId)),
      getAll: live(() => calls.getAll()),
      getById: live((callId: string) => calls.getById(callId)),
      addMedia: live((callId: string, media?: object, options?: object) =>
        calls.addMedia(callId, media, options),
      ),
      removeMedia: live((callId: string, tracks: string[], options?: object) =>
        calls.removeMedia(callId, tracks, options),
      ),
      startVideo: live((callId: string, videoOptions?: object, options?: object) =>
        calls.startVideo(callId, videoOptions, options),
      ),
      stopVideo: live((callId: string) => calls.stopVideo(callId)),
      sendDTMF: live((callId: string, tone: string, duration?: number, gap?: number) =>
        calls.sendDTMF(callId, tone, duration, gap),
      ),
      getStats: live((callId: string, trackId?: string) => calls.getStats(callId, trackId)),
      replaceTrack: live((callId: string, trackId: string, media?: object) =>
        calls.replaceTrack(callId, trackId, media),
      ),
      getAvailableCodecs: live((kind: 'audio' | 'video') => calls.getAvailableCodecs(kind)),
      setSdpHandlers: live((handlers: SdpHandlerFunction[]) => {
        if (!Array.isArray(handlers)) throw new TypeError('setSdpHandlers: an array of functions is required')
        mergeConfig(config, { call: { sdpHandlers: handlers } }, warnConfig, meta)
      }),
      restartMedia: live((callId: string) => calls.restartMedia(callId)),
      forward: live((callId: string, destination: string) => calls.forward(callId, destination)),
      directTransfer: live((callId: string, destination: string) =>
        calls.directTransfer(callId, destination),
      ),
      consultativeTransfer: live((callId: string, otherCallId: string) =>
        calls.consultativeTransfer(callId, otherCallId),
      ),
      states: CallStates,
      mediaConnectionStates: MediaConnectionStates,
    },
    media: {
      getDevices: live(() => devices.get()),
      getById: live((mediaId: string) => tracks.mediaSnapshot(mediaId)),
      getTrackById: live((trackId: string) => tracks.snapshot(trackId)),
      initializeDevices: live((constraints?: { audio?: boolean; video?: boolean }) => {
        const audio = constraints?.audio !== false
        const video = constraints?.video !== false
        void devices.initialize(audio, video).then((error) => {
          if (error) emit('devices:error', { error })
          else emit('devices:change')
        })
      }),
      renderTracks: live((trackIds: string[], selector: string, options?: { speakerId?: string }) => {
        const ids = arrayOfStrings(trackIds, 'renderTracks: trackIds')
        if (typeof selector !== 'string') throw new TypeError('renderTracks: cssSelector must be a string')
        const error = renderer.render(ids, selector, options ?? {})
        emit('media:trackRendered', error ? { trackIds: ids, selector, error } : { trackIds: ids, selector })
      }),
      removeTracks: live((trackIds: string[], selector: string) => {
        const ids = arrayOfStrings(trackIds, 'removeTracks: trackIds')
        if (typeof selector !== 'string') throw new TypeError('removeTracks: cssSelector must be a string')
        renderer.remove(ids, selector)
      }),
      muteTracks: live((trackIds: string[]) =>
        setMuted(arrayOfStrings(trackIds, 'muteTracks: trackIds'), true),
      ),
      unmuteTracks: live((trackIds: string[]) =>
        setMuted(arrayOfStrings(trackIds, 'unmuteTracks: trackIds'), false),
      ),
    },
  }

  /** sdk-api §6.7: muted tracks produce silence/black frames (`enabled = false`); no signalling. */
  function setMuted(ids: string[], muted: boolean): void {
    const done: string[] = []
    for (const id of ids) {
      const entry = tracks.get(id)
      if (!entry) {
        log.warn(`${muted ? 'muteTracks' : 'unmuteTracks'}: unknown track ${id} ignored`)
        continue
      }
      entry.track.enabled = !muted
      entry.muted = muted
      done.push(id)
    }
    emit(muted ? 'media:muted' : 'media:unmuted', { tracks: [...done], trackIds: [...done] })
  }

  return api
}

/** `sdpHandlers` helper exported next to `create` (sdk-api §7). */
export const sdpHandlers = { createCodecRemover }
