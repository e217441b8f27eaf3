import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import {
  classifyFrame,
  legIdFromUrl,
  type ChannelResponse,
  type SessionCreateResponse,
  type SubscriptionResponse,
  type TokenResponse,
} from '@parley/protocol'
import WebSocket from 'ws'
import { waitFor } from './wait.js'

/** A received notification: its top-level key and body. */
export interface Received {
  kind: string
  body: Record<string, unknown> & { id: string; link?: { href: string }[]; eventType?: string }
  /** The recipient leg id, cut from `link[0].href` as Kandy clients do. */
  legId: string | undefined
  raw: string
}

/** An HTTP reply: status, headers and parsed JSON body (or undefined). */
export interface HttpReply<T = unknown> {
  status: number
  headers: Headers
  body: T
  text: string
}

/** One HTTP request; the body parsed as JSON when it is JSON (else undefined), the raw text kept. */
export async function fetchReply<T = unknown>(url: string, init: RequestInit = {}): Promise<HttpReply<T>> {
  const res = await fetch(url, init)
  const text = await res.text()
  let body: unknown
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    body = undefined
  }
  return { status: res.status, headers: res.headers, body: body as T, text }
}

/** A Kandy-like SDP stand-in: enough lines to look like an offer; the server relays it byte for byte. */
export function syntheticSdp(label: string, direction: 'sendrecv' | 'inactive' = 'sendrecv'): string {
  return [
    'v=0',
    `o=- ${Math.floor(Math.random() * 1e12)} 2 IN IP4 127.0.0.1`,
    `s=${label}`,
    't=0 0',
    'a=group:BUNDLE 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'c=IN IP4 0.0.0.0',
    'a=mid:0',
    `a=${direction}`,
    'a=rtpmap:111 opus/48000/2',
    'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host',
    '',
  ].join('\r\n')
}

/**
 * A headless client speaking the CPaaS protocol the way Kandy clients do (protocol §1.2): token, channel,
 * websocket with connCheck, subscription, TURN, sessions. Records every notification it receives.
 */
export class ProtocolClient {
  readonly received: Received[] = []
  readonly closes: { code: number; reason: string }[] = []
  accessToken = ''
  idToken = ''
  refreshToken = ''
  username = ''
  channel: ChannelResponse['notificationChannel'] | undefined
  subscriptionUrl = ''
  ws: WebSocket | undefined
  /** Options of the channel websocket (e.g. an `agent` whose keep-alive connection the upgrade should reuse). */
  socketOptions: WebSocket.ClientOptions | undefined
  /** The `101 Switching Protocols` response of the last `connect()`, with the TCP socket it came on. */
  upgradeResponse: IncomingMessage | undefined
  /** Sends every REST request (tests may route them over a connection of their choice); `fetchReply` by default. */
  fetcher: (url: string, init: RequestInit) => Promise<HttpReply> = fetchReply
  readonly correlator = 'sampleCorrelator'

  constructor(
    readonly baseUrl: string,
    readonly clientId: string,
    readonly loginName: string,
    readonly password: string,
  ) {}

  get wsBase(): string {
    return this.baseUrl.replace(/^http/, 'ws')
  }

  /** Password grant; stores the tokens and the username from the id token (protocol §3.2). */
  async login(): Promise<TokenResponse> {
    const res = await this.form('/cpaas/auth/v1/token', {
      client_id: this.clientId,
      username: this.loginName,
      password: this.password,
      grant_type: 'password',
      scope: 'openid',
    })
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`)
    const tokens = res.body as TokenResponse
    this.accessToken = tokens.access_token
    this.idToken = tokens.id_token
    this.refreshToken = tokens.refresh_token
    const payload = JSON.parse(Buffer.from(tokens.id_token.split('.')[1]!, 'base64url').toString('utf8')) as {
      preferred_username: string
    }
    this.username = payload.preferred_username
    return tokens
  }

  /** POSTs a form (the token endpoint). */
  async form(path: string, fields: Record<string, string>): Promise<HttpReply> {
    return this.#fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
  }

  /** A REST request with the headers Kandy clients send (protocol §4.1). */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    token = this.accessToken,
  ): Promise<HttpReply<T>> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'X-Cpaas-Agent': 'cpaas-js-sdk/4.35.0-beta.808',
    }
    if (token) headers.Authorization = `Bearer ${token}`
    return this.#fetch<T>(path, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
  }

  #fetch<T>(path: string, init: RequestInit): Promise<HttpReply<T>> {
    return this.fetcher(this.baseUrl + path, init) as Promise<HttpReply<T>>
  }

  /** `…/webrtcsignaling/v1/{username}` */
  get signaling(): string {
    return `/cpaas/webrtcsignaling/v1/${this.username}`
  }

  /** The whole subscribe sequence: channel, socket, subscription, TURN (protocol §6.1). */
  async subscribe(options: { connCheckRole?: 'client' | 'server' } = {}): Promise<void> {
    const ch = await this.request<ChannelResponse>(
      'POST',
      `/cpaas/notificationchannel/v1/${this.username}/channels`,
      {
        notificationChannel: {
          channelType: 'Websockets',
          clientCorrelator: this.correlator,
          'x-connCheckRole': options.connCheckRole ?? 'client',
        },
      },
    )
    if (ch.status !== 201) throw new Error(`channel create failed: ${ch.status} ${ch.text}`)
    this.channel = ch.body.notificationChannel
    await this.connect()
    const sub = await this.request<SubscriptionResponse>('POST', `${this.signaling}/subscriptions`, {
      wrtcsNotificationSubscription: {
        callbackReference: { notifyURL: this.channel.callbackURL },
        clientCorrelator: this.correlator,
      },
    })
    if (sub.status !== 201) throw new Error(`subscribe failed: ${sub.status} ${sub.text}`)
    this.subscriptionUrl = sub.body.wrtcsNotificationSubscription.resourceURL
  }

  /** Opens the channel websocket with the given (default: current) token and sends the first connCheck. */
  async connect(token = this.accessToken): Promise<void> {
    if (!this.channel) throw new Error('no channel')
    const ws = new WebSocket(
      `${this.wsBase}${this.channel.channelData.channelURL}?access_token=${token}`,
      this.socketOptions,
    )
    this.ws = ws
    ws.once('upgrade', (response) => (this.upgradeResponse = response))
    ws.on('message', (data, isBinary) => {
      const raw = String(data)
      let parsed: unknown
      try {
        parsed = JSON.parse(raw)
      } catch {
        this.malformed.push(raw)
        return
      }
      if (isBinary) this.malformed.push(`binary: ${raw}`)
      // §9.0: exactly one top-level key whose value is a non-null object.
      const entries = typeof parsed === 'object' && parsed !== null ? Object.entries(parsed) : []
      if (entries.length !== 1 || typeof entries[0]![1] !== 'object' || entries[0]![1] === null)
        this.malformed.push(raw)
      const frame = classifyFrame(parsed)
      if (frame.type === 'notification') {
        const body = frame.body as Received['body']
        this.received.push({ kind: frame.kind, body, legId: legIdFromUrl(body.link?.[0]?.href ?? ''), raw })
      } else if (frame.type === 'connAck') {
        this.acks++
      } else if (frame.type === 'connCheck') {
        this.serverChecks++
        ws.send(JSON.stringify({ connAck: {} }))
      }
    })
    ws.on('close', (code, reason) => this.closes.push({ code, reason: String(reason) }))
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('unexpected-response', (_req, res) => reject(new Error(`websocket refused: ${res.statusCode}`)))
      ws.once('error', reject)
    })
    ws.send(JSON.stringify({ connCheck: { interval: 30 } }))
  }

  acks = 0
  serverChecks = 0
  /** Frames that break §5.4/§9.0 (binary, non-JSON, not exactly one object-valued key). */
  readonly malformed: string[] = []

  /**
   * Checks every notification received so far against §9.0: a unique id, and `link[0].href` naming one of
   * this client's legs as `/cpaas/webrtcsignaling/v1/{username}/sessions/{legId}`.
   */
  wellFormedProblems(): string[] {
    const problems = [...this.malformed.map((m) => `malformed frame: ${m}`)]
    const seen = new Set<string>()
    for (const r of this.received) {
      if (seen.has(r.body.id)) problems.push(`repeated id ${r.body.id}`)
      seen.add(r.body.id)
      const href = r.body.link?.[0]?.href ?? ''
      if (!new RegExp(`^/cpaas/webrtcsignaling/v1/${this.username}/sessions/leg-[0-9a-f]+$`).test(href)) {
        problems.push(`bad link ${href} in ${r.kind}`)
      }
    }
    return problems
  }

  /** Closes the socket (as a page does on unsubscribe, no status code) and waits for the close. */
  async disconnect(): Promise<void> {
    const ws = this.ws
    if (!ws || ws.readyState === ws.CLOSED) return
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve())
      ws.close()
    })
  }

  /** Kills the TCP connection without a close frame (a vanished page or network). */
  kill(): void {
    this.ws?.terminate()
  }

  /** Waits for a notification matching `match` that arrived after index `from`. */
  async next(
    match: (r: Received) => boolean,
    description: string,
    timeoutMs = 5000,
    from = 0,
  ): Promise<Received> {
    return waitFor(() => this.received.slice(from).find(match), timeoutMs, `${this.username}: ${description}`)
  }

  /** Waits for an event notification of the given type for a leg. */
  async event(eventType: string, legId?: string, timeoutMs = 5000): Promise<Received> {
    return this.next(
      (r) =>
        r.kind === 'wrtcsEventNotification' &&
        r.body.eventType === eventType &&
        (!legId || r.legId === legId),
      `${eventType} event${legId ? ` on ${legId}` : ''}`,
      timeoutMs,
    )
  }

  /** Waits for an invitation; returns it with the callee leg id. */
  async invitation(timeoutMs = 5000): Promise<Received & { legId: string }> {
    const r = await this.next(
      (x) => x.kind === 'wrtcsSessionInvitationNotification',
      'an invitation',
      timeoutMs,
    )
    return r as Received & { legId: string }
  }

  // ── session requests (protocol §8) ──
  async call(
    address: string,
    sdp = syntheticSdp(`offer from ${this.username}`),
  ): Promise<{ reply: HttpReply<SessionCreateResponse>; legId: string }> {
    const reply = await this.request<SessionCreateResponse>('POST', `${this.signaling}/sessions`, {
      wrtcsSession: { clientCorrelator: this.correlator, tParticipantAddress: address, offer: { sdp } },
    })
    return { reply, legId: reply.status === 201 ? legIdFromUrl(reply.body.wrtcsSession.resourceURL)! : '' }
  }
  status(legId: string, status: 'Ringing' | 'Connected' | string) {
    return this.request<{ wrtcsSessionStatus: { status: string } }>(
      'PUT',
      `${this.signaling}/sessions/${legId}/status`,
      {
        wrtcsSessionStatus: { clientCorrelator: this.correlator, status },
      },
    )
  }
  answer(legId: string, sdp = syntheticSdp(`answer from ${this.username}`)) {
    return this.request('PUT', `${this.signaling}/sessions/${legId}/answer`, {
      wrtcsAnswer: { clientCorrelator: this.correlator, sdp },
    })
  }
  update(legId: string, sdp = syntheticSdp(`re-offer from ${this.username}`, 'inactive')) {
    return this.request('PUT', `${this.signaling}/sessions/${legId}/update`, {
      wrtcsOffer: { clientCorrelator: this.correlator, sdp },
    })
  }
  end(legId: string) {
    return this.request('DELETE', `${this.signaling}/sessions/${legId}`)
  }
  forward(legId: string, address: string) {
    return this.request('PUT', `${this.signaling}/sessions/${legId}/forward`, {
      wrtcsForward: { clientCorrelator: this.correlator, address },
    })
  }
  transfer(legId: string, address: string, sessionId?: string) {
    return this.request('PUT', `${this.signaling}/sessions/${legId}/transfer`, {
      wrtcsTransfer: { clientCorrelator: this.correlator, address, ...(sessionId ? { sessionId } : {}) },
    })
  }
  turn() {
    return this.request<{ wrtcsTurnCredentials: { username: string; password: string } }>(
      'POST',
      `${this.signaling}/turn`,
      {
        wrtcsTurnCredentials: { clientCorrelator: this.correlator },
      },
    )
  }

  /** A fresh correlator-free id, for requests that need a unique value. */
  static uid(): string {
    return randomUUID()
  }
}
