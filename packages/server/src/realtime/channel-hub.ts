import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { CHANNEL_SOCKET_PATH, CONN_ACK, classifyFrame } from '@parley/protocol'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Bus } from '../bus/types.js'
import type { ChannelService } from '../services/channels.js'
import type { ServiceContext } from '../services/context.js'
import { channelTopic, CLOSE, wakeSeq, type Notifier } from '../services/notifier.js'
import type { Channel, OutboxFrame } from '../store/types.js'

/** Close code for shutdown and removed channels: clients reconnect after it (protocol §5.5; never 1000). */
export const CLOSE_GOING_AWAY = 1001

/** Channels pinged per slice of a keepalive sweep. */
const KEEPALIVE_BATCH = 500
/** Channels touched in the store per write. */
const TOUCH_BATCH = 200

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

interface LiveSocket {
  ws: WebSocket
  alive: boolean
  /**
   * False until the socket's replay (§5.7) has been sent: queued frames go to it only after that, so that a wake
   * arriving while it attaches can neither overtake the replay nor make the replay repeat what it just got.
   */
  replayed: boolean
}

interface LocalChannel {
  channel: Channel
  sockets: Set<LiveSocket>
  unsubscribe: () => Promise<void>
  /** Serialises replay and drains, so frames leave in queue order (protocol §5.7, §11.2). */
  chain: Promise<void>
  /**
   * Every frame of the channel up to this seq is delivered (this node sent it, or it was marked before);
   * undefined until a drain has seen a frame. Lets frames queued by this node go out without a queue read.
   */
  deliveredUpTo: number | undefined
  /** When this node last recorded the channel as active in the store (§5.8). */
  touchedAt: number
}

/**
 * The websocket side of notification channels (protocol §5.3–§5.7): upgrades, keepalive, and delivery of
 * each channel's durable queue in order. Listens on the bus for "new frames" of the channels it holds.
 */
export class ChannelHub {
  readonly #ctx: ServiceContext
  readonly #bus: Bus
  readonly #channels: ChannelService
  readonly #notifier: Notifier | undefined
  readonly #wss: WebSocketServer
  readonly #local = new Map<string, LocalChannel>()
  #pingTimer: NodeJS.Timeout | undefined
  #touchTimer: NodeJS.Timeout | undefined
  /** A touch round is running. */
  #touching = false
  #closing = false
  /** A keepalive sweep is running (a slow one must not overlap the next). */
  #sweeping = false
  /**
   * Delivery marks not yet written: channel id → highest seq sent. Written together once per event-loop
   * turn (one store write for every channel served in that turn instead of one each), and always before
   * this node reads a channel's queue again, so no read ever sees a sent frame as undelivered.
   */
  #marks = new Map<string, number>()
  #marksScheduled = false
  #marksWritten: Promise<void> = Promise.resolve()
  /** A write of the marks is chained and has not taken them yet: marks made meanwhile go with it. */
  #marksQueued = false

  constructor(ctx: ServiceContext, channels: ChannelService, notifier?: Notifier) {
    this.#ctx = ctx
    this.#bus = ctx.bus
    this.#channels = channels
    this.#notifier = notifier
    notifier?.setLocalDelivery((channelId, frames) => this.#deliverQueued(channelId, frames))
    // No subprotocol (§2.3); frames above the limit close the socket with 1009.
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.config.maxFrameBytes,
      perMessageDeflate: false,
    })
  }

  /** Starts keepalive: RFC 6455 pings, server-role connChecks, and channel touches. */
  start(): void {
    this.#pingTimer = setInterval(() => void this.#keepalive(), this.#ctx.config.timings.socketPingMs)
    this.#pingTimer.unref()
    this.#touchTimer = setInterval(
      () => void this.#touchDue(),
      Math.max(50, Math.floor(this.#touchEveryMs() / 4)),
    )
    this.#touchTimer.unref()
  }

  /** Number of open sockets on this node. */
  get socketCount(): number {
    let n = 0
    for (const c of this.#local.values()) n += c.sockets.size
    return n
  }

  /** Handles an HTTP upgrade request; anything but a channel socket path is refused with 404. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    void this.#upgrade(req, socket, head).catch((err: unknown) => {
      this.#ctx.log.error({ err }, 'websocket upgrade failed')
      refuse(socket, 500)
    })
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy())
    if (this.#closing) return refuse(socket, 503)
    const url = new URL(req.url ?? '/', 'http://localhost')
    const match = CHANNEL_SOCKET_PATH.exec(url.pathname)
    if (!match) return refuse(socket, 404)
    const [, username, channelId] = match as unknown as [string, string, string]
    const auth = await this.#channels.authorizeSocket(
      username,
      channelId,
      url.searchParams.get('access_token') ?? undefined,
    )
    if (!auth.ok) {
      this.#ctx.log.info({ channelId, status: auth.status, reason: auth.reason }, 'websocket upgrade refused')
      return refuse(socket, auth.status)
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => void this.#attach(auth.channel, ws))
  }

  async #attach(channel: Channel, ws: WebSocket): Promise<void> {
    const live: LiveSocket = { ws, alive: true, replayed: false }
    let local = this.#local.get(channel.id)
    if (!local) {
      local = {
        channel,
        sockets: new Set(),
        unsubscribe: async () => {},
        chain: Promise.resolve(),
        deliveredUpTo: undefined,
        touchedAt: 0,
      }
      this.#local.set(channel.id, local)
      const entry = local
      entry.unsubscribe = await this.#bus.subscribe(channelTopic(channel.id), (message) => {
        if (message === CLOSE) this.#closeChannel(channel.id)
        else this.#drain(entry, wakeSeq(message))
      })
    }
    local.sockets.add(live)
    ws.on('pong', () => (live.alive = true))
    ws.on('message', (data, isBinary) => this.#onFrame(live, data, isBinary))
    const openedAt = Date.now()
    this.#ctx.log.info({ channelId: channel.id, user: channel.username }, 'websocket connected')
    this.#ctx.metrics?.channelSocketOpened()
    ws.on('close', (code) => {
      this.#ctx.log.info(
        { channelId: channel.id, user: channel.username, code, ms: Date.now() - openedAt },
        'websocket closed',
      )
      this.#ctx.metrics?.channelSocketClosed()
      void this.#detach(channel.id, live)
    })
    ws.on('error', (err) => this.#ctx.log.debug({ err, channelId: channel.id }, 'websocket error'))
    const attachedAt = this.#ctx.clock.now()
    await this.#ctx.store.touchChannels([channel.id], attachedAt, true)
    local.touchedAt = attachedAt
    if (channel.connCheckRole === 'server') this.#send(live, JSON.stringify(this.#serverConnCheck()))
    // §5.3: on open, first the queue in order (after a replay of recently sent frames, §5.7), then new frames.
    const entry = local
    entry.chain = entry.chain
      .then(() => this.#replay(entry, live))
      .catch((err: unknown) => this.#ctx.log.error({ err }, 'replay failed'))
      .finally(() => (live.replayed = true))
    this.#drain(entry)
  }

  async #detach(channelId: string, live: LiveSocket): Promise<void> {
    const local = this.#local.get(channelId)
    if (!local) return
    local.sockets.delete(live)
    if (local.sockets.size === 0) {
      this.#local.delete(channelId)
      await local.unsubscribe()
      // The idle lifetime counts from the last socket's close (§5.8).
      await this.#ctx.store.touchChannels([channelId], this.#ctx.clock.now(), false).catch(() => {})
    }
  }

  #onFrame(live: LiveSocket, data: unknown, isBinary: boolean): void {
    live.alive = true
    if (isBinary) return
    let parsed: unknown
    try {
      parsed = JSON.parse(String(data))
    } catch {
      return // garbage is ignored; the socket stays up (§5.4 "ignore unknown frames")
    }
    // §5.4 MUST: every connCheck gets a connAck. connAck, message_type and anything else are ignored.
    if (classifyFrame(parsed).type === 'connCheck') this.#send(live, JSON.stringify(CONN_ACK))
  }

  /** Resends recently delivered frames with their original ids; a dead socket may have lost them (§5.7). */
  async #replay(local: LocalChannel, live: LiveSocket): Promise<void> {
    await this.#writeMarks()
    const t = this.#ctx.config.timings
    const recent = await this.#ctx.store.listRecentlyDelivered(
      local.channel.id,
      this.#ctx.clock.now() - t.replayWindowMs,
      t.replayMax,
    )
    for (const frame of recent) {
      if (frame.kind === 'wrtcsSessionInvitationNotification' && !(await this.#stillRinging(frame))) continue
      this.#send(live, frame.frame)
      this.#ctx.metrics?.notificationsReplayed(1)
    }
  }

  /** Never replay an invitation whose call is no longer ringing (§5.7). */
  async #stillRinging(frame: OutboxFrame): Promise<boolean> {
    const leg = frame.legId ? await this.#ctx.store.getLeg(frame.legId) : undefined
    if (!leg || leg.state !== 'active') return false
    const call = await this.#ctx.store.getCall(leg.callId)
    return call !== undefined && call.answeredLegId === null && call.state !== 'ended'
  }

  /**
   * Sends the channel's undelivered frames, in order, to every open socket on this node. With `uptoSeq` (a wake
   * naming the last new seq), nothing is read when every frame that far is already delivered.
   */
  #drain(local: LocalChannel, uptoSeq?: number): void {
    local.chain = local.chain
      .then(async () => {
        if (uptoSeq !== undefined && local.deliveredUpTo !== undefined && local.deliveredUpTo >= uptoSeq)
          return
        await this.#drainQueue(local)
      })
      .catch((err: unknown) => this.#ctx.log.error({ err, channelId: local.channel.id }, 'delivery failed'))
  }

  async #drainQueue(local: LocalChannel): Promise<void> {
    for (;;) {
      const open = this.#openSockets(local)
      if (open.length === 0) return
      await this.#writeMarks()
      const frames = await this.#ctx.store.listUndelivered(local.channel.id, 200)
      if (frames.length === 0) return
      await this.#sendAndMark(local, open, frames)
      if (frames.length < 200) return
    }
  }

  /**
   * Frames this node just queued for a channel it holds (in queue order, consecutive seqs). When they directly
   * follow what is known delivered, nothing can be queued before them undelivered: send them as they are.
   * Otherwise (a gap: another node's frames, or nothing known yet) drain the queue as a wake would.
   */
  #deliverQueued(channelId: string, frames: OutboxFrame[]): void {
    const local = this.#local.get(channelId)
    if (!local) return
    local.chain = local.chain
      .then(async () => {
        const open = this.#openSockets(local)
        if (open.length === 0) return
        if (local.deliveredUpTo === undefined || frames[0]?.seq !== local.deliveredUpTo + 1) {
          await this.#drainQueue(local)
          return
        }
        await this.#sendAndMark(local, open, frames)
      })
      .catch((err: unknown) => this.#ctx.log.error({ err, channelId }, 'delivery failed'))
  }

  /** Sends frames (consecutive, in queue order, none before them undelivered) and marks them delivered. */
  async #sendAndMark(local: LocalChannel, open: LiveSocket[], frames: OutboxFrame[]): Promise<void> {
    for (const frame of frames) for (const s of open) this.#send(s, frame.frame)
    const timing = this.#ctx.timing
    if (timing)
      for (const f of frames) timing('push', { kind: f.kind, legId: f.legId, channelId: f.channelId })
    this.#ctx.metrics?.notificationsDelivered(frames.length)
    const last = frames[frames.length - 1]!.seq
    local.deliveredUpTo = Math.max(local.deliveredUpTo ?? 0, last)
    const id = local.channel.id
    this.#marks.set(id, Math.max(this.#marks.get(id) ?? 0, last))
    if (!this.#marksScheduled) {
      this.#marksScheduled = true
      setImmediate(() => void this.#writeMarks())
    }
  }

  /**
   * Writes the pending delivery marks in one store call. Frames sent but not yet marked are at worst sent
   * again after a crash, with their ids, as a replay would (§5.7). While a write is on its way, the marks
   * of later turns gather and go out together after it (one statement, not one per turn).
   */
  #writeMarks(): Promise<void> {
    this.#marksScheduled = false
    if (this.#marks.size > 0 && !this.#marksQueued) {
      this.#marksQueued = true
      // Chained, so that whoever waits for the marks waits for every write started before, too.
      this.#marksWritten = this.#marksWritten.then(() => {
        this.#marksQueued = false
        const marks = [...this.#marks].map(([channelId, uptoSeq]) => ({ channelId, uptoSeq }))
        this.#marks = new Map()
        return this.#ctx.store.markDeliveredMany(marks, this.#ctx.clock.now()).catch((err: unknown) => {
          // Unmarked frames stay queued and go out again on the next drain; nothing is lost.
          this.#ctx.log.error({ err }, 'marking frames delivered failed')
        })
      })
    }
    return this.#marksWritten
  }

  #openSockets(local: LocalChannel): LiveSocket[] {
    const open: LiveSocket[] = []
    for (const s of local.sockets) if (s.replayed && s.ws.readyState === s.ws.OPEN) open.push(s)
    return open
  }

  #send(live: LiveSocket, text: string): void {
    // §5.4 MUST: text frames holding one JSON object only.
    if (live.ws.readyState === live.ws.OPEN) live.ws.send(text, { binary: false })
  }

  #serverConnCheck() {
    return { connCheck: { interval: Math.round(this.#ctx.config.timings.socketPingMs / 1000) } }
  }

  async #keepalive(): Promise<void> {
    if (this.#sweeping) return
    this.#sweeping = true
    try {
      let n = 0
      for (const local of [...this.#local.values()]) {
        for (const live of local.sockets) {
          if (live.ws.readyState !== live.ws.OPEN) continue
          // Dead-socket detection with RFC 6455 pings: browsers answer them without the app (§5.4).
          if (!live.alive) {
            live.ws.terminate()
            continue
          }
          live.alive = false
          live.ws.ping()
          if (local.channel.connCheckRole === 'server')
            this.#send(live, JSON.stringify(this.#serverConnCheck()))
        }
        // With tens of thousands of sockets one sweep is long: let requests and deliveries in between.
        if (++n % KEEPALIVE_BATCH === 0) await yieldToEventLoop()
      }
    } finally {
      this.#sweeping = false
    }
  }

  /**
   * How often a channel with a socket here is recorded as active. It never expires while a socket is attached
   * (§5.8), and expiry needs at least `channelMinIdleMs` of inactivity: touching every half of that (and no
   * more often than sockets are pinged) keeps a margin of half the floor, with half the writes of touching at
   * every ping. Those writes are most of an idle node's store load: 50,000 subscribers are 50,000 rows.
   */
  #touchEveryMs(): number {
    const t = this.#ctx.config.timings
    return Math.max(t.socketPingMs, Math.floor(t.channelMinIdleMs / 2))
  }

  /**
   * Touches the channels whose last touch is `#touchEveryMs` old. Run four times per period, so channels
   * attached at different moments are touched in small groups spread over the period rather than all at once,
   * and in batches with the event loop let in between (a synchronous store holds it while it writes).
   */
  async #touchDue(): Promise<void> {
    if (this.#touching) return
    this.#touching = true
    try {
      const now = this.#ctx.clock.now()
      const due = [...this.#local.values()].filter((l) => now - l.touchedAt >= this.#touchEveryMs())
      for (let i = 0; i < due.length; i += TOUCH_BATCH) {
        const batch = due.slice(i, i + TOUCH_BATCH)
        const at = this.#ctx.clock.now()
        await this.#ctx.store
          .touchChannels(
            batch.map((l) => l.channel.id),
            at,
            true,
          )
          .then(() => batch.forEach((l) => (l.touchedAt = at)))
          .catch((err: unknown) => this.#ctx.log.warn({ err }, 'touching channels failed'))
        await yieldToEventLoop()
      }
    } finally {
      this.#touching = false
    }
  }

  #closeChannel(channelId: string): void {
    const local = this.#local.get(channelId)
    if (!local) return
    for (const live of local.sockets) live.ws.close(CLOSE_GOING_AWAY, 'channel removed')
  }

  /**
   * Drops the sockets of the channels `select` picks (all when omitted): with a close code (never 1000,
   * §5.5) or, without one, by cutting the TCP connection as a failing network would. For operators draining a
   * node, and for fault-injection tests. Returns how many sockets went.
   */
  dropSockets(options: { code?: number; select?: (channel: Channel) => boolean } = {}): number {
    let n = 0
    for (const local of this.#local.values()) {
      if (options.select && !options.select(local.channel)) continue
      for (const live of local.sockets) {
        n++
        if (options.code === undefined) live.ws.terminate()
        else live.ws.close(options.code === 1000 ? CLOSE_GOING_AWAY : options.code, 'dropped by the server')
      }
    }
    return n
  }

  /** Closes every socket with 1001 (clients reconnect, §5.5) and waits for pending deliveries. */
  async close(): Promise<void> {
    this.#closing = true
    this.#notifier?.setLocalDelivery(undefined)
    clearInterval(this.#pingTimer)
    clearInterval(this.#touchTimer)
    const chains = [...this.#local.values()].map((l) => l.chain)
    await Promise.allSettled(chains)
    for (const local of this.#local.values()) {
      for (const live of local.sockets) live.ws.close(CLOSE_GOING_AWAY, 'server shutting down')
    }
    // Give close frames a moment to flush, then cut whatever is left.
    await new Promise((r) => setTimeout(r, 50))
    for (const ws of this.#wss.clients) ws.terminate()
    for (const local of [...this.#local.values()]) await local.unsubscribe()
    this.#local.clear()
    await this.#writeMarks()
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()))
  }
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** Refuses an upgrade with a plain HTTP status and a JSON body (§13.3). */
function refuse(socket: Duplex, status: number): void {
  if (!socket.writable) return void socket.destroy()
  const body = JSON.stringify({ error: STATUS_TEXT[status] ?? 'Error' })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}
