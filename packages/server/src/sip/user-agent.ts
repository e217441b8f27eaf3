/**
 * Parley's SIP user agent toward one trunk (RFC 3261): transactions (§17) with UDP retransmissions and
 * timeouts, dialogs (§12), INVITE/ACK/CANCEL/BYE/re-INVITE (§13–§15), 100 Trying, digest authentication
 * toward the trunk (§22, RFC 8760), a trust check by source address for inbound INVITEs and a per-address
 * INVITE rate limit. See README.md in this folder for why this is our own code and what is not supported.
 */
import { randomBytes } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { addCidr } from './cidr.js'
import { networkInterfaces } from 'node:os'
import { digestAuthorization, pickChallenge } from './digest.js'
import { Emitter } from './emitter.js'
import {
  formatNameAddr,
  MAX_MESSAGE_BYTES,
  parseCSeq,
  parseMessage,
  parseNameAddr,
  parseUri,
  parseVia,
  REASONS,
  serialize,
  SipHeaders,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from './message.js'
import { SipTransports, type Source } from './transport.js'
import {
  SipError,
  type SipCall,
  type SipCounters,
  type SipDialogCall,
  type SipDialogState,
  type SipInboundCall,
  type SipInboundCallEvents,
  type SipInboundInvite,
  type SipInviteRequest,
  type SipOutboundCall,
  type SipOutboundCallEvents,
  type SipTransportName,
  type SipTrunk,
  type SipTrunkTarget,
} from './types.js'

/** Transaction timers (RFC 3261 §17.1.1.1, table 4). Tests shorten them. */
export interface SipTimers {
  /** RTT estimate T1 (500 ms): first retransmission interval over UDP. */
  t1Ms: number
  /** Largest retransmission interval of non-INVITE requests and 2xx responses (4 s). */
  t2Ms: number
  /** Timer B: how long an INVITE waits for any response (64·T1 = 32 s by the RFC; `--sip-invite-timeout`). */
  inviteTimeoutMs: number
  /** Timer F/H: how long a non-INVITE request waits for a final response, and a 2xx/non-2xx for its ACK (64·T1). */
  transactionTimeoutMs: number
  /** How long a re-INVITE of the trunk waits for the call layer's `answer()` before 500 (RFC 3261 §14.2). */
  reofferAnswerMs: number
}

/** The RFC's values. */
export const DEFAULT_SIP_TIMERS: SipTimers = {
  t1Ms: 500,
  t2Ms: 4_000,
  inviteTimeoutMs: 32_000,
  transactionTimeoutMs: 32_000,
  reofferAnswerMs: 10_000,
}

/** The part of a pino logger the UA uses. */
export interface SipLog {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

const silentLog: SipLog = { debug: () => undefined, info: () => undefined, warn: () => undefined }

/** Options of {@link SipUserAgent}. */
export interface SipUserAgentOptions {
  trunk: SipTrunkTarget
  listen: { host: string; port: number }
  /** Digest credentials toward the trunk (`--sip-username`, `--sip-password`). */
  username?: string | undefined
  password?: string | undefined
  /** CIDRs (besides the trunk's own address) whose INVITEs are accepted (`--sip-trusted`). */
  trusted?: string[]
  timers?: Partial<SipTimers>
  maxMessageBytes?: number
  /** Out-of-dialog requests accepted per source address per window; beyond: 503, beyond twice: dropped. */
  rateLimit?: Partial<SipRateLimit>
  /** Consulted for an in-dialog request of an unknown dialog before answering 481 (dialogs kept in a store). */
  dialogLookup?: (callId: string, localTag: string) => Promise<SipDialogState | undefined>
  /** Called with the handle of a dialog `dialogLookup` found, before its request is handled: attach listeners here. */
  onRestore?: (call: SipDialogCall) => void
  log?: SipLog
  /** `User-Agent` / `Server` header. */
  product?: string
}

/**
 * Budget of out-of-dialog requests (INVITE, OPTIONS, …) per source address and window. The trunk and the
 * `--sip-trusted` ranges carry real traffic (a carrier may send many calls a second), so they get a budget
 * of their own; everyone else is what scanners and floods look like.
 */
export interface SipRateLimit {
  windowMs: number
  /** Per untrusted address (default 50 per 10 s). */
  requests: number
  /** Per trusted address (default 2,000 per 10 s). */
  trustedRequests: number
}

const DEFAULT_RATE_LIMIT: SipRateLimit = { windowMs: 10_000, requests: 50, trustedRequests: 2_000 }

/** Server transactions kept at once (each lives 32 s after its final response); beyond, new requests get 503. */
const MAX_SERVER_TRANSACTIONS = 20_000

/** Methods Parley's UA handles (RFC 3261 §20.5 Allow). */
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO'

/** Methods counted by name in {@link SipUserAgent.messageCounts}; any other is `other` (labels stay few). */
const COUNTED_METHODS = new Set([
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'INFO',
  'REGISTER',
  'NOTIFY',
  'REFER',
  'UPDATE',
])
/** The `method` label of a message from its first line: the request's method, `response`, or `other`. */
function methodLabel(firstToken: string): string {
  if (firstToken === 'SIP/2.0') return 'response'
  return COUNTED_METHODS.has(firstToken) ? firstToken : 'other'
}

const random = (bytes = 8) => randomBytes(bytes).toString('hex')
const newBranch = () => `z9hG4bK${random(10)}`
const dialogKey = (callId: string, localTag: string) => `${callId}\n${localTag}`

interface Hop {
  host: string
  port: number
  transport: SipTransportName
}

interface ClientTransaction {
  branch: string
  method: string
  request: SipRequest
  hop: Hop
  /** Final response seen (for INVITE: ACK built and kept for retransmitted finals). */
  done: boolean
  ack: Buffer | undefined
  timers: NodeJS.Timeout[]
  onResponse(res: SipResponse): void
}

interface ServerTransaction {
  key: string
  source: Source
  request: SipRequest
  last: Buffer | undefined
  final: boolean
  status: number
  timers: NodeJS.Timeout[]
  /** For INVITE: the inbound call or re-offer it belongs to (CANCEL and ACK go there). */
  owner: { cancel(): void; acked(): void } | undefined
}

/** The SIP UA behind {@link SipTrunk}. */
export class SipUserAgent implements SipTrunk {
  readonly timers: SipTimers
  readonly #options: SipUserAgentOptions
  readonly #log: SipLog
  readonly #transports: SipTransports
  readonly #trusted = new BlockList()
  readonly #client = new Map<string, ClientTransaction>()
  readonly #server = new Map<string, ServerTransaction>()
  readonly #dialogs = new Map<string, DialogCall>()
  readonly #rate = new Map<string, { start: number; count: number }>()
  readonly #pendingTimers = new Set<NodeJS.Timeout>()
  #trunkAddress = ''
  #advertised = ''
  #handler: ((call: SipInboundCall, invite: SipInboundInvite) => void) | undefined
  #closed = false
  readonly #counters: SipCounters = {
    received: 0,
    sent: 0,
    malformed: 0,
    oversized: 0,
    binary: 0,
    unknownDialog: 0,
    untrusted: 0,
    rateLimited: 0,
    retransmissions: 0,
    timeouts: 0,
    authChallenges: 0,
    invitesIn: 0,
    invitesOut: 0,
  }
  /** Messages by direction and method label (`in INVITE`, `out response`, …). */
  readonly #messages = new Map<string, number>()

  constructor(options: SipUserAgentOptions) {
    this.#options = options
    this.#log = options.log ?? silentLog
    this.timers = { ...DEFAULT_SIP_TIMERS, ...options.timers }
    for (const cidr of options.trusted ?? []) addCidr(this.#trusted, cidr)
    this.#transports = new SipTransports(
      options.listen.host,
      options.listen.port,
      {
        message: (data, source) => this.#onData(data, source),
        drop: (kind, source) => {
          this.#counters[kind]++
          this.#log.warn({ source, kind }, 'SIP message dropped')
        },
      },
      options.maxMessageBytes ?? MAX_MESSAGE_BYTES,
    )
  }

  get address(): { host: string; port: number } {
    return { host: this.#options.listen.host, port: this.#transports.port }
  }

  get trunk(): SipTrunkTarget {
    return this.#options.trunk
  }

  async start(): Promise<void> {
    const { host } = this.#options.trunk
    this.#trunkAddress = isIP(host) ? host : (await lookup(host)).address
    // The trunk's address is always trusted (issue 11).
    this.#trusted.addAddress(this.#trunkAddress, isIP(this.#trunkAddress) === 6 ? 'ipv6' : 'ipv4')
    await this.#transports.start()
    this.#advertised = advertisedHost(this.#options.listen.host)
    this.#log.info({ listen: this.address, trunk: this.#options.trunk }, 'SIP trunk user agent listening')
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const t of this.#pendingTimers) clearTimeout(t)
    this.#pendingTimers.clear()
    for (const tx of this.#client.values()) tx.timers.forEach(clearTimeout)
    for (const tx of this.#server.values()) tx.timers.forEach(clearTimeout)
    this.#client.clear()
    this.#server.clear()
    for (const call of this.#dialogs.values()) call.dispose()
    this.#dialogs.clear()
    await this.#transports.close()
  }

  counters(): SipCounters {
    return { ...this.#counters }
  }

  dialogCount(): number {
    return this.#dialogs.size
  }

  messageCounts(): { direction: 'in' | 'out'; method: string; count: number }[] {
    return [...this.#messages].map(([key, count]) => {
      const [direction, method] = key.split(' ') as ['in' | 'out', string]
      return { direction, method, count }
    })
  }

  #countMessage(direction: 'in' | 'out', method: string): void {
    const key = `${direction} ${method}`
    this.#messages.set(key, (this.#messages.get(key) ?? 0) + 1)
  }

  onInvite(handler: (call: SipInboundCall, invite: SipInboundInvite) => void): void {
    this.#handler = handler
  }

  invite(request: SipInviteRequest): SipOutboundCall {
    const call = new OutboundCall(this, request)
    call.start()
    return call
  }

  restoreDialog(state: SipDialogState): SipDialogCall {
    if (state?.v !== 1) throw new TypeError('restoreDialog: not a SipDialogState of version 1')
    const existing = this.#dialogs.get(dialogKey(state.callId, state.localTag))
    if (existing) return existing
    const call =
      state.direction === 'outbound'
        ? new OutboundCall(this, undefined, state)
        : new InboundCall(this, undefined, undefined, state)
    this.registerDialog(call)
    return call
  }

  // ---- internals used by the call objects ------------------------------------------------------------

  /** @internal */
  get log(): SipLog {
    return this.#log
  }

  /** @internal */
  get counterRef(): SipCounters {
    return this.#counters
  }

  /** @internal */
  registerDialog(call: DialogCall): void {
    const d = call.dialog
    if (d) this.#dialogs.set(dialogKey(d.callId, d.localTag), call)
  }

  /** @internal */
  unregisterDialog(call: DialogCall): void {
    const d = call.dialog
    if (d && this.#dialogs.get(dialogKey(d.callId, d.localTag)) === call)
      this.#dialogs.delete(dialogKey(d.callId, d.localTag))
  }

  /** @internal A timer cleared by close(). */
  timer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#pendingTimers.delete(t)
      fn()
    }, ms)
    this.#pendingTimers.add(t)
    return t
  }

  /** @internal */
  clearTimer(t: NodeJS.Timeout | undefined): void {
    if (!t) return
    clearTimeout(t)
    this.#pendingTimers.delete(t)
  }

  /** @internal Our Contact URI. */
  contact(transport: SipTransportName): string {
    return `<sip:parley@${hostPort(this.#advertised, this.#transports.port)}${transport === 'tcp' ? ';transport=tcp' : ''}>`
  }

  /** @internal The trunk as a hop. */
  trunkHop(): Hop {
    const t = this.#options.trunk
    return { host: this.#trunkAddress || t.host, port: t.port, transport: t.transport }
  }

  /** @internal `host[:port]` of the trunk for URIs. */
  trunkHostPort(): string {
    const t = this.#options.trunk
    return hostPort(t.host, t.port === 5060 ? undefined : t.port)
  }

  /** @internal Where an in-dialog request goes: the first Route, else the remote target (RFC 3261 §12.2.1.1, loose routing). */
  async dialogHop(d: SipDialogState): Promise<Hop> {
    const uri = parseUri(parseNameAddr(d.routeSet[0] ?? '')?.uri ?? d.remoteTarget)
    if (!uri || uri.scheme === 'tel') return { ...d.peer, transport: d.transport }
    const transport =
      (uri.params.get('transport')?.toLowerCase() as SipTransportName | undefined) ?? d.transport
    const host = isIP(uri.host)
      ? uri.host
      : await lookup(uri.host).then(
          (r) => r.address,
          () => d.peer.host,
        )
    return { host, port: uri.port ?? 5060, transport: transport === 'tcp' ? 'tcp' : 'udp' }
  }

  /** @internal A Via for a request of ours. */
  via(transport: SipTransportName, branch: string): string {
    return `SIP/2.0/${transport.toUpperCase()} ${hostPort(this.#advertised, this.#transports.port)};branch=${branch};rport`
  }

  /** @internal Standard headers of an outgoing request. */
  baseHeaders(): SipHeaders {
    const h = new SipHeaders()
    h.add('max-forwards', '70')
    h.add('user-agent', this.#options.product ?? 'Parley')
    return h
  }

  /** @internal Digest credentials, if configured. */
  get credentials(): { username: string; password: string } | undefined {
    const { username, password } = this.#options
    return username !== undefined && password !== undefined ? { username, password } : undefined
  }

  /**
   * @internal Sends a request in a client transaction (RFC 3261 §17.1): retransmissions over UDP (Timer A/E),
   * timeout (Timer B/F), ACK of non-2xx finals of an INVITE (§17.1.1.3). Returns the transaction (its branch).
   */
  sendRequest(
    request: SipRequest,
    hop: Hop,
    handlers: { response(res: SipResponse): void; timeout(): void; transportError(err: Error): void },
  ): ClientTransaction {
    const via = parseVia(request.headers.get('via')!)!
    const branch = via.params.get('branch')!
    const method = request.method
    const data = serialize(request)
    const tx: ClientTransaction = {
      branch,
      method,
      request,
      hop,
      done: false,
      ack: undefined,
      timers: [],
      onResponse: (res) => {
        const status = res.status
        if (status < 200) {
          if (method === 'INVITE') tx.timers.splice(0).forEach((t) => this.clearTimer(t)) // no more A/B
          if (method === 'INVITE' && !tx.done) handlers.response(res)
          else if (method !== 'INVITE' && !tx.done) handlers.response(res)
          return
        }
        if (tx.done) {
          // A retransmitted final: re-ACK a non-2xx (§17.1.1.2); 2xx retransmissions are the dialog's (§13.2.2.4).
          if (tx.ack && status >= 300) void this.#write(hop, tx.ack)
          if (status < 300 && method === 'INVITE') handlers.response(res)
          return
        }
        tx.done = true
        tx.timers.splice(0).forEach((t) => this.clearTimer(t))
        if (method === 'INVITE' && status >= 300) {
          tx.ack = serialize(ackForNon2xx(request, res))
          void this.#write(hop, tx.ack)
        }
        // Keep the transaction to absorb retransmissions (Timer D / K, and RFC 6026 for 2xx), then forget it.
        const linger =
          hop.transport === 'udp'
            ? this.timers.transactionTimeoutMs
            : method === 'INVITE' && status < 300
              ? this.timers.transactionTimeoutMs
              : 0
        const t = this.timer(() => this.#client.delete(txKey(branch, method)), linger)
        tx.timers.push(t)
        handlers.response(res)
      },
    }
    this.#client.set(txKey(branch, method), tx)
    const fail = (err: Error) => {
      if (tx.done) return
      tx.done = true
      tx.timers.splice(0).forEach((t) => this.clearTimer(t))
      this.#client.delete(txKey(branch, method))
      handlers.transportError(err)
    }
    this.#write(hop, data).catch(fail)
    if (hop.transport === 'udp') {
      let interval = this.timers.t1Ms
      const retransmit = () => {
        if (tx.done) return
        this.#counters.retransmissions++
        this.#write(hop, data).catch(fail)
        interval = method === 'INVITE' ? interval * 2 : Math.min(interval * 2, this.timers.t2Ms)
        tx.timers.push(this.timer(retransmit, interval))
      }
      tx.timers.push(this.timer(retransmit, interval))
    }
    const timeoutMs = method === 'INVITE' ? this.timers.inviteTimeoutMs : this.timers.transactionTimeoutMs
    tx.timers.push(
      this.timer(() => {
        if (tx.done) return
        tx.done = true
        tx.timers.splice(0).forEach((t) => this.clearTimer(t))
        this.#client.delete(txKey(branch, method))
        this.#counters.timeouts++
        handlers.timeout()
      }, timeoutMs),
    )
    return tx
  }

  /** @internal Sends a response in the server transaction of `request`, remembering it for retransmissions. */
  respond(
    request: SipRequest,
    source: Source,
    status: number,
    options: { reason?: string; headers?: [string, string][]; body?: string; toTag?: string } = {},
  ): void {
    const res = makeResponse(request, status, options.reason ?? REASONS[status] ?? 'Unknown', options.toTag)
    for (const [k, v] of options.headers ?? []) res.headers.add(k, v)
    if (options.body) {
      res.headers.set('content-type', 'application/sdp')
      res.body = options.body
    }
    res.headers.add('server', this.#options.product ?? 'Parley')
    const data = serialize(res)
    const tx = this.#server.get(serverKey(request))
    if (tx) {
      tx.last = data
      if (status >= 200) this.#finalize(tx, status)
    }
    void this.#write({ host: source.address, port: source.port, transport: source.transport }, data).catch(
      (err: Error) => this.#log.debug({ err: err.message }, 'SIP response not sent'),
    )
  }

  /** @internal Sends a 2xx to an INVITE and retransmits it until the ACK (RFC 3261 §13.3.1.4); the end is told to `onTimeout`. */
  respond2xxReliably(
    request: SipRequest,
    source: Source,
    sdp: string,
    toTag: string,
    headers: [string, string][],
    onTimeout: () => void,
  ): () => void {
    this.respond(request, source, 200, { body: sdp, toTag, headers })
    const tx = this.#server.get(serverKey(request))
    const data = tx?.last
    let interval = this.timers.t1Ms
    let stopped = false
    const timers: NodeJS.Timeout[] = []
    const again = () => {
      if (stopped || !data) return
      this.#counters.retransmissions++
      void this.#write({ host: source.address, port: source.port, transport: source.transport }, data).catch(
        () => undefined,
      )
      interval = Math.min(interval * 2, this.timers.t2Ms)
      timers.push(this.timer(again, interval))
    }
    // Over TCP the 2xx is also retransmitted: reliability ends at the UA core, not the transport (§13.3.1.4).
    timers.push(this.timer(again, interval))
    timers.push(
      this.timer(() => {
        if (stopped) return
        stopped = true
        timers.forEach((t) => this.clearTimer(t))
        this.#counters.timeouts++
        onTimeout()
      }, this.timers.transactionTimeoutMs),
    )
    return () => {
      stopped = true
      timers.forEach((t) => this.clearTimer(t))
    }
  }

  /** After a final response the server transaction stays for retransmissions (Timer G/H over UDP, J), then goes. */
  #finalize(tx: ServerTransaction, status: number): void {
    if (tx.final) return
    tx.final = true
    tx.status = status
    const udp = tx.source.transport === 'udp'
    if (tx.request.method === 'INVITE' && status >= 300 && tx.last) {
      // Non-2xx final: retransmit until the ACK (Timer G), give up after Timer H.
      let interval = this.timers.t1Ms
      const data = tx.last
      const again = () => {
        if (!this.#server.has(tx.key) || !udp) return
        this.#counters.retransmissions++
        void this.#write(
          { host: tx.source.address, port: tx.source.port, transport: tx.source.transport },
          data,
        ).catch(() => undefined)
        interval = Math.min(interval * 2, this.timers.t2Ms)
        tx.timers.push(this.timer(again, interval))
      }
      if (udp) tx.timers.push(this.timer(again, interval))
    }
    tx.timers.push(
      this.timer(() => {
        tx.timers.forEach((t) => this.clearTimer(t))
        this.#server.delete(tx.key)
      }, this.timers.transactionTimeoutMs),
    )
  }

  /** @internal Sends raw bytes (an ACK, a CANCEL outside a transaction's bookkeeping). */
  async write(hop: Hop, data: Buffer): Promise<void> {
    return this.#write(hop, data)
  }

  async #write(hop: Hop, data: Buffer): Promise<void> {
    if (this.#closed) return
    await this.#transports.send(hop.transport, hop.host, hop.port, data)
    this.#counters.sent++
    const space = data.indexOf(0x20)
    this.#countMessage(
      'out',
      methodLabel(data.subarray(0, space < 0 ? 0 : Math.min(space, 16)).toString('latin1')),
    )
  }

  // ---- receiving --------------------------------------------------------------------------------------

  #onData(data: Buffer, source: Source): void {
    if (this.#closed) return
    // Keep-alive CRLFs on UDP (RFC 5626 §4.4.1) are not messages.
    if (data.every((b) => b === 0x0d || b === 0x0a)) return
    this.#counters.received++
    let result
    try {
      result = parseMessage(data, this.#options.maxMessageBytes ?? MAX_MESSAGE_BYTES)
    } catch (err) {
      // parseMessage does not throw; this is the last line of defence of the socket's event handler.
      result = { error: { kind: 'malformed' as const, detail: String(err), partial: undefined } }
    }
    if (result.error) {
      this.#countMessage('in', 'invalid')
      this.#counters[result.error.kind]++
      this.#log.warn({ source, kind: result.error.kind, detail: result.error.detail }, 'bad SIP message')
      const p = result.error.partial
      // RFC 3261 §16.3/§8.2: answer 400 when the request can be answered at all; never answer an ACK.
      if (p && p.method !== 'ACK' && canAnswer(p))
        this.respond(p, source, 400, { reason: `Bad Request (${result.error.detail})` })
      return
    }
    this.#countMessage(
      'in',
      result.message.kind === 'request' ? methodLabel(result.message.method) : 'response',
    )
    try {
      this.#dispatch(result.message, source)
    } catch (err) {
      this.#log.warn({ err, source }, 'SIP message handling failed')
    }
  }

  #dispatch(m: SipMessage, source: Source): void {
    if (m.kind === 'response') {
      const via = parseVia(m.headers.get('via')!)
      const cseq = parseCSeq(m.headers.get('cseq')!)
      const tx =
        via && cseq ? this.#client.get(txKey(via.params.get('branch') ?? '', cseq.method)) : undefined
      if (!tx) {
        // A 2xx retransmission after the INVITE transaction is gone: the dialog re-ACKs it (§13.2.2.4).
        if (cseq?.method === 'INVITE' && m.status >= 200 && m.status < 300)
          this.#dialogFor(m, 'response')?.onLate2xx(m)
        return
      }
      tx.onResponse(m)
      return
    }
    this.#onRequest(m, source)
  }

  #dialogFor(m: SipMessage, kind: 'request' | 'response'): DialogCall | undefined {
    const callId = m.headers.get('call-id')!
    const tag = parseNameAddr(m.headers.get(kind === 'request' ? 'to' : 'from')!)?.params.get('tag')
    return tag ? this.#dialogs.get(dialogKey(callId, tag)) : undefined
  }

  #onRequest(req: SipRequest, source: Source): void {
    const method = req.method.toUpperCase()
    const toTag = parseNameAddr(req.headers.get('to')!)?.params.get('tag')
    if (method === 'ACK') {
      // ACK of a non-2xx: same branch as the INVITE's server transaction (§17.2.1); of a 2xx: the dialog's.
      const tx = this.#server.get(serverKey(req, 'INVITE'))
      if (tx?.final && tx.status >= 300) {
        tx.timers.splice(0).forEach((t) => this.clearTimer(t))
        tx.timers.push(this.timer(() => this.#server.delete(tx.key), this.timers.t1Ms * 10))
        tx.owner?.acked()
        return
      }
      this.#dialogFor(req, 'request')?.onAck(req)
      return
    }
    const existing = this.#server.get(serverKey(req))
    if (existing) {
      // A retransmission: send the last response again (§17.2.1, §17.2.2).
      if (existing.last)
        void this.#write(
          { host: source.address, port: source.port, transport: source.transport },
          existing.last,
        ).catch(() => undefined)
      return
    }
    // Requests that may cost work or memory are budgeted per address: out-of-dialog ones, and in-dialog ones of
    // dialogs we do not hold (each may mean a store lookup). Server transactions are capped as a whole, against
    // floods from many (spoofed) addresses.
    const known = toTag ? this.#dialogFor(req, 'request') : undefined
    if (!known) {
      const verdict = this.#server.size >= MAX_SERVER_TRANSACTIONS ? 'busy' : this.#allow(source)
      if (verdict === 'drop') return
      if (verdict === 'busy') {
        if (this.#server.size >= MAX_SERVER_TRANSACTIONS) this.#counters.rateLimited++
        this.respond(req, source, 503, { headers: [['retry-after', '10']] })
        return
      }
    }
    const tx: ServerTransaction = {
      key: serverKey(req),
      source,
      request: req,
      last: undefined,
      final: false,
      status: 0,
      timers: [],
      owner: undefined,
    }
    this.#server.set(tx.key, tx)
    if (method === 'CANCEL') {
      // CANCEL matches the INVITE's server transaction by branch (§9.2).
      const invite = this.#server.get(serverKey(req, 'INVITE'))
      if (!invite) {
        this.#counters.unknownDialog++
        this.respond(req, source, 481)
        return
      }
      this.respond(req, source, 200)
      if (!invite.final) invite.owner?.cancel()
      return
    }
    if (toTag) {
      const call = this.#dialogFor(req, 'request')
      if (call) {
        call.onRequest(req, source)
        return
      }
      const lookupFn = this.#options.dialogLookup
      if (lookupFn) {
        const callId = req.headers.get('call-id')!
        lookupFn(callId, toTag).then(
          (state) => {
            if (this.#closed) return
            if (state && state.callId === callId && state.localTag === toTag) {
              const restored = this.restoreDialog(state)
              try {
                this.#options.onRestore?.(restored)
              } catch (err) {
                this.#log.warn({ err }, 'SIP onRestore handler threw')
              }
              ;(restored as unknown as DialogCall).onRequest(req, source)
            } else this.#unknownDialog(req, source)
          },
          (err: unknown) => {
            this.#log.warn({ err }, 'SIP dialog lookup failed')
            this.respond(req, source, 500)
          },
        )
        return
      }
      this.#unknownDialog(req, source)
      return
    }
    const trusted = this.#isTrusted(source.address)
    switch (method) {
      case 'INVITE':
        if (!trusted) {
          this.#counters.untrusted++
          this.#log.warn({ source }, 'SIP INVITE from an untrusted address: 403')
          this.respond(req, source, 403)
          return
        }
        this.#onInvite(req, source, tx)
        return
      case 'OPTIONS':
        this.respond(req, source, trusted ? 200 : 403, {
          headers: [
            ['allow', ALLOW],
            ['accept', 'application/sdp'],
          ],
        })
        return
      case 'BYE':
        this.#unknownDialog(req, source)
        return
      default:
        this.respond(req, source, 405, { headers: [['allow', ALLOW]] })
    }
  }

  #unknownDialog(req: SipRequest, source: Source): void {
    this.#counters.unknownDialog++
    this.respond(req, source, 481)
  }

  /** Per-address budget of out-of-dialog requests (INVITE floods): 503 beyond it, silence beyond twice it. */
  #allow(source: Source): 'ok' | 'busy' | 'drop' {
    const limits = { ...DEFAULT_RATE_LIMIT, ...this.#options.rateLimit }
    const { windowMs } = limits
    const requests = this.#isTrusted(source.address) ? limits.trustedRequests : limits.requests
    const now = Date.now()
    let entry = this.#rate.get(source.address)
    if (!entry || now - entry.start >= windowMs) {
      if (this.#rate.size > 10_000) this.#rate.clear()
      entry = { start: now, count: 0 }
      this.#rate.set(source.address, entry)
    }
    entry.count++
    if (entry.count <= requests) return 'ok'
    this.#counters.rateLimited++
    if (entry.count === requests + 1) this.#log.warn({ source }, 'SIP requests over the rate limit')
    // 503 tells an honest peer to back off (RFC 3261 §21.5.4); far beyond the budget, answering would only
    // amplify the flood.
    return entry.count <= 2 * requests ? 'busy' : 'drop'
  }

  /** Whether INVITEs from this address are accepted: the trunk's address and the `--sip-trusted` ranges. */
  #isTrusted(address: string): boolean {
    const family = isIP(address)
    if (family === 0) return false
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address
    return this.#trusted.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4')
  }

  #onInvite(req: SipRequest, source: Source, tx: ServerTransaction): void {
    const type = req.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase()
    if (!req.body.trim()) {
      // Offerless INVITEs (offer in the 2xx, answer in the ACK) are not supported.
      this.respond(req, source, 488, { reason: 'Not Acceptable Here (no SDP offer)' })
      return
    }
    if (type !== 'application/sdp') {
      this.respond(req, source, 415, { headers: [['accept', 'application/sdp']] })
      return
    }
    this.#counters.invitesIn++
    this.respond(req, source, 100)
    const call = new InboundCall(this, req, source)
    tx.owner = call
    const from = parseNameAddr(req.headers.get('from')!)!
    const to = parseNameAddr(req.headers.get('to')!)!
    const invite: SipInboundInvite = {
      from: parseUri(from.uri)?.user ?? '',
      to: parseUri(to.uri)?.user ?? parseUri(req.uri)?.user ?? '',
      fromUri: from.uri,
      toUri: to.uri,
      fromDisplay: from.display,
      sdp: req.body,
      source: { ...source },
    }
    if (!this.#handler) {
      call.reject(480)
      return
    }
    try {
      this.#handler(call, invite)
    } catch (err) {
      this.#log.warn({ err }, 'SIP onInvite handler threw')
      call.reject(500)
    }
  }
}

// ---- calls ---------------------------------------------------------------------------------------------

/** What both directions share: the dialog and its in-dialog requests. */
abstract class DialogCall extends Emitter<SipOutboundCallEvents & SipInboundCallEvents> implements SipCall {
  abstract readonly direction: 'outbound' | 'inbound'
  dialog: SipDialogState | undefined
  protected terminated = false
  #reinvitePending = false
  #remoteReoffer: { stop?: () => void; answered: boolean } | undefined
  /** The ACK of our last 2xx-answered INVITE, re-sent on 2xx retransmissions (§13.2.2.4). */
  #lastAck: { cseq: number; data: Buffer; hop: Hop } | undefined
  /** Pending 2xx of ours waiting for the ACK (inbound accept, answers to re-offers). */
  protected awaitingAck: { cseq: number; stop: () => void; resolve: () => void } | undefined

  constructor(readonly ua: SipUserAgent) {
    super((err) => ua.log.warn({ err }, 'SIP call listener threw'))
  }

  abstract get callId(): string

  dialogState(): SipDialogState | undefined {
    return this.dialog ? structuredClone(this.dialog) : undefined
  }

  protected changed(): void {
    if (this.dialog) this.emit('dialog', { state: structuredClone(this.dialog) })
  }

  /** Clears timers on shutdown. */
  dispose(): void {
    this.awaitingAck?.stop()
    this.#remoteReoffer?.stop?.()
  }

  protected end(): void {
    if (this.terminated) return
    this.terminated = true
    this.dispose()
    this.ua.unregisterDialog(this)
  }

  /** A request inside the dialog, built per RFC 3261 §12.2.1.1. */
  protected async inDialogRequest(
    method: string,
    body = '',
    cseq?: number,
  ): Promise<{ request: SipRequest; hop: Hop }> {
    const d = this.dialog!
    if (cseq === undefined) {
      d.localCseq++
      this.changed()
    }
    const hop = await this.ua.dialogHop(d)
    const h = this.ua.baseHeaders()
    h.add('via', this.ua.via(hop.transport, newBranch()))
    h.add('from', `<${d.localUri}>;tag=${d.localTag}`)
    h.add('to', `<${d.remoteUri}>;tag=${d.remoteTag}`)
    h.add('call-id', d.callId)
    h.add('cseq', `${cseq ?? d.localCseq} ${method}`)
    for (const r of d.routeSet) h.add('route', r)
    if (method === 'INVITE') {
      h.add('contact', this.ua.contact(d.transport))
      h.add('allow', ALLOW)
    }
    if (body) h.add('content-type', 'application/sdp')
    return { request: { kind: 'request', method, uri: d.remoteTarget, headers: h, body }, hop }
  }

  /** Sends `request`, answering one 401/407 challenge with digest credentials (RFC 3261 §22.2). */
  protected sendWithAuth(
    build: () => Promise<{ request: SipRequest; hop: Hop }>,
    handlers: { response(res: SipResponse): void; timeout(): void; transportError(err: Error): void },
    attempts = 0,
  ): void {
    void build().then(
      ({ request, hop }) => {
        this.ua.sendRequest(request, hop, {
          ...handlers,
          response: (res) => {
            if ((res.status === 401 || res.status === 407) && attempts < 2) {
              const auth = this.authorize(request, res)
              if (auth) {
                this.sendWithAuth(
                  async () => {
                    const next = await build()
                    next.request.headers.add(auth.header, auth.value)
                    return next
                  },
                  handlers,
                  attempts + 1,
                )
                return
              }
            }
            handlers.response(res)
          },
        })
      },
      (err: Error) => handlers.transportError(err),
    )
  }

  /** The Authorization header answering a challenge, or undefined without credentials or a usable challenge. */
  protected authorize(request: SipRequest, res: SipResponse): { header: string; value: string } | undefined {
    const creds = this.ua.credentials
    if (!creds) return undefined
    const proxy = res.status === 407
    const challenge = pickChallenge(res.headers.getAll(proxy ? 'proxy-authenticate' : 'www-authenticate'))
    if (!challenge) return undefined
    this.ua.counterRef.authChallenges++
    return {
      header: proxy ? 'proxy-authorization' : 'authorization',
      value: digestAuthorization({
        challenge,
        method: request.method,
        uri: request.uri,
        body: request.body,
        ...creds,
      }),
    }
  }

  /** ACK for a 2xx (a transaction of its own, §13.2.2.4), remembered for retransmitted 2xx. */
  protected async sendAck(cseq: number, authHeader?: [string, string]): Promise<void> {
    const { request, hop } = await this.inDialogRequest('ACK', '', cseq)
    request.headers.set('cseq', `${cseq} ACK`)
    if (authHeader) request.headers.add(authHeader[0], authHeader[1])
    const data = serialize(request)
    this.#lastAck = { cseq, data, hop }
    await this.ua.write(hop, data).catch(() => undefined)
  }

  /** @internal A 2xx retransmission after its transaction ended. */
  onLate2xx(res: SipResponse): void {
    const cseq = parseCSeq(res.headers.get('cseq')!)
    if (this.#lastAck && cseq?.seq === this.#lastAck.cseq)
      void this.ua.write(this.#lastAck.hop, this.#lastAck.data).catch(() => undefined)
  }

  /** @internal The ACK of a 2xx of ours. */
  onAck(req: SipRequest): void {
    const cseq = parseCSeq(req.headers.get('cseq')!)
    const waiting = this.awaitingAck
    if (!waiting || cseq?.seq !== waiting.cseq) return
    this.awaitingAck = undefined
    waiting.stop()
    waiting.resolve()
  }

  /** @internal A request inside this dialog (not ACK, not CANCEL). */
  onRequest(req: SipRequest, source: Source): void {
    const d = this.dialog
    if (!d || this.terminated) {
      this.ua.counterRef.unknownDialog++
      this.ua.respond(req, source, 481)
      return
    }
    const cseq = parseCSeq(req.headers.get('cseq')!)!
    // RFC 3261 §12.2.2: a CSeq lower than the last one is out of order: 500.
    if (d.remoteCseq !== null && cseq.seq <= d.remoteCseq) {
      this.ua.respond(req, source, 500, { reason: 'Server Internal Error (CSeq out of order)' })
      return
    }
    d.remoteCseq = cseq.seq
    this.changed()
    switch (req.method) {
      case 'BYE':
        this.ua.respond(req, source, 200)
        this.end()
        this.emit('ended', { by: 'remote' })
        return
      case 'INVITE':
        this.#onReinvite(req, source)
        return
      case 'OPTIONS':
        this.ua.respond(req, source, 200, { headers: [['allow', ALLOW]] })
        return
      case 'INFO':
        // DTMF travels as RFC 4733 RTP events; INFO bodies are acknowledged and ignored.
        this.ua.respond(req, source, 200)
        return
      default:
        this.ua.respond(req, source, 405, { headers: [['allow', ALLOW]] })
    }
  }

  #onReinvite(req: SipRequest, source: Source): void {
    const d = this.dialog!
    // RFC 3261 §14.2: a re-INVITE while ours is pending gets 491; while theirs is pending, 500 with Retry-After.
    if (this.#reinvitePending) {
      this.ua.respond(req, source, 491)
      return
    }
    if (this.#remoteReoffer && !this.#remoteReoffer.answered) {
      this.ua.respond(req, source, 500, { headers: [['retry-after', '1']] })
      return
    }
    if (!req.body.trim()) {
      this.ua.respond(req, source, 488, { reason: 'Not Acceptable Here (no SDP offer)' })
      return
    }
    this.ua.respond(req, source, 100)
    // Target refresh (§12.2.2).
    const contact = parseNameAddr(req.headers.get('contact') ?? '')
    if (contact) {
      d.remoteTarget = contact.uri
      this.changed()
    }
    const cseq = parseCSeq(req.headers.get('cseq')!)!.seq
    const state: { stop?: () => void; answered: boolean } = { answered: false }
    this.#remoteReoffer = state
    const guard = this.ua.timer(() => finish(500), this.ua.timers.reofferAnswerMs)
    const finish = (status: number, sdp?: string) => {
      if (state.answered || this.terminated) return
      state.answered = true
      this.ua.clearTimer(guard)
      if (status === 200 && sdp) {
        const stop = this.ua.respond2xxReliably(
          req,
          source,
          sdp,
          d.localTag,
          [['contact', this.ua.contact(d.transport)]],
          () => {
            // No ACK for our 2xx: the dialog is gone (§13.3.1.4): BYE and end.
            void this.bye().catch(() => undefined)
            this.emit('ended', { by: 'timeout' })
          },
        )
        state.stop = stop
        this.awaitingAck = { cseq, stop, resolve: () => undefined }
      } else this.ua.respond(req, source, status)
    }
    const had = this.emit('reoffer', {
      sdp: req.body,
      answer: (sdp: string) => finish(200, sdp),
      reject: (status = 488) => finish(status >= 300 && status < 700 ? status : 488),
    })
    if (!had) finish(488)
  }

  bye(): Promise<void> {
    if (!this.dialog || this.terminated) return Promise.resolve()
    this.end()
    return new Promise<void>((resolve) => {
      // Any final response, a timeout or a transport error ends the dialog alike (§15.1.1).
      this.sendWithAuth(() => this.inDialogRequest('BYE'), {
        response: (res) => {
          if (res.status >= 200) resolve()
        },
        timeout: () => resolve(),
        transportError: () => resolve(),
      })
    })
  }

  reinvite(sdp: string): Promise<string> {
    if (!this.dialog || this.terminated) return Promise.reject(new SipError(481, 'no established SIP dialog'))
    if (this.#reinvitePending) return Promise.reject(new SipError(491, 'a re-INVITE is already pending'))
    if (this.#remoteReoffer && !this.#remoteReoffer.answered)
      return Promise.reject(new SipError(491, 'the trunk’s re-INVITE is pending'))
    this.#reinvitePending = true
    return new Promise<string>((resolve, reject) => {
      const settle = (fn: () => void) => {
        this.#reinvitePending = false
        fn()
      }
      this.sendWithAuth(() => this.inDialogRequest('INVITE', sdp), {
        response: (res) => {
          if (res.status < 200) return
          const cseq = parseCSeq(res.headers.get('cseq')!)!.seq
          if (res.status < 300) {
            const contact = parseNameAddr(res.headers.get('contact') ?? '')
            if (contact && this.dialog) {
              this.dialog.remoteTarget = contact.uri
              this.changed()
            }
            this.sendAck(cseq).catch(() => undefined)
            settle(() => resolve(res.body))
            return
          }
          // §12.2.1.2: 481 or 408 to an in-dialog request ends the dialog.
          if (res.status === 481 || res.status === 408) {
            this.end()
            this.emit('ended', { by: 'remote' })
          }
          settle(() => reject(new SipError(res.status, `re-INVITE answered ${res.status} ${res.reason}`)))
        },
        timeout: () => settle(() => reject(new SipError(408, 're-INVITE: no answer from the SIP trunk'))),
        transportError: (err) => settle(() => reject(new SipError(503, `re-INVITE: ${err.message}`))),
      })
    })
  }
}

/** An INVITE to the trunk. */
class OutboundCall extends DialogCall implements SipOutboundCall {
  readonly direction = 'outbound' as const
  readonly #callId: string
  readonly #localTag: string
  #state: 'calling' | 'early' | 'confirmed' | 'failed' | 'ended' = 'calling'
  #tx: ClientTransaction | undefined
  #provisional = false
  #cancelRequested = false
  #cancelSent = false
  #cancelGuard: NodeJS.Timeout | undefined
  readonly #request: SipInviteRequest | undefined
  #cseq = 1

  constructor(ua: SipUserAgent, request: SipInviteRequest | undefined, restored?: SipDialogState) {
    super(ua)
    this.#request = request
    if (restored) {
      this.dialog = structuredClone(restored)
      this.#callId = restored.callId
      this.#localTag = restored.localTag
      this.#state = 'confirmed'
    } else {
      this.#callId = request?.callId ?? `${random(12)}@parley`
      this.#localTag = random(6)
    }
  }

  get callId(): string {
    return this.#callId
  }

  start(): void {
    const r = this.#request!
    this.ua.counterRef.invitesOut++
    const trunk = this.ua.trunkHostPort()
    const hop = this.ua.trunkHop()
    const localUri = `sip:${r.from}@${trunk}`
    const remoteUri = `sip:${r.to}@${trunk}`
    // Credentials per challenge header, all resent on later INVITEs (RFC 3261 §22.3: a proxy's and the trunk's).
    const credentials = new Map<string, string>()
    let attempts = 0
    const send = () => {
      const h = this.ua.baseHeaders()
      h.add('via', this.ua.via(hop.transport, newBranch()))
      h.add('from', `<${localUri}>;tag=${this.#localTag}`)
      h.add('to', `<${remoteUri}>`)
      h.add('call-id', this.#callId)
      h.add('cseq', `${this.#cseq} INVITE`)
      h.add('contact', this.ua.contact(hop.transport))
      h.add('allow', ALLOW)
      h.add('content-type', 'application/sdp')
      for (const [name, value] of credentials) h.add(name, value)
      const request: SipRequest = {
        kind: 'request',
        method: 'INVITE',
        uri: remoteUri,
        headers: h,
        body: r.sdp,
      }
      this.#provisional = false
      this.#tx = this.ua.sendRequest(request, hop, {
        response: (res) =>
          this.#onResponse(res, request, localUri, remoteUri, hop, (auth) => {
            if (attempts++ >= 2) return false
            credentials.set(auth[0], auth[1])
            this.#cseq++
            send()
            return true
          }),
        timeout: () =>
          this.#fail(
            408,
            `no answer from the SIP trunk within ${Math.round(this.ua.timers.inviteTimeoutMs / 1000)} s (RFC 3261 Timer B)`,
          ),
        transportError: (err) =>
          this.#fail(503, `SIP trunk unreachable (${(err as NodeJS.ErrnoException).code ?? err.message})`),
      })
    }
    send()
  }

  #onResponse(
    res: SipResponse,
    request: SipRequest,
    localUri: string,
    remoteUri: string,
    hop: Hop,
    retryAuth: (auth: [string, string]) => boolean,
  ): void {
    if (this.#state === 'failed' || this.#state === 'ended') {
      // A late 2xx after we gave up (timeout/cancel race): ACK and BYE it so the far end is not left up.
      if (res.status >= 200 && res.status < 300 && !this.dialog)
        this.#confirm(res, localUri, remoteUri, hop, true)
      else if (res.status >= 200 && res.status < 300) this.onLate2xx(res)
      return
    }
    if (res.status < 200) {
      this.#provisional = true
      if (this.#cancelRequested && !this.#cancelSent) this.#sendCancel(request, hop)
      if (res.status > 100) {
        this.#state = 'early'
        this.emit('provisional', {
          status: res.status,
          reason: res.reason,
          sdp: res.body.trim() ? res.body : undefined,
        })
      }
      return
    }
    if (res.status < 300) {
      if (this.#state === 'confirmed') {
        this.onLate2xx(res)
        return
      }
      this.#confirm(res, localUri, remoteUri, hop, this.#cancelRequested)
      return
    }
    if ((res.status === 401 || res.status === 407) && !this.#cancelRequested) {
      const auth = this.authorize(request, res)
      if (auth && retryAuth([auth.header, auth.value])) return
    }
    this.#fail(res.status, res.reason || REASONS[res.status] || 'failed')
  }

  #confirm(res: SipResponse, localUri: string, remoteUri: string, hop: Hop, hangUp: boolean): void {
    const to = parseNameAddr(res.headers.get('to')!)!
    const contact = parseNameAddr(res.headers.get('contact') ?? '')
    // UAC route set: Record-Route of the 2xx in reverse order (§12.1.2).
    const routeSet = res.headers.getAll('record-route').reverse()
    this.dialog = {
      v: 1,
      direction: 'outbound',
      callId: this.#callId,
      localTag: this.#localTag,
      remoteTag: to.params.get('tag') ?? '',
      localUri,
      remoteUri,
      localCseq: this.#cseq,
      remoteCseq: null,
      routeSet,
      remoteTarget: contact?.uri ?? remoteUri,
      transport: hop.transport,
      peer: { host: hop.host, port: hop.port },
    }
    this.ua.registerDialog(this)
    const authHeader = this.#tx?.request.headers.get('proxy-authorization')
    const auth: [string, string] | undefined = authHeader ? ['proxy-authorization', authHeader] : undefined
    this.sendAck(this.#cseq, auth).catch(() => undefined)
    if (hangUp) {
      // Answered after we cancelled or gave up (§9.1 race): end it at once.
      this.ua.clearTimer(this.#cancelGuard)
      void this.bye()
      if (this.#state !== 'failed') {
        this.#state = 'failed'
        this.emit('failed', { status: 487, reason: 'Request Terminated (answered after CANCEL; BYE sent)' })
      }
      return
    }
    this.#state = 'confirmed'
    this.changed()
    this.emit('answered', { sdp: res.body })
  }

  #fail(status: number, reason: string): void {
    if (this.#state === 'failed' || this.#state === 'ended' || this.#state === 'confirmed') return
    this.#state = 'failed'
    this.ua.clearTimer(this.#cancelGuard)
    this.emit('failed', { status, reason })
  }

  cancel(): void {
    if (this.#state !== 'calling' && this.#state !== 'early') return
    if (this.#cancelRequested) return
    this.#cancelRequested = true
    // A CANCEL may only follow a provisional response (§9.1); otherwise it goes when one arrives.
    if (this.#provisional && this.#tx) this.#sendCancel(this.#tx.request, this.#tx.hop)
    // Whatever the trunk does, the handle settles within Timer B's bound.
    this.#cancelGuard = this.ua.timer(
      () => this.#fail(487, 'Request Terminated (no final response to CANCEL)'),
      this.ua.timers.inviteTimeoutMs,
    )
  }

  #sendCancel(invite: SipRequest, hop: Hop): void {
    this.#cancelSent = true
    // §9.1: same Request-URI, Call-ID, To, From, CSeq number and top Via as the INVITE; Route copied.
    const h = new SipHeaders()
    h.add('via', invite.headers.get('via')!)
    h.add('max-forwards', '70')
    for (const name of ['from', 'to', 'call-id']) h.add(name, invite.headers.get(name)!)
    h.add('cseq', `${parseCSeq(invite.headers.get('cseq')!)!.seq} CANCEL`)
    for (const r of invite.headers.getAll('route')) h.add('route', r)
    this.ua.sendRequest({ kind: 'request', method: 'CANCEL', uri: invite.uri, headers: h, body: '' }, hop, {
      response: () => undefined,
      timeout: () => undefined,
      transportError: () => undefined,
    })
  }

  override bye(): Promise<void> {
    if (this.#state === 'confirmed') this.#state = 'ended'
    return super.bye()
  }
}

/** An INVITE from the trunk. */
class InboundCall extends DialogCall implements SipInboundCall {
  readonly direction = 'inbound' as const
  readonly #callId: string
  readonly #localTag: string
  #state: 'proceeding' | 'accepting' | 'confirmed' | 'rejected' | 'cancelled' = 'proceeding'

  constructor(
    ua: SipUserAgent,
    readonly request: SipRequest | undefined,
    readonly source: Source | undefined,
    restored?: SipDialogState,
  ) {
    super(ua)
    if (restored) {
      this.dialog = structuredClone(restored)
      this.#callId = restored.callId
      this.#localTag = restored.localTag
      this.#state = 'confirmed'
    } else {
      this.#callId = request!.headers.get('call-id')!
      this.#localTag = random(6)
    }
  }

  get callId(): string {
    return this.#callId
  }

  /** @internal CANCEL from the trunk (RFC 3261 §9.2): 487 to the INVITE. */
  cancel(): void {
    if (this.#state !== 'proceeding') return
    this.#state = 'cancelled'
    this.ua.respond(this.request!, this.source!, 487, { toTag: this.#localTag })
    this.emit('cancelled', {})
  }

  /** @internal ACK of our non-2xx final (nothing to do). */
  acked(): void {}

  ringing(sdp?: string): void {
    if (this.#state !== 'proceeding') return
    const headers: [string, string][] = [['contact', this.ua.contact(this.source!.transport)]]
    for (const rr of this.request!.headers.getAll('record-route')) headers.push(['record-route', rr])
    this.ua.respond(this.request!, this.source!, sdp ? 183 : 180, {
      toTag: this.#localTag,
      headers,
      ...(sdp ? { body: sdp } : {}),
    })
  }

  accept(sdp: string): Promise<void> {
    if (this.#state !== 'proceeding')
      return Promise.reject(
        new SipError(this.#state === 'cancelled' ? 487 : 500, `cannot accept: the call is ${this.#state}`),
      )
    this.#state = 'accepting'
    const req = this.request!
    const source = this.source!
    const from = parseNameAddr(req.headers.get('from')!)!
    const to = parseNameAddr(req.headers.get('to')!)!
    const contact = parseNameAddr(req.headers.get('contact') ?? '')
    const cseq = parseCSeq(req.headers.get('cseq')!)!.seq
    // UAS dialog (§12.1.1): route set = Record-Route in order, remote target = Contact.
    this.dialog = {
      v: 1,
      direction: 'inbound',
      callId: this.#callId,
      localTag: this.#localTag,
      remoteTag: from.params.get('tag') ?? '',
      localUri: to.uri,
      remoteUri: from.uri,
      localCseq: 0,
      remoteCseq: cseq,
      routeSet: req.headers.getAll('record-route'),
      remoteTarget: contact?.uri ?? from.uri,
      transport: source.transport,
      peer: { host: source.address, port: source.port },
    }
    this.ua.registerDialog(this)
    const headers: [string, string][] = [['contact', this.ua.contact(source.transport)]]
    for (const rr of req.headers.getAll('record-route')) headers.push(['record-route', rr])
    return new Promise<void>((resolve, reject) => {
      const stop = this.ua.respond2xxReliably(req, source, sdp, this.#localTag, headers, () => {
        // §13.3.1.4: no ACK within 64·T1 → the session is ended with a BYE.
        this.awaitingAck = undefined
        void this.bye().catch(() => undefined)
        this.emit('ended', { by: 'timeout' })
        reject(new SipError(408, 'the SIP trunk never acknowledged the 200 OK'))
      })
      this.awaitingAck = {
        cseq,
        stop,
        resolve: () => {
          this.#state = 'confirmed'
          this.changed()
          resolve()
        },
      }
    })
  }

  reject(status: number, reason?: string): void {
    if (this.#state !== 'proceeding') return
    if (!Number.isInteger(status) || status < 300 || status > 699)
      throw new RangeError(`reject: ${status} is not a final non-2xx status`)
    this.#state = 'rejected'
    this.ua.respond(this.request!, this.source!, status, {
      toTag: this.#localTag,
      ...(reason ? { reason } : {}),
    })
  }
}

// ---- helpers -------------------------------------------------------------------------------------------

const txKey = (branch: string, method: string) => `${branch}\n${method}`

/** Server transaction key: top Via branch + sent-by + method (ACK and CANCEL match the INVITE's, §17.2.3). */
function serverKey(req: SipRequest, method = req.method.toUpperCase()): string {
  const via = parseVia(req.headers.get('via')!)
  return `${via?.params.get('branch') ?? ''}\n${via?.host ?? ''}:${via?.port ?? ''}\n${method}`
}

function canAnswer(req: SipRequest): boolean {
  const via = req.headers.get('via')
  return Boolean(
    via &&
    parseVia(via) &&
    req.headers.get('call-id') &&
    req.headers.get('from') &&
    req.headers.get('to') &&
    req.headers.get('cseq'),
  )
}

/** A response to `req` (§8.2.6): Via, From, To (with our tag), Call-ID, CSeq copied. */
function makeResponse(req: SipRequest, status: number, reason: string, toTag?: string): SipResponse {
  const h = new SipHeaders()
  for (const v of req.headers.getAll('via')) h.add('via', v)
  h.add('from', req.headers.get('from') ?? '')
  const to = req.headers.get('to') ?? ''
  const parsed = parseNameAddr(to)
  if (toTag && status > 100 && parsed && !parsed.params.has('tag')) {
    parsed.params.set('tag', toTag)
    h.add('to', formatNameAddr(parsed))
  } else h.add('to', to)
  h.add('call-id', req.headers.get('call-id') ?? '')
  h.add('cseq', req.headers.get('cseq') ?? '')
  return { kind: 'response', status, reason, headers: h, body: '' }
}

/** ACK of a non-2xx final, in the INVITE's transaction (§17.1.1.3). */
function ackForNon2xx(invite: SipRequest, res: SipResponse): SipRequest {
  const h = new SipHeaders()
  h.add('via', invite.headers.get('via')!)
  h.add('max-forwards', '70')
  h.add('from', invite.headers.get('from')!)
  h.add('to', res.headers.get('to')!)
  h.add('call-id', invite.headers.get('call-id')!)
  h.add('cseq', `${parseCSeq(invite.headers.get('cseq')!)!.seq} ACK`)
  for (const r of invite.headers.getAll('route')) h.add('route', r)
  return { kind: 'request', method: 'ACK', uri: invite.uri, headers: h, body: '' }
}

function hostPort(host: string, port?: number): string {
  const h = isIP(host) === 6 ? `[${host}]` : host
  return port ? `${h}:${port}` : h
}

/** The host to put in Via/Contact: the listen address, or the first external IPv4 for a wildcard listen. */
function advertisedHost(listen: string): string {
  if (listen !== '0.0.0.0' && listen !== '::') return listen
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}
