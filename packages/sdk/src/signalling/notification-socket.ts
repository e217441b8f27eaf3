/**
 * The notification websocket of one channel (protocol.md §5.3–5.6): opening with retries,
 * connCheck/connAck keepalive, loss detection, reconnect with backoff and duplicate dropping.
 * It moves frames only; what a notification means is decided elsewhere.
 */
import { classifyFrame } from '@parley/protocol/notifications'
import { Emitter } from '../core/emitter.js'
import type { ConnectivityConfig } from '../core/config.js'
import type { Logger } from '../core/logger.js'
import { IdCache } from './id-cache.js'
import { openTimeout, reconnectDelay } from './backoff.js'

/** The part of the browser WebSocket the SDK uses. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code?: number }) => void) | null
  onerror: ((ev: unknown) => void) | null
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
}
export type SocketFactory = new (url: string) => SocketLike

/**
 * Socket states. One guarded `#transition` assigns the state.
 *
 *   disconnected ──connect()──▶ connecting ──open──▶ connected
 *        ▲                       │     ▲                 │ link lost
 *        │ gave up / close()     ▼     │ retry timer     ▼
 *        └───────────────────── waiting ◀───────────────┘
 *   (close() moves any state to disconnected)
 */
export type SocketState = 'disconnected' | 'connecting' | 'connected' | 'waiting'

export const SOCKET_MOVES: Record<SocketState, readonly SocketState[]> = {
  disconnected: ['connecting'],
  connecting: ['connected', 'waiting', 'disconnected'],
  connected: ['waiting', 'disconnected'],
  waiting: ['connecting', 'disconnected'],
}

export interface SocketEvents {
  [event: string]: unknown
  state: { state: SocketState; previous: SocketState }
  notification: { kind: string; body: Record<string, unknown> & { id: string } }
  /** The link was lost after having been up, and reconnecting gave up (or is disabled). */
  lost: Record<string, never>
}

export interface SocketDeps {
  WebSocket: SocketFactory
  connectivity: () => ConnectivityConfig
  idCacheLength: () => number
  log: Logger
}

/** Before the server's first connCheck, `server` mode allows 3 × 120 s of silence (protocol.md §5.4). */
const DEFAULT_SERVER_INTERVAL_S = 120

export class NotificationSocket {
  readonly events: Emitter<SocketEvents>
  readonly #deps: SocketDeps
  readonly #ids: IdCache
  #state: SocketState = 'disconnected'
  #ws: SocketLike | undefined
  #url: (() => string) | undefined
  #attemptId = 0
  #failures = 0
  #everConnected = false
  #pending: { resolve: () => void; reject: (err: Error) => void } | undefined
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #openTimer: ReturnType<typeof setTimeout> | undefined
  #pingTimer: ReturnType<typeof setInterval> | undefined
  #watchdog: ReturnType<typeof setTimeout> | undefined
  #pinging = false
  #missed = 0
  #checking = true
  #lastContact = 0
  #currentUrl = ''

  constructor(deps: SocketDeps) {
    this.#deps = deps
    this.#ids = new IdCache(deps.idCacheLength)
    this.events = new Emitter<SocketEvents>((event, err) =>
      deps.log.error(`listener of socket ${event} threw`, err),
    )
    this.#checking = deps.connectivity().checkConnectivity
  }

  get state(): SocketState {
    return this.#state
  }

  /** An outstanding ping waits for its pong. */
  get pinging(): boolean {
    return this.#pinging
  }

  /** ms since epoch of the last frame received. */
  get lastContact(): number {
    return this.#lastContact
  }

  /** URL of the current connection, without its token. */
  get url(): string {
    return this.#currentUrl.split('?')[0] ?? ''
  }

  /**
   * Opens the socket. `url` is called before every attempt, so a reconnect uses the newest access
   * token (protocol.md §14.2). Resolves once open; rejects when all attempts failed.
   */
  connect(url: () => string): Promise<void> {
    if (this.#state !== 'disconnected') return Promise.reject(new Error('Socket already in use'))
    this.#url = url
    this.#failures = 0
    this.#everConnected = false
    return new Promise<void>((resolve, reject) => {
      this.#pending = { resolve, reject }
      this.#attempt()
    })
  }

  /** Closes the socket on purpose (no status code, protocol.md §5.5); no reconnect. Idempotent. */
  close(): void {
    this.#attemptId++
    this.#clearTimers()
    this.#dispose(this.#ws)
    this.#ws = undefined
    if (this.#state !== 'disconnected') this.#transition('disconnected')
    const pending = this.#pending
    this.#pending = undefined
    pending?.reject(new Error('Socket closed'))
  }

  /** Drops the current connection and reconnects at once through the normal loss path (sdk-api §4). */
  reset(): void {
    if (this.#state !== 'connected') return
    this.#attemptId++
    this.#stopKeepalive()
    this.#dispose(this.#ws)
    this.#ws = undefined
    this.#failures = 0
    this.#transition('waiting')
    this.#retryTimer = setTimeout(() => this.#attempt(), 0)
  }

  /** Turns pings/keep-alives on or off at run time (sdk-api §4). */
  setConnectivityChecking(enable: boolean): void {
    this.#checking = enable
    if (this.#state !== 'connected') return
    this.#stopKeepalive()
    if (enable) this.#startKeepalive()
  }

  /** Sends one JSON frame; false when no socket is open. */
  send(frame: unknown): boolean {
    const ws = this.#ws
    if (!ws || this.#state !== 'connected') return false
    try {
      ws.send(JSON.stringify(frame))
      return true
    } catch (err) {
      this.#deps.log.warn('websocket send failed', err)
      return false
    }
  }

  #transition(to: SocketState): void {
    const from = this.#state
    if (!SOCKET_MOVES[from].includes(to)) throw new Error(`Illegal socket transition ${from} → ${to}`)
    this.#state = to
    this.#deps.log.debug(`websocket ${from} → ${to}`)
    this.events.emit('state', { state: to, previous: from })
  }

  #attempt(): void {
    this.#retryTimer = undefined
    if (!this.#url) return
    this.#transition('connecting')
    const id = ++this.#attemptId
    let ws: SocketLike
    try {
      this.#currentUrl = this.#url()
      ws = new this.#deps.WebSocket(this.#currentUrl)
    } catch (err) {
      this.#deps.log.warn('websocket could not be created', err)
      this.#attemptFailed()
      return
    }
    this.#ws = ws
    this.#openTimer = setTimeout(() => {
      if (id !== this.#attemptId || this.#state !== 'connecting') return
      this.#deps.log.warn('websocket open timed out')
      this.#dispose(ws)
      this.#ws = undefined
      this.#attemptFailed()
    }, openTimeout(this.#deps.connectivity()))
    ws.onopen = () => {
      if (id !== this.#attemptId) return
      clearTimeout(this.#openTimer)
      this.#failures = 0
      this.#lastContact = Date.now()
      this.#transition('connected')
      this.#everConnected = true
      this.#startKeepalive()
      const pending = this.#pending
      this.#pending = undefined
      pending?.resolve()
    }
    ws.onmessage = (ev) => {
      if (id === this.#attemptId) this.#onFrame(ev.data)
    }
    ws.onerror = () => {
      if (id !== this.#attemptId || this.#state !== 'connecting') return
      // Before open an error fails the attempt; once open, the close event that follows decides.
      clearTimeout(this.#openTimer)
      this.#dispose(ws)
      this.#ws = undefined
      this.#attemptFailed()
    }
    ws.onclose = (ev) => {
      if (id !== this.#attemptId) return
      this.#ws = undefined
      clearTimeout(this.#openTimer)
      if (this.#state === 'connecting') this.#attemptFailed()
      else if (this.#state === 'connected') {
        this.#deps.log.info(`websocket closed by the server (code ${ev?.code ?? 'none'})`)
        this.#lost()
      }
    }
  }

  #attemptFailed(): void {
    this.#attemptId++
    this.#failures++
    const cfg = this.#deps.connectivity()
    if (cfg.reconnectLimit > 0 && this.#failures >= cfg.reconnectLimit) {
      this.#giveUp()
      return
    }
    // The first connect retries after delay(0); a reconnect after a loss already waited delay(0).
    const n = this.#everConnected ? this.#failures : this.#failures - 1
    this.#transition('waiting')
    this.#retryTimer = setTimeout(() => this.#attempt(), reconnectDelay(cfg, n))
  }

  #lost(): void {
    this.#attemptId++
    this.#stopKeepalive()
    this.#dispose(this.#ws)
    this.#ws = undefined
    const cfg = this.#deps.connectivity()
    if (!cfg.autoReconnect) {
      this.#giveUp()
      return
    }
    this.#failures = 0
    this.#transition('waiting')
    this.#retryTimer = setTimeout(() => this.#attempt(), reconnectDelay(cfg, 0))
  }

  #giveUp(): void {
    this.#clearTimers()
    this.#transition('disconnected')
    const pending = this.#pending
    this.#pending = undefined
    if (pending) pending.reject(new Error('The websocket could not be opened'))
    else this.events.emit('lost', {})
  }

  #onFrame(data: unknown): void {
    this.#lastContact = Date.now()
    if (typeof data !== 'string') return
    let parsed: unknown
    try {
      parsed = JSON.parse(data)
    } catch {
      this.#deps.log.warn('non-JSON websocket frame ignored')
      return
    }
    const frame = classifyFrame(parsed)
    const cfg = this.#deps.connectivity()
    switch (frame.type) {
      case 'connCheck':
        // In `client` mode a server ping is ignored (§5.4); in `server` mode it is answered.
        if (cfg.method.responsibleParty === 'server') {
          this.send({ connAck: {} })
          this.#armWatchdog(frame.interval ?? DEFAULT_SERVER_INTERVAL_S)
        }
        return
      case 'connAck':
        this.#pinging = false
        this.#missed = 0
        return
      case 'notification':
        if (!this.#ids.add(frame.body.id)) {
          this.#deps.log.debug(`duplicate notification ${frame.body.id} dropped`)
          return
        }
        this.events.emit('notification', { kind: frame.kind, body: frame.body })
        return
      default:
        return
    }
  }

  #startKeepalive(): void {
    this.#pinging = false
    this.#missed = 0
    if (!this.#checking) return
    const cfg = this.#deps.connectivity()
    if (cfg.method.responsibleParty === 'server') {
      this.#armWatchdog(DEFAULT_SERVER_INTERVAL_S)
      return
    }
    if (cfg.method.type === 'keepAlive') {
      this.#pingTimer = setInterval(() => this.send({ message_type: 'ping' }), cfg.pingInterval)
      return
    }
    const interval = Math.max(1, Math.round(cfg.pingInterval / 1000))
    const ping = () => {
      this.#pinging = true
      this.send({ connCheck: { interval } })
    }
    ping()
    this.#pingTimer = setInterval(() => {
      if (this.#pinging) {
        this.#missed++
        if (this.#missed >= this.#deps.connectivity().maxMissedPings) {
          this.#deps.log.warn(`no connAck for ${this.#missed} pings: websocket declared lost`)
          this.#lost()
          return
        }
      }
      ping()
    }, cfg.pingInterval)
  }

  #armWatchdog(intervalS: number): void {
    clearTimeout(this.#watchdog)
    this.#watchdog = setTimeout(() => {
      if (this.#state !== 'connected') return
      this.#deps.log.warn('no connCheck from the server: websocket declared lost')
      this.#lost()
    }, intervalS * 3000)
  }

  #stopKeepalive(): void {
    clearInterval(this.#pingTimer)
    clearTimeout(this.#watchdog)
    this.#pingTimer = undefined
    this.#watchdog = undefined
    this.#pinging = false
    this.#missed = 0
  }

  #clearTimers(): void {
    this.#stopKeepalive()
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#openTimer)
    this.#retryTimer = undefined
  }

  #dispose(ws: SocketLike | undefined): void {
    if (!ws) return
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
    try {
      ws.close()
    } catch {
      // already closed
    }
  }
}
