import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { decode, encode } from './bencode.js'
import { MediaGatewayError, type MediaGateway, type NgDictionary, type NgOptions } from './types.js'

/** Where an rtpengine listens for ng commands. */
export interface RtpengineAddress {
  host: string
  port: number
}

/**
 * `udp:HOST:PORT` (IPv6 as `udp:[::1]:2223`) → host and port; throws Error naming the expected form otherwise.
 * rtpengine's ng protocol runs over UDP only here (its TCP and websocket listeners are not used).
 */
export function parseRtpengineAddress(text: string): RtpengineAddress {
  const m = /^udp:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim())
  const port = m ? Number(m[2]) : NaN
  if (!m || !(port >= 1 && port <= 65535))
    throw new Error(`--rtpengine must be udp:HOST:PORT (e.g. udp:127.0.0.1:2223), got "${text}"`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}

/** `udp:HOST:PORT` of an address. */
export function formatRtpengineAddress({ host, port }: RtpengineAddress): string {
  return `udp:${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** Options of an RtpengineClient. */
export interface RtpengineClientOptions extends RtpengineAddress {
  /** Total time one command may take, retransmissions included; default 3000 ms. */
  timeoutMs?: number
  /** First retransmission after this long, then each interval doubles; default 250 ms. */
  retransmitMs?: number
}

/** The largest datagram UDP over IPv4 can carry (65535 − 8 − 20). */
const MAX_DATAGRAM = 65_507

interface Pending {
  resolve(value: NgDictionary): void
  reject(error: Error): void
  timers: NodeJS.Timeout[]
}

/**
 * A client of rtpengine's ng control protocol (rtpengine docs, "ng Control Protocol"): each command is one UDP
 * datagram `<cookie> <bencoded dictionary>`, answered by `<cookie> <bencoded dictionary>` with the same cookie.
 * UDP may lose either, so a command is sent again with the same cookie (rtpengine keeps a cache of recent
 * cookies and answers a repeat with its first answer, without running the command twice) after 250 ms, then
 * 500, 1000… until the total timeout; then it fails with `rtpengine at udp:HOST:PORT did not answer within N ms`.
 * Concurrent commands share one socket and are matched to their answers by cookie.
 */
export class RtpengineClient implements MediaGateway {
  readonly address: string
  readonly #host: string
  readonly #port: number
  readonly #timeoutMs: number
  readonly #retransmitMs: number
  readonly #pending = new Map<string, Pending>()
  readonly #cookiePrefix = randomBytes(4).toString('hex')
  #counter = 0
  #socket: Socket | undefined
  #closed = false

  constructor(options: RtpengineClientOptions) {
    this.#host = options.host
    this.#port = options.port
    this.#timeoutMs = options.timeoutMs ?? 3_000
    this.#retransmitMs = options.retransmitMs ?? 250
    this.address = formatRtpengineAddress(options)
  }

  async ping(): Promise<void> {
    const answer = await this.request('ping')
    if (answer.result !== 'pong') throw this.#protocolError(`answered ping with "${String(answer.result)}"`)
  }

  async offer(callId: string, fromTag: string, sdp: string, flags: NgOptions = {}): Promise<string> {
    const answer = await this.request('offer', { ...flags, 'call-id': callId, 'from-tag': fromTag, sdp })
    return this.#sdpOf(answer, 'offer')
  }

  async answer(
    callId: string,
    fromTag: string,
    toTag: string,
    sdp: string,
    flags: NgOptions = {},
  ): Promise<string> {
    const answer = await this.request('answer', {
      ...flags,
      'call-id': callId,
      'from-tag': fromTag,
      'to-tag': toTag,
      sdp,
    })
    return this.#sdpOf(answer, 'answer')
  }

  async delete(callId: string, options: { fromTag?: string; toTag?: string } = {}): Promise<boolean> {
    const answer = await this.request('delete', {
      'call-id': callId,
      // Free the ports now: rtpengine otherwise keeps a deleted call for its delete delay (30 s by default).
      'delete-delay': 0,
      ...(options.fromTag !== undefined ? { 'from-tag': options.fromTag } : {}),
      ...(options.toTag !== undefined ? { 'to-tag': options.toTag } : {}),
    })
    // An unknown call is `result: ok` with `warning: Call-ID not found or tags didn't match` (rtpengine 10.5).
    return !(typeof answer.warning === 'string' && /not found/i.test(answer.warning))
  }

  async query(callId: string): Promise<NgDictionary | undefined> {
    try {
      return await this.request('query', { 'call-id': callId })
    } catch (error) {
      if (
        error instanceof MediaGatewayError &&
        error.kind === 'refused' &&
        /unknown call/i.test(error.message)
      )
        return undefined
      throw error
    }
  }

  async list(limit = 100_000): Promise<string[]> {
    const answer = await this.request('list', { limit })
    const calls = answer.calls
    if (!Array.isArray(calls) || !calls.every((c) => typeof c === 'string'))
      throw this.#protocolError('answered list without a list of call ids')
    return calls as string[]
  }

  async blockMedia(callId: string, fromTag: string, blocked: boolean): Promise<void> {
    await this.request(blocked ? 'block media' : 'unblock media', { 'call-id': callId, 'from-tag': fromTag })
  }

  /**
   * Sends one ng command and resolves to rtpengine's answer. Rejects with MediaGatewayError: `refused` for
   * `result: error` (with rtpengine's `error-reason`), `timeout` when no answer came in time.
   */
  request(command: string, options: NgOptions = {}, timeoutMs = this.#timeoutMs): Promise<NgDictionary> {
    if (this.#closed)
      return Promise.reject(new MediaGatewayError(`the client of ${this.address} is closed`, 'closed'))
    const cookie = `${this.#cookiePrefix}_${(this.#counter++).toString(36)}`
    let body: Buffer
    try {
      body = encode({ ...options, command })
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)))
    }
    const datagram = Buffer.concat([Buffer.from(`${cookie} `), body])
    if (datagram.length > MAX_DATAGRAM)
      return Promise.reject(
        new MediaGatewayError(
          `ng ${command} of ${datagram.length} bytes does not fit one UDP datagram`,
          'protocol',
        ),
      )
    const socket = this.#open()
    return new Promise<NgDictionary>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timers: [] }
      // A send error (no route, an unresolvable host) is final only at the deadline: a resend may work.
      const send = () => socket.send(datagram, this.#port, this.#host, () => undefined)
      this.#pending.set(cookie, pending)
      socket.ref()
      send()
      for (let at = this.#retransmitMs; at < timeoutMs; at *= 2) pending.timers.push(setTimeout(send, at))
      pending.timers.push(
        setTimeout(() => {
          this.#settle(cookie)
          reject(
            new MediaGatewayError(
              `rtpengine at ${this.address} did not answer within ${timeoutMs} ms`,
              'timeout',
            ),
          )
        }, timeoutMs),
      )
    }).then((answer) => {
      if (answer.result === 'error') {
        const reason = typeof answer['error-reason'] === 'string' ? answer['error-reason'] : 'no reason given'
        throw new MediaGatewayError(`rtpengine at ${this.address} refused ${command}: ${reason}`, 'refused')
      }
      return answer
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const cookie of [...this.#pending.keys()]) {
      const pending = this.#settle(cookie)
      pending?.reject(new MediaGatewayError(`the client of ${this.address} is closed`, 'closed'))
    }
    const socket = this.#socket
    this.#socket = undefined
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  /** The control socket, opened on first use on an ephemeral port; unreferenced while nothing is pending. */
  #open(): Socket {
    if (this.#socket) return this.#socket
    const socket = createSocket(this.#host.includes(':') ? 'udp6' : 'udp4')
    socket.on('message', (message) => this.#receive(message))
    // ICMP errors and the like: commands keep retransmitting until their own deadline.
    socket.on('error', () => undefined)
    this.#socket = socket
    return socket
  }

  #receive(message: Buffer): void {
    const space = message.indexOf(0x20)
    if (space <= 0) return
    const pending = this.#settle(message.toString('latin1', 0, space))
    // A late repeat of an answer already taken, or a stranger's datagram: nothing waits for it.
    if (!pending) return
    let value: unknown
    try {
      value = decode(message.subarray(space + 1))
    } catch (error) {
      pending.reject(this.#protocolError(`sent an unreadable answer (${(error as Error).message})`))
      return
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      pending.reject(this.#protocolError('answered with something other than a dictionary'))
      return
    }
    pending.resolve(value as NgDictionary)
  }

  /** Removes a pending command and its timers; returns it when it was still pending. */
  #settle(cookie: string): Pending | undefined {
    const pending = this.#pending.get(cookie)
    if (!pending) return undefined
    this.#pending.delete(cookie)
    for (const timer of pending.timers) clearTimeout(timer)
    if (this.#pending.size === 0) this.#socket?.unref()
    return pending
  }

  #sdpOf(answer: NgDictionary, command: string): string {
    if (typeof answer.sdp !== 'string') throw this.#protocolError(`answered ${command} without an SDP`)
    return answer.sdp
  }

  #protocolError(what: string): MediaGatewayError {
    return new MediaGatewayError(`rtpengine at ${this.address} ${what}`, 'protocol')
  }
}
