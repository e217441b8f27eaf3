/**
 * The load generator's side of the CPaaS protocol (protocol §3–§8), kept as lean as a client can be so that
 * one process can hold tens of thousands of users: keep-alive HTTP through `node:http`, raw `ws` sockets,
 * synthetic SDP, and notifications matched against waiters registered before each request.
 */
import { randomBytes, scryptSync } from 'node:crypto'
import { Agent, request } from 'node:http'
import { legIdFromUrl } from '@parley/protocol'
import { syntheticSdp } from '@parley/test-kit'
import WebSocket from 'ws'

/**
 * Source addresses for the generator's sockets: one address has ~28k ephemeral ports (the namespace's
 * default range), 50,000+ sockets need more. The call-flow users and every holder process use them alike.
 */
export const LOCAL_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`)

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        await fn(items[i]!, i)
      }
    }),
  )
}

/** One HTTP reply. */
export interface Reply {
  status: number
  body: string
}

/** Keep-alive HTTP to one node. */
export class NodeHttp {
  readonly #agent: Agent
  readonly #host: string
  readonly #port: number

  constructor(
    readonly url: string,
    maxSockets = 64,
  ) {
    const u = new URL(url)
    this.#host = u.hostname
    this.#port = Number(u.port)
    this.#agent = new Agent({ keepAlive: true, maxSockets })
  }

  /** A JSON (or form) request with the headers Kandy clients send (protocol §4.1). */
  send(
    method: string,
    path: string,
    options: { json?: unknown; form?: Record<string, string>; token?: string } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    let payload: string | undefined
    if (options.form) {
      payload = new URLSearchParams(options.form).toString()
      headers['Content-Type'] = 'application/x-www-form-urlencoded'
    } else if (options.json !== undefined) {
      payload = JSON.stringify(options.json)
      headers['Content-Type'] = 'application/json'
    }
    if (payload !== undefined) headers['Content-Length'] = String(Buffer.byteLength(payload))
    if (options.token) headers.Authorization = `Bearer ${options.token}`
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.#host, port: this.#port, method, path, headers, agent: this.#agent },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          )
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      req.end(payload)
    })
  }

  close(): void {
    this.#agent.destroy()
  }
}

/**
 * A password hash in the server's `scrypt$N$r$p$salt$hash` form with a small N: the server verifies with
 * the parameters stored in the hash, so bulk-created users log in in about a millisecond instead of tens.
 * Logins are not what this benchmark measures; every request still goes through the token endpoint.
 */
export function cheapPasswordHash(password: string): string {
  const salt = randomBytes(16)
  const key = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 })
  return ['scrypt', 1024, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$')
}

/** A notification as the generator sees it: its top-level key, body, recipient leg and arrival time. */
export interface Note {
  kind: string
  eventType: string | undefined
  legId: string | undefined
  at: number
}

interface Waiter {
  match: (n: Note) => boolean
  resolve: (n: Note) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

const CORRELATOR = 'bench'

/** One user: login, channel, socket and subscription, then call requests. */
export class LoadUser {
  token = ''
  ws: WebSocket | undefined
  readonly #waiters = new Set<Waiter>()
  /** Frames the server sent that no waiter wanted (e.g. a replay); counted, not kept. */
  unmatched = 0

  constructor(
    readonly http: NodeHttp,
    readonly clientId: string,
    readonly username: string,
    readonly login: string,
  ) {}

  get #signaling(): string {
    return `/cpaas/webrtcsignaling/v1/${this.username}`
  }

  /**
   * The subscribe sequence of protocol §6.1 (token, channel, socket, subscription); the socket binds to
   * `localAddress` so that many sockets can spread over 127.0.0.x when one address runs out of ports.
   */
  async subscribe(password: string, localAddress: string): Promise<void> {
    const tok = await this.http.send('POST', '/cpaas/auth/v1/token', {
      form: { client_id: this.clientId, username: this.login, password, grant_type: 'password' },
    })
    if (tok.status !== 200) throw new Error(`token ${tok.status} ${tok.body}`)
    this.token = (JSON.parse(tok.body) as { access_token: string }).access_token
    const ch = await this.http.send('POST', `/cpaas/notificationchannel/v1/${this.username}/channels`, {
      token: this.token,
      json: {
        notificationChannel: {
          channelType: 'Websockets',
          clientCorrelator: CORRELATOR,
          'x-connCheckRole': 'client',
        },
      },
    })
    if (ch.status !== 201) throw new Error(`channel ${ch.status} ${ch.body}`)
    const channel = (
      JSON.parse(ch.body) as {
        notificationChannel: { callbackURL: string; channelData: { channelURL: string } }
      }
    ).notificationChannel
    await this.#connect(
      `${this.http.url.replace(/^http/, 'ws')}${channel.channelData.channelURL}`,
      localAddress,
    )
    const sub = await this.http.send('POST', `${this.#signaling}/subscriptions`, {
      token: this.token,
      json: {
        wrtcsNotificationSubscription: {
          callbackReference: { notifyURL: channel.callbackURL },
          clientCorrelator: CORRELATOR,
        },
      },
    })
    if (sub.status !== 201) throw new Error(`subscription ${sub.status} ${sub.body}`)
  }

  #connect(url: string, localAddress: string): Promise<void> {
    const ws = new WebSocket(`${url}?access_token=${this.token}`, { localAddress, perMessageDeflate: false })
    this.ws = ws
    ws.on('message', (data) => this.#onFrame(String(data)))
    ws.on('error', () => undefined) // a failed open rejects below; later errors end in 'close'
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.send('{"connCheck":{"interval":30}}')
        resolve()
      })
      ws.once('unexpected-response', (_req, res) => reject(new Error(`websocket ${res.statusCode}`)))
      ws.once('error', reject)
    })
  }

  #onFrame(raw: string): void {
    const at = performance.now()
    if (this.#waiters.size === 0) {
      if (!raw.startsWith('{"connAck"')) this.unmatched++
      return
    }
    const parsed = JSON.parse(raw) as Record<string, { eventType?: string; link?: { href: string }[] }>
    const kind = Object.keys(parsed)[0] ?? ''
    const body = parsed[kind]!
    const note: Note = {
      kind,
      eventType: body.eventType,
      legId: legIdFromUrl(body.link?.[0]?.href ?? ''),
      at,
    }
    for (const w of this.#waiters) {
      if (!w.match(note)) continue
      this.#waiters.delete(w)
      clearTimeout(w.timer)
      w.resolve(note)
      return
    }
    if (kind !== 'connAck') this.unmatched++
  }

  /** A promise for the next notification matching `match`; register it before the request that causes it. */
  expect(match: (n: Note) => boolean, what: string, timeoutMs = 10_000): Promise<Note> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter)
          reject(new Error(`${this.username}: no ${what} within ${timeoutMs} ms`))
        }, timeoutMs),
      }
      this.#waiters.add(waiter)
    })
  }

  /** `POST …/sessions` (protocol §8.1); resolves with the caller leg id. */
  async createSession(address: string): Promise<string> {
    const r = await this.http.send('POST', `${this.#signaling}/sessions`, {
      token: this.token,
      json: {
        wrtcsSession: {
          clientCorrelator: CORRELATOR,
          tParticipantAddress: address,
          offer: { sdp: syntheticSdp('bench offer') },
        },
      },
    })
    if (r.status !== 201) throw new Error(`create ${r.status} ${r.body}`)
    const leg = legIdFromUrl(
      (JSON.parse(r.body) as { wrtcsSession: { resourceURL: string } }).wrtcsSession.resourceURL,
    )
    if (!leg) throw new Error(`create: no leg in ${r.body}`)
    return leg
  }

  async status(legId: string, status: string): Promise<void> {
    const r = await this.http.send('PUT', `${this.#signaling}/sessions/${legId}/status`, {
      token: this.token,
      json: { wrtcsSessionStatus: { clientCorrelator: CORRELATOR, status } },
    })
    if (r.status !== 200) throw new Error(`status ${status}: ${r.status} ${r.body}`)
  }

  async answer(legId: string): Promise<void> {
    const r = await this.http.send('PUT', `${this.#signaling}/sessions/${legId}/answer`, {
      token: this.token,
      json: { wrtcsAnswer: { clientCorrelator: CORRELATOR, sdp: syntheticSdp('bench answer') } },
    })
    if (r.status !== 204) throw new Error(`answer ${r.status} ${r.body}`)
  }

  async end(legId: string): Promise<void> {
    const r = await this.http.send('DELETE', `${this.#signaling}/sessions/${legId}`, { token: this.token })
    if (r.status !== 204) throw new Error(`end ${r.status} ${r.body}`)
  }

  close(): void {
    this.ws?.terminate()
    for (const w of this.#waiters) clearTimeout(w.timer)
    this.#waiters.clear()
  }
}

/** Milliseconds from each request to the other side's notification, per step of a call flow. */
export interface FlowTimes {
  invitation: number
  ringing: number
  acceptance: number
  ended: number
}

/**
 * One complete call flow (protocol §8, §11): caller creates → callee gets the invitation, callee says
 * Ringing → caller gets the Ringing event, callee answers → caller gets the acceptance, caller ends →
 * callee gets SessionEnded. Each next request waits for the notification, as a client would.
 */
export async function callFlow(caller: LoadUser, callee: LoadUser): Promise<FlowTimes> {
  const invited = callee.expect((n) => n.kind === 'wrtcsSessionInvitationNotification', 'invitation')
  let t = performance.now()
  const [legA] = await Promise.all([caller.createSession(callee.login), invited])
  const invitation = await invited
  const invitationMs = invitation.at - t
  const legB = invitation.legId!

  const ringingNote = caller.expect(
    (n) => n.kind === 'wrtcsEventNotification' && n.eventType === 'Ringing',
    'Ringing event',
  )
  t = performance.now()
  await Promise.all([callee.status(legB, 'Ringing'), ringingNote])
  const ringingMs = (await ringingNote).at - t

  const accepted = caller.expect((n) => n.kind === 'wrtcsAcceptanceNotification', 'acceptance')
  t = performance.now()
  await Promise.all([callee.answer(legB), accepted])
  const acceptanceMs = (await accepted).at - t

  const ended = callee.expect(
    (n) => n.kind === 'wrtcsEventNotification' && n.eventType === 'SessionEnded',
    'SessionEnded event',
  )
  t = performance.now()
  await Promise.all([caller.end(legA), ended])
  const endedMs = (await ended).at - t
  return { invitation: invitationMs, ringing: ringingMs, acceptance: acceptanceMs, ended: endedMs }
}
