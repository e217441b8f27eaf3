/**
 * SIP message syntax (RFC 3261 §7, §20, §25): parsing from bytes and serialising back. The parser is
 * defensive: it never throws on input, it returns `{ error }` for anything malformed, binary or oversized,
 * and it bounds every loop by the (already bounded) input length.
 */

/** Compact header forms (RFC 3261 §7.3.3, §20). */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
}

/** Headers whose comma-separated values are separate entries (RFC 3261 §7.3.1). */
const LIST_HEADERS = new Set(['via', 'route', 'record-route', 'contact'])

/** Canonical spelling when serialising. */
const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'proxy-authenticate': 'Proxy-Authenticate',
}

/** Default largest accepted message (a UDP datagram cannot exceed 64 KiB anyway). */
export const MAX_MESSAGE_BYTES = 64 * 1024

/** Ordered, case-insensitive header list; list headers are stored one value per entry. */
export class SipHeaders {
  readonly #entries: [name: string, value: string][] = []

  /** Appends a value (`name` any case; compact forms are expanded). */
  add(name: string, value: string): this {
    this.#entries.push([normalizeName(name), value])
    return this
  }

  /** Replaces every value of `name` with one. */
  set(name: string, value: string): this {
    this.remove(name)
    return this.add(name, value)
  }

  remove(name: string): this {
    const n = normalizeName(name)
    for (let i = this.#entries.length - 1; i >= 0; i--)
      if (this.#entries[i]![0] === n) this.#entries.splice(i, 1)
    return this
  }

  /** The first value, or undefined. */
  get(name: string): string | undefined {
    const n = normalizeName(name)
    return this.#entries.find(([k]) => k === n)?.[1]
  }

  getAll(name: string): string[] {
    const n = normalizeName(name)
    return this.#entries.filter(([k]) => k === n).map(([, v]) => v)
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  entries(): readonly (readonly [string, string])[] {
    return this.#entries
  }

  clone(): SipHeaders {
    const h = new SipHeaders()
    for (const [k, v] of this.#entries) h.add(k, v)
    return h
  }
}

function normalizeName(name: string): string {
  const n = name.toLowerCase()
  return COMPACT[n] ?? n
}

function canonicalName(name: string): string {
  return (
    CANONICAL[name] ?? name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())
  )
}

/** A SIP request. */
export interface SipRequest {
  kind: 'request'
  method: string
  uri: string
  headers: SipHeaders
  body: string
}

/** A SIP response. */
export interface SipResponse {
  kind: 'response'
  status: number
  reason: string
  headers: SipHeaders
  body: string
}

export type SipMessage = SipRequest | SipResponse

/** Why a datagram or stream frame was not accepted. */
export type ParseErrorKind = 'oversized' | 'binary' | 'malformed'

/** Parse result: the message, or an error with whatever identifying headers could be read (to answer 400). */
export type ParseResult =
  | { message: SipMessage; error?: undefined }
  | { message?: undefined; error: { kind: ParseErrorKind; detail: string; partial?: SipRequest | undefined } }

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parses one complete SIP message. `buffer` holds the whole datagram (UDP) or one frame cut at its
 * Content-Length (TCP, see {@link frameLength}). Never throws.
 */
export function parseMessage(buffer: Buffer, maxBytes = MAX_MESSAGE_BYTES): ParseResult {
  if (buffer.length > maxBytes) return fail('oversized', `${buffer.length} bytes`)
  const headEnd = findHeadEnd(buffer)
  if (headEnd === null) return fail('malformed', 'no end of headers')
  let head: string
  try {
    head = fatalUtf8.decode(buffer.subarray(0, headEnd.index))
  } catch {
    return fail('binary', 'headers are not UTF-8')
  }
  // Control characters other than CR, LF and HT do not occur in the header grammar (RFC 3261 §25.1).
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(head)) return fail('binary', 'control characters in headers')
  const lines = unfold(head.split(/\r?\n/))
  const startLine = lines.shift() ?? ''
  const headers = new SipHeaders()
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0) return fail('malformed', 'header line without a name')
    const name = line.slice(0, colon).trim()
    if (!TOKEN.test(name)) return fail('malformed', 'bad header name')
    const value = line.slice(colon + 1).trim()
    const n = normalizeName(name)
    if (LIST_HEADERS.has(n)) {
      for (const part of splitList(value)) headers.add(n, part)
    } else headers.add(n, value)
  }
  let bodyBytes = buffer.subarray(headEnd.bodyStart)
  const cl = headers.get('content-length')
  if (cl !== undefined) {
    if (!/^\d{1,9}$/.test(cl)) return fail('malformed', 'bad Content-Length')
    const n = Number(cl)
    // RFC 3261 §18.3: a datagram shorter than its Content-Length is discarded (here: answered 400).
    if (n > bodyBytes.length) return fail('malformed', 'body shorter than Content-Length', headers, startLine)
    bodyBytes = bodyBytes.subarray(0, n)
  }
  const body = bodyBytes.toString('utf8')

  const resp = /^SIP\/2\.0 ([1-6]\d\d) ?(.*)$/.exec(startLine)
  let message: SipMessage
  if (resp) {
    message = { kind: 'response', status: Number(resp[1]), reason: resp[2] ?? '', headers, body }
  } else {
    const req = /^([^ ]+) ([^ ]+) SIP\/2\.0$/.exec(startLine)
    if (!req || !TOKEN.test(req[1]!)) return fail('malformed', 'bad start line')
    if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(req[2]!)) return fail('malformed', 'bad Request-URI')
    message = { kind: 'request', method: req[1]!, uri: req[2]!, headers, body }
  }
  const missing = checkMandatory(message)
  if (missing) {
    return message.kind === 'request'
      ? { error: { kind: 'malformed', detail: missing, partial: message } }
      : fail('malformed', missing)
  }
  return { message }
}

function fail(
  kind: ParseErrorKind,
  detail: string,
  headers?: SipHeaders,
  startLine?: string,
): ParseResult & { error: object } {
  let partial: SipRequest | undefined
  const req = startLine ? /^([^ ]+) ([^ ]+) SIP\/2\.0$/.exec(startLine) : null
  if (headers && req) partial = { kind: 'request', method: req[1]!, uri: req[2]!, headers, body: '' }
  return { error: { kind, detail, partial } }
}

/** RFC 3261 §8.1.1: To, From, CSeq, Call-ID, Via are mandatory (Max-Forwards is added by proxies anyway). */
function checkMandatory(m: SipMessage): string | undefined {
  for (const h of ['via', 'to', 'from', 'call-id', 'cseq']) if (!m.headers.get(h)) return `missing ${h}`
  const cseq = parseCSeq(m.headers.get('cseq')!)
  if (!cseq) return 'bad CSeq'
  if (m.kind === 'request' && cseq.method !== m.method && !(m.method === 'ACK' && cseq.method === 'ACK'))
    return 'CSeq method differs from the request method'
  if (!parseVia(m.headers.get('via')!)) return 'bad Via'
  if (!parseNameAddr(m.headers.get('from')!) || !parseNameAddr(m.headers.get('to')!)) return 'bad From/To'
  return undefined
}

function findHeadEnd(buffer: Buffer): { index: number; bodyStart: number } | null {
  const crlf = buffer.indexOf('\r\n\r\n')
  const lf = buffer.indexOf('\n\n')
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { index: crlf, bodyStart: crlf + 4 }
  if (lf >= 0) return { index: lf, bodyStart: lf + 2 }
  return null
}

/** Joins continuation lines (leading SP/HT) to the header they continue (RFC 3261 §7.3.1). */
function unfold(lines: string[]): string[] {
  const out: string[] = []
  for (const line of lines) {
    if (/^[ \t]/.test(line) && out.length > 1) out[out.length - 1] += ' ' + line.trim()
    else if (line !== '') out.push(line)
  }
  return out
}

/** Splits a header value on commas outside quotes and angle brackets. */
export function splitList(value: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (quoted) {
      if (c === '\\') i++
      else if (c === '"') quoted = false
    } else if (c === '"') quoted = true
    else if (c === '<') depth++
    else if (c === '>') depth = Math.max(0, depth - 1)
    else if (c === ',' && depth === 0) {
      parts.push(value.slice(start, i).trim())
      start = i + 1
    }
  }
  parts.push(value.slice(start).trim())
  return parts.filter((p) => p !== '')
}

/** Serialises a message; Content-Length is always (re)computed (mandatory on TCP, RFC 3261 §18.3). */
export function serialize(m: SipMessage): Buffer {
  const start = m.kind === 'request' ? `${m.method} ${m.uri} SIP/2.0` : `SIP/2.0 ${m.status} ${m.reason}`
  const body = Buffer.from(m.body, 'utf8')
  const lines = [start]
  for (const [name, value] of m.headers.entries()) {
    if (name === 'content-length') continue
    lines.push(`${canonicalName(name)}: ${value}`)
  }
  lines.push(`Content-Length: ${body.length}`)
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'), body])
}

/**
 * For a TCP stream: the byte length of the first complete message in `buffer`, `null` when more bytes are
 * needed, or `'invalid'` when the head is unusable (no Content-Length is read as 0, RFC 3261 §18.3).
 */
export function frameLength(buffer: Buffer, maxBytes = MAX_MESSAGE_BYTES): number | null | 'invalid' {
  const head = findHeadEnd(buffer)
  if (!head) return buffer.length > maxBytes ? 'invalid' : null
  const text = buffer.subarray(0, head.index).toString('latin1')
  const m = /(?:^|\n)(?:content-length|l)[ \t]*:[ \t]*(\d{1,9})[ \t]*\r?(?:\n|$)/i.exec(text)
  const length = head.bodyStart + (m ? Number(m[1]) : 0)
  if (length > maxBytes) return 'invalid'
  return buffer.length >= length ? length : null
}

// ---- header value grammar -------------------------------------------------------------------------------

/** Parameters `;a=b;c` → Map (names lower-cased; a flag has the value ''). */
export function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>()
  for (const part of text.split(';')) {
    const p = part.trim()
    if (!p) continue
    const eq = p.indexOf('=')
    if (eq < 0) params.set(p.toLowerCase(), '')
    else params.set(p.slice(0, eq).trim().toLowerCase(), unquote(p.slice(eq + 1).trim()))
  }
  return params
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s
}

/** A parsed name-addr / addr-spec header (From, To, Contact, Route, Record-Route; RFC 3261 §20.10). */
export interface NameAddr {
  display: string | undefined
  uri: string
  params: Map<string, string>
}

export function parseNameAddr(value: string): NameAddr | null {
  const v = value.trim()
  const lt = v.indexOf('<')
  if (lt >= 0) {
    const gt = v.indexOf('>', lt)
    if (gt < 0) return null
    const display = v.slice(0, lt).trim()
    const uri = v.slice(lt + 1, gt).trim()
    if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(uri) && uri !== '*') return null
    return { display: display ? unquote(display) : undefined, uri, params: parseParams(v.slice(gt + 1)) }
  }
  if (v === '*') return { display: undefined, uri: '*', params: new Map() }
  // addr-spec: parameters after the URI belong to the header (RFC 3261 §20).
  const semi = v.indexOf(';')
  const uri = semi < 0 ? v : v.slice(0, semi)
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s,;?]+$/.test(uri)) return null
  return { display: undefined, uri, params: parseParams(semi < 0 ? '' : v.slice(semi)) }
}

/** Serialises a name-addr with its parameters. */
export function formatNameAddr(a: NameAddr): string {
  const display = a.display ? `"${a.display.replace(/["\\]/g, '\\$&')}" ` : ''
  return `${display}<${a.uri}>${formatParams(a.params)}`
}

export function formatParams(params: Map<string, string>): string {
  let s = ''
  for (const [k, v] of params) s += v === '' ? `;${k}` : `;${k}=${v}`
  return s
}

/** A parsed SIP or tel URI (RFC 3261 §19.1, RFC 3966). */
export interface SipUri {
  scheme: string
  user: string | undefined
  host: string
  port: number | undefined
  params: Map<string, string>
}

export function parseUri(uri: string): SipUri | null {
  const m =
    /^(sips?):(?:([^@;?]*)@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:;[^?]*)?)(?:\?.*)?$/.exec(
      uri.trim(),
    )
  if (m) {
    const port = m[4] ? Number(m[4]) : undefined
    if (port !== undefined && (port < 1 || port > 65535)) return null
    const user = m[2] !== undefined ? m[2].split(':')[0] : undefined
    return {
      scheme: m[1]!.toLowerCase(),
      user: user !== undefined ? safeDecode(user) : undefined,
      host: m[3]!.replace(/^\[|\]$/g, '').toLowerCase(),
      port,
      params: parseParams(m[5] ?? ''),
    }
  }
  const tel = /^tel:([^;]+)((?:;.*)?)$/i.exec(uri.trim())
  if (tel)
    return { scheme: 'tel', user: tel[1], host: '', port: undefined, params: parseParams(tel[2] ?? '') }
  return null
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** A parsed Via entry (RFC 3261 §20.42). */
export interface Via {
  transport: string
  host: string
  port: number | undefined
  params: Map<string, string>
}

export function parseVia(value: string): Via | null {
  const m =
    /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?:\s*:\s*(\d{1,5}))?\s*((?:;.*)?)$/i.exec(
      value.trim(),
    )
  if (!m) return null
  return {
    transport: m[1]!.toUpperCase(),
    host: m[2]!.replace(/^\[|\]$/g, ''),
    port: m[3] ? Number(m[3]) : undefined,
    params: parseParams(m[4] ?? ''),
  }
}

export function parseCSeq(value: string): { seq: number; method: string } | null {
  const m = /^(\d{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)$/.exec(value.trim())
  if (!m) return null
  const seq = Number(m[1])
  // RFC 3261 §8.1.1.5: the sequence number is a 32-bit unsigned integer.
  if (seq > 2 ** 32 - 1) return null
  return { seq, method: m[2]!.toUpperCase() }
}

/** The reason phrases Parley sends. */
export const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  183: 'Session Progress',
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  415: 'Unsupported Media Type',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  503: 'Service Unavailable',
  603: 'Decline',
}
