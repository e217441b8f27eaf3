import type { FastifyRequest } from 'fastify'
import { OAuthError } from '../services/errors.js'

/** Client credentials of a token request, and where they came from. */
export interface ClientCredentials {
  clientId: string
  clientSecret: string
  /** `basic`: the Authorization header (RFC 6749 §2.3.1); `body`: the form fields. */
  via: 'basic' | 'body'
}

function formDecode(text: string): string {
  // RFC 6749 §2.3.1 / Appendix B: the id and secret are form-urlencoded before the Basic encoding.
  return decodeURIComponent(text.replace(/\+/g, '%20'))
}

/**
 * The client credentials of a `client_credentials` token request: HTTP Basic, or `client_id` and
 * `client_secret` form fields; both at once is refused (RFC 6749 §2.3: one method per request). Undefined
 * when neither is present.
 */
export function clientCredentialsOf(
  request: FastifyRequest,
  fields: Record<string, string | undefined>,
): ClientCredentials | undefined {
  const header = request.headers.authorization
  const basic = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null
  if (header && !basic) throw new OAuthError(401, 'invalid_client', 'Unsupported Authorization scheme')
  if (basic) {
    if (fields.client_secret !== undefined)
      throw new OAuthError(400, 'invalid_request', 'use one client authentication method, not two')
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0) throw new OAuthError(401, 'invalid_client', 'Malformed Basic credentials')
    let clientId: string
    let clientSecret: string
    try {
      clientId = formDecode(decoded.slice(0, colon))
      clientSecret = formDecode(decoded.slice(colon + 1))
    } catch {
      throw new OAuthError(401, 'invalid_client', 'Malformed Basic credentials')
    }
    if (fields.client_id !== undefined && fields.client_id !== clientId)
      throw new OAuthError(400, 'invalid_request', 'client_id differs from the Basic credentials')
    return { clientId, clientSecret, via: 'basic' }
  }
  if (fields.client_id === undefined && fields.client_secret === undefined) return undefined
  return { clientId: fields.client_id ?? '', clientSecret: fields.client_secret ?? '', via: 'body' }
}

/** The key a request names, for its per-key budget (empty when it names none or is malformed). */
export function clientIdForLimit(request: FastifyRequest): string {
  try {
    const body = (request.body ?? {}) as Record<string, unknown>
    const fields: Record<string, string | undefined> = {}
    for (const name of ['client_id', 'client_secret'])
      if (typeof body[name] === 'string') fields[name] = body[name]
    return clientCredentialsOf(request, fields)?.clientId ?? ''
  } catch {
    return ''
  }
}
