/**
 * A fake Parley server for SDK tests: a `fetch` and a `WebSocket` class that play the server's part
 * of docs/protocol.md — channels (§5.1), subscriptions (§6.2), TURN (§7), sessions (§8),
 * notifications (§9) and the routing of §11 between users of the same fake server.
 * Every request is recorded; `intercept` lets a test answer a request itself.
 */
import type { SocketLike } from '../signalling/notification-socket.js'

export interface RecordedRequest {
  method: string
  url: string
  path: string
  user: string | undefined
  body: Record<string, unknown> | undefined
  headers: Record<string, string>
}

interface Channel {
  id: string
  user: string
  callbackURL: string
  sockets: FakeSocket[]
  queue: string[]
  sent: unknown[]
}

interface Leg {
  id: string
  user: string
  callId: string
  role: 'caller' | 'callee'
  state: 'active' | 'ended'
  channelId?: string
}

interface CallRecord {
  id: string
  caller: string
  callee: string
  state: 'initiated' | 'ringing' | 'connected' | 'ended'
  offerFrom: string | undefined
  offerSdp: string
}

let idSeq = 0
const hex = () => (++idSeq).toString(16).padStart(8, '0')
const uuid = () => `00000000-0000-4000-8000-${(++idSeq).toString(16).padStart(12, '0')}`

const b64url = (s: string) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

/** An id token as Parley issues it (protocol.md §3.3). */
export function idTokenFor(user: string, domain = 'example.com'): string {
  const payload = { sub: user, preferred_username: user, 'services-identity': `${user}@${domain}` }
  return `${b64url(JSON.stringify({ alg: 'none' }))}.${b64url(JSON.stringify(payload))}.sig`
}

export const accessTokenFor = (user: string) => `at-${user}`

export class FakeSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code?: number }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  readyState = 0
  readonly url: string
  readonly sent: unknown[] = []
  closedByClient = false
  channel: Channel | undefined
  readonly #server: FakeServer

  constructor(server: FakeServer, url: string) {
    this.#server = server
    this.url = url
    server.sockets.push(this)
    setTimeout(() => server.acceptSocket(this), 0)
  }

  send(data: string): void {
    const frame: unknown = JSON.parse(data)
    this.sent.push(frame)
    if (
      this.#server.answerConnChecks &&
      typeof frame === 'object' &&
      frame !== null &&
      'connCheck' in frame
    ) {
      setTimeout(() => this.deliver(JSON.stringify({ connAck: {} })), 0)
    }
  }

  close(): void {
    if (this.readyState === 3) return
    this.closedByClient = true
    this.readyState = 3
    this.#server.detach(this)
  }

  /** Server → client frame. */
  deliver(data: string): void {
    if (this.readyState === 1) this.onmessage?.({ data })
  }

  /** Server drops the connection (abnormal closure). */
  drop(code = 1006): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.#server.detach(this)
    this.onclose?.({ code })
  }
}

export class FakeServer {
  readonly requests: RecordedRequest[] = []
  readonly channels = new Map<string, Channel>()
  readonly subscriptions = new Map<string, { user: string; channelId: string }>()
  readonly legs = new Map<string, Leg>()
  readonly calls = new Map<string, CallRecord>()
  readonly sockets: FakeSocket[] = []
  /** Users known to the server: `user` → `user@domain`. */
  readonly users = new Map<string, string>()
  answerConnChecks = true
  refuseSockets = false
  /** Answer a request yourself: return a Response, or undefined to let the fake handle it. */
  intercept: ((req: RecordedRequest) => Response | undefined | Promise<Response | undefined>) | undefined

  /**
   * Holds a reply after the fake has handled the request (and pushed what it caused): a reply that the
   * network delivers after the notifications it caused.
   */
  delayReply: ((req: RecordedRequest) => Promise<void> | undefined) | undefined

  readonly fetch = async (url: string, init: RequestInit): Promise<Response> => this.#handle(url, init)
  readonly WebSocket: new (url: string) => SocketLike

  constructor(users: string[] = ['alice', 'bob']) {
    for (const u of users) this.users.set(u, `${u}@example.com`)
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const server = this
    this.WebSocket = class extends FakeSocket {
      constructor(url: string) {
        super(server, url)
      }
    }
  }

  // ─── websocket side ──────────────────────────────────────────────────────────────────────────

  acceptSocket(socket: FakeSocket): void {
    if (socket.readyState !== 0) return
    const m = /\/channels\/([^/]+)\/websocket\?access_token=(.+)$/.exec(socket.url)
    const channel = m ? this.channels.get(m[1]!) : undefined
    const token = m ? decodeURIComponent(m[2]!) : ''
    if (this.refuseSockets || !channel || token !== accessTokenFor(channel.user)) {
      socket.readyState = 3
      socket.onerror?.({})
      socket.onclose?.({ code: 1006 })
      return
    }
    socket.readyState = 1
    socket.channel = channel
    channel.sockets.push(socket)
    socket.onopen?.({})
    // §5.3: flush the queue first, in order.
    const queued = channel.queue.splice(0)
    for (const frame of queued) socket.deliver(frame)
  }

  detach(socket: FakeSocket): void {
    const ch = socket.channel
    if (ch) ch.sockets = ch.sockets.filter((s) => s !== socket)
  }

  /** Pushes a notification frame on a channel (queued while no socket is open, §5.7). */
  push(channelId: string, frame: Record<string, unknown>): void {
    const ch = this.channels.get(channelId)
    if (!ch) return
    const data = JSON.stringify(frame)
    ch.sent.push(frame)
    if (ch.sockets.length === 0) {
      ch.queue.push(data)
      return
    }
    setTimeout(() => {
      if (ch.sockets.length === 0) ch.queue.push(data)
      for (const s of ch.sockets) s.deliver(data)
    }, 0)
  }

  /** Pushes to the recipient's own leg (§9.0 link rules). */
  pushToLeg(legId: string, kind: string, fields: Record<string, unknown>, id = uuid()): void {
    const leg = this.legs.get(legId)
    if (!leg) return
    const frame = {
      [kind]: {
        id,
        link: [{ href: `/cpaas/webrtcsignaling/v1/${leg.user}/sessions/${leg.id}`, rel: 'WebrtcSession' }],
        ...fields,
      },
    }
    for (const ch of this.#channelsFor(leg)) this.push(ch.id, frame)
  }

  /** Every frame sent to a user's channels. */
  framesFor(user: string): unknown[] {
    return [...this.channels.values()].filter((c) => c.user === user).flatMap((c) => c.sent)
  }

  socketOf(user: string): FakeSocket | undefined {
    return [...this.channels.values()].find((c) => c.user === user)?.sockets[0]
  }

  requestsTo(method: string, pathPart: string | RegExp): RecordedRequest[] {
    return this.requests.filter(
      (r) =>
        r.method === method &&
        (typeof pathPart === 'string' ? r.path.includes(pathPart) : pathPart.test(r.path)),
    )
  }

  legOf(user: string, role: 'caller' | 'callee'): Leg | undefined {
    return [...this.legs.values()].reverse().find((l) => l.user === user && l.role === role)
  }

  #channelsFor(leg: Leg): Channel[] {
    if (leg.channelId) return [this.channels.get(leg.channelId)].filter((c): c is Channel => !!c)
    // §11.2: caller-leg notifications go to every call-subscribed channel of the caller.
    const ids = new Set(
      [...this.subscriptions.values()].filter((s) => s.user === leg.user).map((s) => s.channelId),
    )
    return [...ids].map((id) => this.channels.get(id)).filter((c): c is Channel => !!c)
  }

  // ─── REST side ───────────────────────────────────────────────────────────────────────────────

  async #handle(url: string, init: RequestInit): Promise<Response> {
    const u = new URL(url)
    const headers = (init.headers ?? {}) as Record<string, string>
    const auth = headers.Authorization ?? ''
    const user = auth.startsWith('Bearer at-') ? auth.slice('Bearer at-'.length) : undefined
    const body =
      typeof init.body === 'string' && init.body
        ? (JSON.parse(init.body) as Record<string, unknown>)
        : undefined
    const req: RecordedRequest = { method: init.method ?? 'GET', url, path: u.pathname, user, body, headers }
    this.requests.push(req)
    const custom = await this.intercept?.(req)
    if (custom) return custom
    const m = /^\/cpaas\/(notificationchannel|webrtcsignaling)\/v1\/([^/]+)(\/.*)?$/.exec(u.pathname)
    if (!m) return this.#error(404, 'SVC0004', 'Unknown resource')
    const pathUser = m[2]!
    if (!user) return this.#error(401, 'SVC0401', 'Unauthorized')
    if (user !== pathUser) return this.#error(403, 'SVC0403', 'Forbidden')
    const rest = m[3] ?? ''
    const res =
      m[1] === 'notificationchannel'
        ? this.#channelRoute(req, user, rest)
        : this.#signalingRoute(req, user, rest)
    await this.delayReply?.(req)
    return res
  }

  #json(status: number, body: unknown): Response {
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
  }

  #noContent(): Response {
    return new Response(null, { status: 204 })
  }

  #error(status: number, messageId: string, text: string, variables: string[] = []): Response {
    return this.#json(status, { requestError: { serviceException: { messageId, text, variables } } })
  }

  #channelRoute(req: RecordedRequest, user: string, rest: string): Response {
    if (req.method === 'POST' && rest === '/channels') {
      const id = `ch-${hex()}`
      const base = `/cpaas/notificationchannel/v1/${user}/channels/${id}`
      this.channels.set(id, { id, user, callbackURL: `${base}/callback`, sockets: [], queue: [], sent: [] })
      const nc = (req.body?.notificationChannel ?? {}) as Record<string, unknown>
      return this.#json(201, {
        notificationChannel: {
          callbackURL: `${base}/callback`,
          channelData: { channelURL: `${base}/websocket` },
          channelLifetime: nc.channelLifetime ?? 3600,
          channelType: 'websockets',
          clientCorrelator: nc.clientCorrelator,
          resourceURL: base,
        },
      })
    }
    const del = /^\/channels\/([^/]+)$/.exec(rest)
    if (req.method === 'DELETE' && del) {
      const ch = this.channels.get(del[1]!)
      ch?.sockets.forEach((s) => s.drop(1001))
      this.channels.delete(del[1]!)
      for (const [id, s] of this.subscriptions) if (s.channelId === del[1]) this.subscriptions.delete(id)
      return this.#noContent()
    }
    const life = /^\/channels\/([^/]+)\/channelLifetime$/.exec(rest)
    if (req.method === 'PUT' && life) return this.#json(200, req.body)
    return this.#error(404, 'SVC0004', 'Unknown resource')
  }

  #signalingRoute(req: RecordedRequest, user: string, rest: string): Response {
    const b = req.body ?? {}
    if (req.method === 'POST' && rest === '/subscriptions') {
      const s = b.wrtcsNotificationSubscription as { callbackReference?: { notifyURL?: string } } | undefined
      const ch = [...this.channels.values()].find((c) => c.callbackURL === s?.callbackReference?.notifyURL)
      if (!ch) return this.#error(400, 'SVC0002', 'Invalid input value for message part %1', ['notifyURL'])
      const existing = [...this.subscriptions.entries()].find(([, v]) => v.channelId === ch.id)
      const id = existing?.[0] ?? `sub-${hex()}`
      this.subscriptions.set(id, { user, channelId: ch.id })
      return this.#json(201, {
        wrtcsNotificationSubscription: {
          callbackReference: { notifyURL: ch.callbackURL },
          resourceURL: `/cpaas/webrtcsignaling/v1/${user}/subscriptions/${id}`,
        },
      })
    }
    const sub = /^\/subscriptions\/([^/]+)$/.exec(rest)
    if (req.method === 'DELETE' && sub) {
      if (!this.subscriptions.delete(sub[1]!)) return this.#error(404, 'SVC0004', 'No such subscription')
      return this.#noContent()
    }
    if (req.method === 'POST' && rest === '/turn') {
      const expiry = Math.floor(Date.now() / 1000) + 86400
      return this.#json(200, {
        wrtcsTurnCredentials: { username: `${expiry}:${user}`, password: 'c2VjcmV0' },
      })
    }
    if (req.method === 'POST' && rest === '/sessions') return this.#createSession(user, b)
    const leg = /^\/sessions\/([^/]+?)(?:\/(status|answer|update|forward|transfer))?$/.exec(rest)
    if (leg) return this.#legRoute(req, user, leg[1]!, leg[2])
    return this.#error(404, 'SVC0004', 'Unknown resource')
  }

  #createSession(user: string, b: Record<string, unknown>): Response {
    const s = b.wrtcsSession as { tParticipantAddress?: string; offer?: { sdp?: string } } | undefined
    const sdp = s?.offer?.sdp
    if (!sdp) return this.#error(400, 'SVC0002', 'Invalid input value for message part %1', ['offer'])
    const address = (s?.tParticipantAddress ?? '').replace(/^sips?:/, '')
    const callee = [...this.users.entries()].find(
      ([name, identity]) => identity === address || name === address,
    )?.[0]
    const calleeChannels = callee
      ? [
          ...new Set(
            [...this.subscriptions.values()].filter((x) => x.user === callee).map((x) => x.channelId),
          ),
        ]
      : []
    if (!callee || calleeChannels.length === 0) {
      return this.#error(404, 'SVC0002', 'Invalid input value for message part %1', ['tParticipantAddress'])
    }
    const callId = `call-${hex()}`
    const callerLeg: Leg = { id: `leg-${hex()}`, user, callId, role: 'caller', state: 'active' }
    const calleeLeg: Leg = {
      id: `leg-${hex()}`,
      user: callee,
      callId,
      role: 'callee',
      state: 'active',
      channelId: calleeChannels[0]!,
    }
    this.legs.set(callerLeg.id, callerLeg)
    this.legs.set(calleeLeg.id, calleeLeg)
    this.calls.set(callId, {
      id: callId,
      caller: callerLeg.id,
      callee: calleeLeg.id,
      state: 'initiated',
      offerFrom: undefined,
      offerSdp: sdp,
    })
    // §8.1: the 201 is written before the invitation is pushed.
    setTimeout(() => {
      this.pushToLeg(calleeLeg.id, 'wrtcsSessionInvitationNotification', {
        offer: { sdp },
        originatorAddress: `sip:${this.users.get(user) ?? user}`,
        originatorName: user,
        tParticipantAddress: s?.tParticipantAddress,
      })
    }, 0)
    return this.#json(201, {
      wrtcsSession: {
        resourceURL: `/cpaas/webrtcsignaling/v1/${user}/sessions/${callerLeg.id}`,
        tParticipantAddress: s?.tParticipantAddress,
      },
    })
  }

  #legRoute(req: RecordedRequest, user: string, legId: string, action: string | undefined): Response {
    const leg = this.legs.get(legId)
    if (!leg || leg.user !== user) return this.#error(404, 'SVC0004', 'No such session')
    const call = this.calls.get(leg.callId)!
    const peerId = leg.role === 'caller' ? call.callee : call.caller
    if (req.method === 'DELETE' && !action) {
      if (leg.state === 'ended') return this.#noContent()
      this.#endCall(call, leg)
      return this.#noContent()
    }
    if (leg.state === 'ended') return this.#error(404, 'SVC0004', 'Session ended')
    const b = req.body ?? {}
    switch (action) {
      case 'status': {
        const status = (b.wrtcsSessionStatus as { status?: string } | undefined)?.status
        if (status === 'Ringing' && leg.role === 'callee' && call.state === 'initiated') {
          call.state = 'ringing'
          setTimeout(
            () =>
              this.pushToLeg(call.caller, 'wrtcsEventNotification', {
                eventType: 'Ringing',
                statusCode: 180,
                reasonText: 'Ringing',
              }),
            0,
          )
        }
        const echo =
          call.state === 'initiated' ? 'Initiated' : call.state === 'ringing' ? 'Ringing' : 'Connected'
        return this.#json(200, { wrtcsSessionStatus: { status: echo } })
      }
      case 'answer': {
        const sdp = (b.wrtcsAnswer as { sdp?: string } | undefined)?.sdp ?? ''
        if (leg.role === 'callee' && (call.state === 'initiated' || call.state === 'ringing')) {
          call.state = 'connected'
          setTimeout(() => this.pushToLeg(call.caller, 'wrtcsAcceptanceNotification', { answer: { sdp } }), 0)
          return this.#noContent()
        }
        if (call.offerFrom && call.offerFrom !== leg.id) {
          const to = call.offerFrom
          call.offerFrom = undefined
          setTimeout(() => this.pushToLeg(to, 'wrtcsAnswerNotification', { answer: { sdp } }), 0)
          return this.#noContent()
        }
        return this.#error(409, 'SVC0003', 'No offer pending')
      }
      case 'update': {
        if (call.state !== 'connected') return this.#error(409, 'SVC0003', 'Call not established')
        if (call.offerFrom) return this.#error(409, 'SVC0003', 'Offer already pending')
        call.offerFrom = leg.id
        const sdp = (b.wrtcsOffer as { sdp?: string } | undefined)?.sdp ?? ''
        setTimeout(() => this.pushToLeg(peerId, 'wrtcsOfferNotification', { offer: { sdp } }), 0)
        return this.#noContent()
      }
      default:
        return this.#error(405, 'SVC0005', 'Method not allowed')
    }
  }

  #endCall(call: CallRecord, by: Leg): void {
    const peer = this.legs.get(by.role === 'caller' ? call.callee : call.caller)!
    const answered = call.state === 'connected'
    by.state = 'ended'
    peer.state = 'ended'
    call.state = 'ended'
    setTimeout(() => {
      if (answered) {
        this.pushToLeg(peer.id, 'wrtcsEventNotification', {
          eventType: 'SessionEnded',
          statusCode: 200,
          reasonText: 'Ended by remote party',
        })
      } else if (by.role === 'caller') {
        this.pushToLeg(peer.id, 'wrtcsEventNotification', {
          eventType: 'Cancelled',
          statusCode: 487,
          reasonText: 'Request Terminated',
        })
      } else {
        this.pushToLeg(peer.id, 'wrtcsEventNotification', {
          eventType: 'SessionEnded',
          statusCode: 603,
          reasonText: 'Declined',
        })
      }
    }, 0)
  }
}
