/**
 * Service subscriptions and their notification channel (sdk-api §3, protocol.md §5.1, §6).
 * Subscribes and unsubscribes run one at a time. The channel and its websocket are created on the
 * first subscribe and removed when nothing is subscribed any more.
 */
import { channelIdFromResourceUrl, subscriptionIdFromResourceUrl } from '@parley/protocol/paths'
import { AsyncQueue } from '../core/async-queue.js'
import type { Config } from '../core/config.js'
import { SdkError, toBasicError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { Tokens } from '../core/tokens.js'
import { NotificationSocket, type SocketFactory, type SocketState } from './notification-socket.js'
import type { RestClient } from './rest.js'
import { channelsPath, signalingPath, socketUrl } from './urls.js'

/** Services this SDK can subscribe to (Parley v1). */
export const AVAILABLE_SERVICES: readonly string[] = ['call']

export interface SubscriptionDeps {
  rest: RestClient
  WebSocket: SocketFactory
  config: () => Config
  portExplicit: () => boolean
  tokens: () => Tokens | undefined
  log: Logger
  /** Public events: `subscription:*`, `ws:change`. */
  emit: (type: string, payload: object) => void
  onNotification: (kind: string, body: Record<string, unknown> & { id: string }) => void
  /** A service became subscribed (e.g. `call` → fetch TURN credentials, protocol.md §6.1 step 5). */
  onSubscribed: (service: string) => void
  /** A service stopped being subscribed, on request or because the channel was lost. */
  onUnsubscribed: (service: string) => void
}

interface ChannelRecord {
  resourceURL: string
  callbackURL: string
  channelURL: string
  channelType: string
  lifetime: number
}

interface ChannelReply {
  notificationChannel?: {
    resourceURL?: unknown
    callbackURL?: unknown
    channelData?: { channelURL?: unknown }
    channelType?: unknown
    channelLifetime?: unknown
  }
}

/** Snapshot for `services.getSubscriptions()`. */
export interface SubscriptionInfo {
  subscribed: string[]
  available: string[]
  isPending: boolean
}

export class Subscriptions {
  readonly #deps: SubscriptionDeps
  readonly #queue = new AsyncQueue()
  #channel: ChannelRecord | undefined
  #socket: NotificationSocket | undefined
  #subs = new Map<string, string>()
  #pending = 0
  #refreshTimer: ReturnType<typeof setTimeout> | undefined
  #destroyed = false

  constructor(deps: SubscriptionDeps) {
    this.#deps = deps
  }

  /** The notification socket, while a channel exists. */
  get socket(): NotificationSocket | undefined {
    return this.#socket
  }

  /** True when `service` has an active subscription. */
  isSubscribed(service: string): boolean {
    return this.#subs.has(service)
  }

  info(): SubscriptionInfo {
    return {
      subscribed: [...this.#subs.keys()],
      available: [...AVAILABLE_SERVICES],
      isPending: this.#pending > 0,
    }
  }

  /** `services.subscribe` in both forms (sdk-api §3.1). */
  subscribe(services: unknown, options?: unknown): void {
    if (!Array.isArray(services)) throw new TypeError('services.subscribe: "services" must be an array')
    const type =
      typeof options === 'string'
        ? options
        : typeof options === 'object' &&
            options !== null &&
            typeof (options as { type?: unknown }).type === 'string'
          ? (options as { type: string }).type
          : 'websocket'
    const names: string[] = []
    for (const entry of services as unknown[]) {
      const name =
        typeof entry === 'string'
          ? entry
          : typeof entry === 'object' && entry !== null
            ? (entry as { service?: unknown }).service
            : undefined
      if (typeof name !== 'string') {
        this.#deps.log.warn('services.subscribe: invalid service entry ignored', entry)
        continue
      }
      if (!AVAILABLE_SERVICES.includes(name)) {
        this.#deps.log.warn(`services.subscribe: service "${name}" is not offered by Parley; skipped`)
        continue
      }
      if (!names.includes(name)) names.push(name)
    }
    if (type !== 'websocket') {
      this.#fail('subscription:5', `Subscription type "${type}" is not supported; use "websocket"`)
      return
    }
    if (names.length === 0) {
      this.#fail('subscription:5', 'None of the requested services is supported')
      return
    }
    if (!this.#deps.tokens()) {
      this.#fail('subscription:5', 'No tokens: call setTokens before subscribing')
      return
    }
    this.#runOp(() => this.#doSubscribe(names))
  }

  /** `services.unsubscribe` (sdk-api §3.2). */
  unsubscribe(services: unknown, type: unknown = 'websocket'): void {
    if (!Array.isArray(services)) throw new TypeError('services.unsubscribe: "services" must be an array')
    if (type !== 'websocket') {
      this.#fail('subscription:6', `Subscription type "${String(type)}" is not supported`)
      return
    }
    const names = (services as unknown[]).filter((s): s is string => typeof s === 'string')
    this.#runOp(() => this.#doUnsubscribe(names))
  }

  /** Closes the socket and, best effort, deletes the channel. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#queue.close()
    const channel = this.#channel
    this.#dropChannel()
    if (channel) this.#deleteChannel(channel, true)
  }

  #fail(code: string, message: string): void {
    this.#deps.emit('subscription:error', { error: { code, message } })
  }

  #runOp(op: () => Promise<void>): void {
    this.#pending++
    this.#deps.emit('subscription:change', {})
    const timeoutMs = this.#deps.config().subscription.timeout * 1000
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new SdkError('subscription:5', `Subscription operation timed out after ${timeoutMs} ms`)),
        timeoutMs,
      )
    })
    const task = this.#queue.run(() => {
      // The timeout counts from when the operation starts, not while it waits in the queue.
      return Promise.race([op(), timeout])
    })
    task.then(
      () => {
        clearTimeout(timer)
        this.#pending--
        if (!this.#destroyed) this.#deps.emit('subscription:change', {})
      },
      (err: unknown) => {
        clearTimeout(timer)
        this.#pending--
        if (this.#destroyed) return
        this.#deps.log.warn('subscription operation failed', err)
        this.#deps.emit('subscription:error', { error: toBasicError(err, 'subscription:5') })
      },
    )
    // The racing timeout promise may reject after the op settled; nothing listens to it then.
    timeout.catch(() => undefined)
  }

  async #doSubscribe(names: string[]): Promise<void> {
    await this.#ensureChannel()
    const channel = this.#channel!
    const tokens = this.#deps.tokens()
    if (!tokens) throw new SdkError('subscription:5', 'No tokens')
    const base = signalingPath(this.#deps.config().authentication.server.version, tokens.username)
    for (const name of names) {
      if (this.#subs.has(name)) continue
      let reply: { wrtcsNotificationSubscription?: { resourceURL?: unknown } }
      try {
        reply = await this.#deps.rest.request('POST', `${base}/subscriptions`, {
          wrtcsNotificationSubscription: {
            callbackReference: { notifyURL: channel.callbackURL },
            clientCorrelator: this.#deps.config().authentication.clientCorrelator,
          },
        })
      } catch (err) {
        throw new SdkError(
          'subscription:5',
          `Subscription to "${name}" failed: ${toBasicError(err, 'subscription:5').message}`,
        )
      }
      const url = reply.wrtcsNotificationSubscription?.resourceURL
      if (typeof url !== 'string' || !subscriptionIdFromResourceUrl(url)) {
        throw new SdkError('subscription:5', 'Subscription reply without a resourceURL')
      }
      if (this.#destroyed || this.#channel !== channel) return
      this.#subs.set(name, url)
      this.#deps.onSubscribed(name)
    }
  }

  async #doUnsubscribe(names: string[]): Promise<void> {
    for (const name of names) {
      const url = this.#subs.get(name)
      if (!url) continue
      try {
        await this.#deps.rest.request('DELETE', url)
      } catch (err) {
        // "Not found" counts as success (protocol.md §6.3).
        if (!(err instanceof SdkError && err.status === 404)) {
          throw new SdkError(
            'subscription:6',
            `Unsubscribe from "${name}" failed: ${toBasicError(err, 'subscription:6').message}`,
          )
        }
      }
      this.#subs.delete(name)
      this.#deps.onUnsubscribed(name)
    }
    if (this.#subs.size === 0 && this.#channel) {
      const channel = this.#channel
      this.#dropChannel()
      this.#deleteChannel(channel, false)
    }
  }

  async #ensureChannel(): Promise<void> {
    if (this.#channel && this.#socket && this.#socket.state !== 'disconnected') return
    const cfg = this.#deps.config()
    const tokens = this.#deps.tokens()
    if (!tokens) throw new SdkError('subscription:5', 'No tokens')
    if (!cfg.authentication.server.base)
      throw new SdkError('subscription:2', 'authentication.server.base is not configured')
    let reply: ChannelReply
    try {
      reply = await this.#deps.rest.request<ChannelReply>(
        'POST',
        channelsPath(cfg.authentication.server.version, tokens.username),
        {
          notificationChannel: {
            channelLifetime: cfg.subscription.channelLifetime,
            channelType: 'Websockets',
            clientCorrelator: cfg.authentication.clientCorrelator,
            'x-connCheckRole': cfg.connectivity.method.responsibleParty,
          },
        },
      )
    } catch (err) {
      throw new SdkError(
        'subscription:2',
        `Channel creation failed: ${toBasicError(err, 'subscription:2').message}`,
      )
    }
    const nc = reply.notificationChannel
    const resourceURL = nc?.resourceURL
    const callbackURL = nc?.callbackURL
    const channelURL = nc?.channelData?.channelURL
    if (
      typeof resourceURL !== 'string' ||
      typeof callbackURL !== 'string' ||
      typeof channelURL !== 'string'
    ) {
      throw new SdkError('subscription:2', 'Channel reply lacks resourceURL, callbackURL or channelURL')
    }
    // §6.1 step 2: the segment before /channels/ must name the logged-in user.
    const owner = resourceURL.slice(0, resourceURL.indexOf('/channels/')).split('/').pop()
    if (owner !== tokens.username || !channelIdFromResourceUrl(resourceURL)) {
      throw new SdkError('subscription:2', 'Channel reply names another user')
    }
    const lifetime =
      typeof nc?.channelLifetime === 'number' ? nc.channelLifetime : cfg.subscription.channelLifetime
    const channel: ChannelRecord = {
      resourceURL,
      callbackURL,
      channelURL,
      channelType: typeof nc?.channelType === 'string' ? nc.channelType : 'websockets',
      lifetime,
    }
    const socket = this.#makeSocket()
    this.#channel = channel
    this.#socket = socket
    try {
      await socket.connect(() => {
        const c = this.#deps.config()
        const token = this.#deps.tokens()?.accessToken ?? tokens.accessToken
        return socketUrl(c.authentication.server, this.#deps.portExplicit(), channelURL, token)
      })
    } catch (err) {
      if (this.#channel === channel) this.#dropChannel()
      this.#deleteChannel(channel, false)
      throw new SdkError(
        'subscription:1',
        `The websocket could not be opened: ${toBasicError(err, 'subscription:1').message}`,
      )
    }
    this.#scheduleRefresh(channel)
  }

  #makeSocket(): NotificationSocket {
    const socket = new NotificationSocket({
      WebSocket: this.#deps.WebSocket,
      connectivity: () => this.#deps.config().connectivity,
      idCacheLength: () => this.#deps.config().notifications.idCacheLength,
      log: this.#deps.log.child('websocket'),
    })
    socket.events.on('state', ({ state }: { state: SocketState }) => {
      if (this.#socket === socket || state === 'disconnected')
        this.#deps.emit('ws:change', { platform: 'cpaas' })
    })
    socket.events.on('notification', ({ kind, body }) => {
      if (this.#socket === socket) this.#deps.onNotification(kind, body)
    })
    socket.events.on('lost', () => {
      if (this.#socket !== socket) return
      // sdk-api §1.3: reconnecting gave up → subscriptions dropped locally.
      const channel = this.#channel
      this.#dropChannel()
      if (channel) this.#deleteChannel(channel, false)
      this.#deps.emit('subscription:change', { reason: 'LOST_CONNECTION' })
    })
    return socket
  }

  /** Forgets the channel, its socket and subscriptions locally. */
  #dropChannel(): void {
    clearTimeout(this.#refreshTimer)
    this.#refreshTimer = undefined
    const socket = this.#socket
    this.#socket = undefined
    this.#channel = undefined
    socket?.close()
    const names = [...this.#subs.keys()]
    this.#subs.clear()
    for (const name of names) this.#deps.onUnsubscribed(name)
  }

  #deleteChannel(channel: ChannelRecord, keepalive: boolean): void {
    // protocol.md §5.2/§6.4: only for a `websockets` channel; the reply is only logged.
    if (channel.channelType !== 'websockets') return
    this.#deps.rest
      .request('DELETE', channel.resourceURL, undefined, { keepalive })
      .catch((err: unknown) => this.#deps.log.info('channel delete failed', err))
  }

  /** Parley extra (protocol.md §14.3): extend the channel before its lifetime runs out. */
  #scheduleRefresh(channel: ChannelRecord): void {
    clearTimeout(this.#refreshTimer)
    const delay = Math.min(channel.lifetime * 800, 2_147_000_000)
    this.#refreshTimer = setTimeout(() => {
      if (this.#channel !== channel) return
      this.#deps.rest
        .request('PUT', `${channel.resourceURL}/channelLifetime`, {
          notificationChannelLifetime: { channelLifetime: channel.lifetime },
        })
        .then(
          () => this.#scheduleRefresh(channel),
          (err: unknown) => {
            if (err instanceof SdkError && err.status === 404) {
              // An older server without the optional refresh: the channel lives while its socket does.
              this.#deps.log.info('channel refresh not supported by the server')
              return
            }
            this.#deps.emit('subscription:error', {
              error: { code: 'subscription:4', message: toBasicError(err, 'subscription:4').message },
            })
            this.#scheduleRefresh(channel)
          },
        )
    }, delay)
  }
}
