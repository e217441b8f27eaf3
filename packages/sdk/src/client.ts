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
import type {
  BandwidthControls,
  CallMedia,
  CallOptions,
  SdpHandlerFunction,
  VideoOptions,
} from './core/types.js'
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

/** `connection.getSocketState()`: the notification websocket's state (sdk-api §4). */
export interface WSConnectionObject {
  /** The websocket is open. */
  connected: boolean
  /** Liveness checks (pings or keep-alives) are running. */
  pinging: boolean
  /** `connectivity.method` in force. */
  method: { type?: string; responsibleParty?: string }
  /** The platform, `'cpaas'`. */
  platform: string
  /** `connectivity.pingInterval` in force, in milliseconds. */
  pingInterval: number
  /** `connectivity.reconnectLimit` in force. */
  reconnectLimit: number
  /** `connectivity.reconnectDelay` in force, in milliseconds. */
  reconnectDelay: number
  /** `connectivity.reconnectTimeMultiplier` in force. */
  reconnectTimeMultiplier: number
  /** `connectivity.reconnectTimeLimit` in force, in milliseconds. */
  reconnectTimeLimit: number
  /** `connectivity.autoReconnect` in force. */
  autoReconnect: boolean
  /** `connectivity.maxMissedPings` in force. */
  maxMissedPings: number
  /** How the access token is passed to the websocket. */
  webSocketOAuthMode: string
  /** Where the websocket is (or was last) connected. */
  wsInfo: { protocol?: string; server?: string; port?: number; url?: string; params?: string }
  /** Time (ms since the epoch) of the last message from the server. */
  lastContact: number
}

/** `client.services`: subscriptions to the `call` service over a notification channel (sdk-api §3). */
export interface ServicesApi {
  /**
   * Subscribes to services, e.g. `subscribe(['call'], 'websocket')` (4.x) or
   * `subscribe([{ service: 'call' }], { type: 'websocket' })` (5.x). Emits `subscription:change`
   * when it starts and when it ends, `subscription:error` on failure.
   */
  subscribe(
    services: Array<string | { service: string; params?: object }>,
    options?: string | { type?: string },
  ): void
  /** Unsubscribes from services; the channel is closed with the last one. */
  unsubscribe(services: string[], type?: string): void
  /** The current subscriptions and whether an operation is pending. */
  getSubscriptions(): SubscriptionInfo
}

/** `client.connection`: the notification websocket (sdk-api §4). */
export interface ConnectionApi {
  /** The websocket's state. */
  getSocketState(platform?: string): WSConnectionObject
  /** Starts or stops the liveness checks at run time (`connectivity.checkConnectivity`). */
  enableConnectivityChecking(enable: boolean): void
  /** Closes the websocket and reconnects at once. */
  resetConnection(): void
}

/**
 * `client.call`: voice and video calls (sdk-api §5). No function throws because of the call's state:
 * a failure is reported through events (`call:start`, `call:stateChange`, `call:operation`, … with
 * `error`); an unknown `callId` fails with `call:7`.
 */
export interface CallApi {
  /**
   * Starts an outgoing call and returns its id at once (state `Initiating`); `call:start` reports
   * the outcome. Needs an active `call` subscription and at least one of `audio`, `video`, `screen`.
   */
  make(destination: string, media: CallMedia, options?: CallOptions): string
  /** Answers an incoming call in `Initiated` or `Ringing`; the call becomes `Connected`. */
  answer(callId: string, media: CallMedia, options?: CallOptions): void
  /** Declines an incoming call; the caller is told (transition 603). */
  reject(callId: string): void
  /** Drops an incoming call on this client only; the caller is not told. */
  ignore(callId: string): void
  /** With `ringingFeedbackMode: 'manual'`: tells the caller this client is alerting. */
  sendRingingFeedback(callId: string): void
  /** Holds the call from this side: media stops both ways, tracks are kept for `unhold`. */
  hold(callId: string): void
  /** Ends this side's hold; the call is `Connected` again unless the other side holds too. */
  unhold(callId: string): void
  /** Ends the call from any non-terminal state. */
  end(callId: string): void
  /** Snapshots of every call, ended ones included. */
  getAll(): CallObject[]
  /** A snapshot of one call, or `undefined` for an unknown id. */
  getById(callId: string): CallObject | undefined
  /** Adds local media (e.g. a second video or a screen) to a `Connected` call and renegotiates. */
  addMedia(callId: string, media?: CallMedia, options?: CallOptions): void
  /** Stops and removes local tracks of a `Connected` call and renegotiates. */
  removeMedia(callId: string, tracks: string[], options?: { bandwidth?: BandwidthControls }): void
  /** Adds camera video to a `Connected` call. */
  startVideo(callId: string, videoOptions?: VideoOptions, options?: CallOptions): void
  /** Removes the camera video of a `Connected` call. */
  stopVideo(callId: string): void
  /** Plays DTMF tones (`0-9`, `*`, `#`, `,` for a pause) into the call, RFC 4733 when negotiated. */
  sendDTMF(callId: string, tone: string, duration?: number, intertoneGap?: number): void
  /** `RTCStatsReport` of the call, or of one of its tracks; also emitted as `call:statsReceived`. */
  getStats(callId: string, trackId?: string): Promise<Map<string, unknown>>
  /** Replaces a local track by a new one of the same kind without renegotiation. */
  replaceTrack(callId: string, trackId: string, media?: CallMedia): void
  /** The browser's codecs of a kind; also emitted as `call:availableCodecs`. */
  getAvailableCodecs(kind: 'audio' | 'video'): Promise<RTCRtpCodec[]>
  /** Replaces `call.sdpHandlers` for later negotiations. */
  setSdpHandlers(sdpHandlers: SdpHandlerFunction[]): void
  /** Re-establishes the media connection (ICE restart), e.g. after `mediaConnectionState` became `'failed'`. */
  restartMedia(callId: string): void
  /** Forwards an incoming, unanswered call to another destination. */
  forward(callId: string, destination: string): void
  /** Blind transfer of a locally held call: its remote party is connected to `destination`. */
  directTransfer(callId: string, destination: string): void
  /** Announced transfer of two locally held calls: their remote parties are joined and both calls here end. */
  consultativeTransfer(callId: string, otherCallId: string): void
  /** The call state names, e.g. `states.CONNECTED === 'Connected'`. */
  states: typeof CallStates
  /** The media connection state names. */
  mediaConnectionStates: typeof MediaConnectionStates
}

/** `client.media`: devices, tracks and rendering (sdk-api §6). */
export interface MediaApi {
  /** The known input and output devices. */
  getDevices(): DevicesObject
  /** A media object by id. */
  getById(mediaId: string): MediaObject | undefined
  /** A local or remote track by id. */
  getTrackById(trackId: string): TrackObject | undefined
  /** Asks for microphone and camera permission ahead of a call and refreshes the device lists. */
  initializeDevices(constraints?: { audio?: boolean; video?: boolean }): void
  /** Renders tracks into the element matching a CSS selector, one `<audio>` or `<video>` per track. */
  renderTracks(trackIds: string[], cssSelector: string, options?: { speakerId?: string }): void
  /** Removes the elements rendering the tracks from that container; the tracks are not stopped. */
  removeTracks(trackIds: string[], cssSelector: string): void
  /** Mutes tracks: silence or black frames (a local track is muted for the remote party too). */
  muteTracks(trackIds: string[]): void
  /** Unmutes tracks. */
  unmuteTracks(trackIds: string[]): void
}

/** The object `create` returns: one SDK instance (sdk-api §2). */
export interface Api {
  /** The SDK's version. */
  getVersion(): string
  /** Ends every call, closes the websocket and releases the instance (on the next task). */
  destroy(): void
  /** A copy of the effective configuration, defaults and normalisations applied. */
  getConfig(): Config
  /** Merges values into the configuration, key by key; invalid values are logged and ignored. */
  updateConfig(newConfigValues: ParleyConfigUpdate): void
  /**
   * Adds a listener of one event type, e.g. `call:receive`, `call:stateChange`, `call:tracksAdded`,
   * `subscription:change`, `ws:change`, `media:trackRendered`, `request:error` (sdk-api §2.5, §3.4, §5.4, §6.8).
   * The listener gets the event's payload object.
   *
   * **[Parley extension]** Call quality (README "Call quality", `call.quality` configuration):
   * `call:qualityChange` `{ callId, sample }` with a `QualitySample` every `call.quality.interval` ms
   * while the call is `Connected`; `call:qualityWarning` `{ callId, warning, value, threshold }` and
   * `call:qualityWarningCleared` `{ callId, warning }` with a `QualityWarningName`.
   */
  on(type: string, listener: (payload?: any) => void): void // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Removes a listener added with `on`. */
  off(type: string, listener: (payload?: any) => void): void // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Adds a listener of every event; it gets the event type and its arguments. */
  subscribe(listener: (type: string, args: unknown[]) => void): void
  /** Removes a listener added with `subscribe`. */
  unsubscribe(listener: (type: string, args: unknown[]) => void): void
  /** The current user's id (from the id token) and access token; `undefined` before `setTokens`. */
  getUserInfo(): { username: string | undefined; token: string | undefined }
  /** Stores the access and id tokens (from the server's token endpoint) for every request; call again to renew. */
  setTokens(params: { accessToken: string; idToken: string }): void
  /** 4.x name of `setTokens` (`bearerAccessToken` or `accessToken`). */
  setCredentials(credentials: { bearerAccessToken?: string; accessToken?: string; idToken: string }): void
  /** The browser's name and version. */
  getBrowserDetails(): BrowserDetails
  /** Log level names for `logs.logLevel`. */
  logger: { levels: typeof LogLevels }
  /** Service subscriptions. */
  services: ServicesApi
  /** The notification websocket. */
  connection: ConnectionApi
  /** Calls. */
  call: CallApi
  /** Devices, tracks and rendering. */
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

/** SDP handler factories (sdk-api §7): `createCodecRemover(codecs)` makes a handler that strips codecs. */
export const sdpHandlers = { createCodecRemover }
