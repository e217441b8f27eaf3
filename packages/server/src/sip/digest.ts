/**
 * HTTP Digest authentication toward the trunk, as SIP uses it (RFC 3261 §22.4 over RFC 2617; SHA-256 and the
 * `-sess` variants of RFC 7616 as RFC 8760 adds them to SIP). Client side only: Parley answers challenges
 * of the trunk; it never challenges the trunk itself (the trunk is trusted by address).
 */
import { createHash, randomBytes } from 'node:crypto'
import { splitList } from './message.js'

/** A parsed `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge. */
export interface DigestChallenge {
  realm: string
  nonce: string
  opaque: string | undefined
  /** Upper-cased: `MD5` (the default), `MD5-SESS`, `SHA-256`, `SHA-256-SESS`. */
  algorithm: string
  qop: string[]
  stale: boolean
}

/** Algorithms Parley answers, most preferred first (RFC 8760 §2.4: SHA-256 before MD5). */
const SUPPORTED = ['SHA-256', 'SHA-256-SESS', 'MD5', 'MD5-SESS']

/** Parses one challenge header value; null for a non-Digest scheme or a challenge without realm/nonce. */
export function parseChallenge(value: string): DigestChallenge | null {
  const m = /^\s*Digest\s+(.*)$/is.exec(value)
  if (!m) return null
  const params = new Map<string, string>()
  for (const part of splitList(m[1]!)) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    let v = part.slice(eq + 1).trim()
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1')
    params.set(part.slice(0, eq).trim().toLowerCase(), v)
  }
  const realm = params.get('realm')
  const nonce = params.get('nonce')
  if (realm === undefined || !nonce) return null
  return {
    realm,
    nonce,
    opaque: params.get('opaque'),
    algorithm: (params.get('algorithm') ?? 'MD5').toUpperCase(),
    qop: (params.get('qop') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  }
}

/** Of several challenges (one per algorithm, RFC 8760 §2.4), the one to answer; null when none is supported. */
export function pickChallenge(values: string[]): DigestChallenge | null {
  const parsed = values.map(parseChallenge).filter((c): c is DigestChallenge => c !== null)
  for (const algorithm of SUPPORTED) {
    const c = parsed.find(
      (p) =>
        p.algorithm === algorithm &&
        (p.qop.length === 0 || p.qop.includes('auth') || p.qop.includes('auth-int')),
    )
    if (c) return c
  }
  return null
}

/** What an Authorization header is computed from. */
export interface DigestInput {
  challenge: DigestChallenge
  method: string
  uri: string
  username: string
  password: string
  /** The request body (for qop=auth-int). */
  body?: string
  /** Nonce count, 1 for the first use of this nonce. */
  nc?: number
  /** Client nonce; random when unset (tests pass a fixed one). */
  cnonce?: string
}

function hash(algorithm: string, text: string): string {
  return createHash(algorithm.startsWith('SHA-256') ? 'sha256' : 'md5')
    .update(text, 'utf8')
    .digest('hex')
}

/** The `Authorization` / `Proxy-Authorization` header value answering a challenge (RFC 2617 §3.2.2, RFC 7616 §3.4). */
export function digestAuthorization(input: DigestInput): string {
  const { challenge: c, method, uri, username, password } = input
  const alg = c.algorithm
  const qop = c.qop.includes('auth') ? 'auth' : c.qop.includes('auth-int') ? 'auth-int' : undefined
  const cnonce = input.cnonce ?? randomBytes(12).toString('hex')
  const nc = (input.nc ?? 1).toString(16).padStart(8, '0')
  let ha1 = hash(alg, `${username}:${c.realm}:${password}`)
  if (alg.endsWith('-SESS')) ha1 = hash(alg, `${ha1}:${c.nonce}:${cnonce}`)
  const ha2 = hash(
    alg,
    qop === 'auth-int' ? `${method}:${uri}:${hash(alg, input.body ?? '')}` : `${method}:${uri}`,
  )
  const response = qop
    ? hash(alg, `${ha1}:${c.nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
    : hash(alg, `${ha1}:${c.nonce}:${ha2}`)
  const q = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`
  const parts = [
    `username=${q(username)}`,
    `realm=${q(c.realm)}`,
    `nonce=${q(c.nonce)}`,
    `uri=${q(uri)}`,
    `response=${q(response)}`,
    `algorithm=${c.algorithm === 'MD5' ? 'MD5' : c.algorithm.replace('-SESS', '-sess')}`,
  ]
  if (c.opaque !== undefined) parts.push(`opaque=${q(c.opaque)}`)
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${q(cnonce)}`)
  return `Digest ${parts.join(', ')}`
}
