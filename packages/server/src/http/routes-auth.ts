import { TokenRequestForm, TokenResponse } from '@parley/protocol'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { clientCredentialsOf } from './client-credentials.js'
import { OAuthError } from '../services/errors.js'
import type { TokenService } from '../services/tokens.js'
import { oauthErrorHandler } from './errors.js'
import { documentBody, oauthErrors, reply as response } from './openapi.js'
import type { Limiters } from './rate-limits.js'

/**
 * The client_credentials grant (issue 15). A client that authenticated with HTTP Basic and failed gets
 * `WWW-Authenticate` with its 401 (RFC 6749 §5.2).
 */
async function clientCredentialsGrant(
  tokens: TokenService,
  request: FastifyRequest,
  reply: FastifyReply,
  fields: Record<string, string | undefined>,
) {
  const credentials = clientCredentialsOf(request, fields)
  if (!credentials?.clientId || !credentials.clientSecret)
    throw new OAuthError(401, 'invalid_client', 'client_id and client_secret are required')
  try {
    return await tokens.clientCredentialsGrant(credentials, fields.scope)
  } catch (err) {
    if (credentials.via === 'basic' && err instanceof OAuthError && err.status === 401)
      reply.header('WWW-Authenticate', 'Basic realm="parley"')
    throw err
  }
}

/**
 * `POST /cpaas/auth/v1/token` (protocol §3.1): password, refresh-token and client-credentials grants, OAuth
 * error bodies.
 */
export function tokenRoutes(app: FastifyInstance, tokens: TokenService, limits: Limiters): void {
  const schema = {
    tags: ['Tokens'],
    operationId: 'token',
    summary: 'Issue tokens (password, refresh-token or client-credentials grant)',
    description:
      'OAuth 2.0 token endpoint (protocol §3.1): a form-encoded body, no Authorization header. Failures use the ' +
      'OAuth 2.0 error body, not the protocol error body.',
    response: {
      200: response('Access, id and refresh tokens', TokenResponse, {
        'Cache-Control': { type: 'string', enum: ['no-store'] },
      }),
      ...oauthErrors({
        400: 'invalid_request (not a form, a missing or repeated field), invalid_grant, unsupported_grant_type',
        401: 'invalid_client: unknown client_id, or a wrong project key or secret (client_credentials)',
        413: 'invalid_request: body too large',
        429: 'too_many_requests: per-address, per-login or per-key budget spent',
        500: 'server_error',
      }),
    },
  }
  // The form is read by the handler, not validated by fastify: every malformed form gets an OAuth error body.
  const config = { swaggerTransform: documentBody('application/x-www-form-urlencoded', TokenRequestForm) }
  app.post(
    '/cpaas/auth/v1/token',
    { errorHandler: oauthErrorHandler, schema, config },
    async (request, reply) => {
      // RFC 6749 §4.3.2, §6: the token request is form-encoded (as the quickstart sends it, §3.1). A JSON body
      // with the same fields is another API; refuse it rather than issue tokens for it.
      const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
      const body = request.body
      if (mediaType !== 'application/x-www-form-urlencoded' || typeof body !== 'object' || body === null) {
        throw new OAuthError(400, 'invalid_request', 'expected a form-encoded body')
      }
      const fields: Record<string, string | undefined> = {}
      for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
        if (typeof value === 'string') fields[key] = value
        else if (value !== undefined)
          throw new OAuthError(400, 'invalid_request', `${key} must be given once`)
      }
      const grant = fields.grant_type
      const tooMany = () => new OAuthError(429, 'too_many_requests', 'Too many token requests; retry later')
      // Password guessing is slowed per address and per login (429 with Retry-After), before any hashing;
      // anonymous grants per address and per project key (issue 15) instead of per login.
      if (!(await limits.tokenByAddress(request, reply))) throw tooMany()
      if (grant === 'client_credentials') {
        if (
          !(await limits.anonymousByAddress(request, reply)) ||
          !(await limits.anonymousByKey(request, reply))
        )
          throw tooMany()
      } else if (!(await limits.tokenByLogin(request, reply))) {
        throw tooMany()
      }
      if (!grant) throw new OAuthError(400, 'invalid_request', 'grant_type is required')
      const response =
        grant === 'password'
          ? await tokens.passwordGrant(fields)
          : grant === 'refresh_token'
            ? await tokens.refreshGrant(fields)
            : grant === 'client_credentials'
              ? await clientCredentialsGrant(tokens, request, reply, fields)
              : undefined
      if (!response)
        throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${grant} is not supported`)
      return reply.code(200).header('Cache-Control', 'no-store').type('application/json').send(response)
    },
  )
}
