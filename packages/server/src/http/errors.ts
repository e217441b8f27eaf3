import { PROTOCOL_ERRORS, requestErrorBody, type ProtocolErrorCode } from '@parley/protocol'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, OAuthError } from '../services/errors.js'

/** Sends the protocol's error body (§4.4) with `Content-Type: application/json` (§4.4 MUST). */
export function sendProtocolError(
  reply: FastifyReply,
  code: ProtocolErrorCode,
  variables: string[] = [],
): FastifyReply {
  const def = PROTOCOL_ERRORS[code]
  return reply
    .code(def.status)
    .type('application/json')
    .send(requestErrorBody(def.messageId, def.text, variables))
}

/**
 * The part of the body a validation error names (§13.2 "the part, e.g. ["offer"]"): the field right under
 * the body's wrapper key (`wrtcsSession.offer.sdp` → `offer`), the wrapper key itself when it is missing,
 * or `body` when the body is not an object at all.
 */
export function validationField(err: FastifyError): string {
  const first = err.validation?.[0]
  if (!first) return 'body'
  const segments = first.instancePath.split('/').filter(Boolean)
  const params = first.params as { missingProperty?: string }
  if (first.keyword === 'required' && params.missingProperty) segments.push(params.missingProperty)
  if (segments.length === 0)
    return err.validationContext === 'body' || !err.validationContext ? 'body' : err.validationContext
  return segments.length > 1 ? segments[1]! : segments[0]!
}

/** The one error handler of the REST API: every failure becomes a §4.4 body; 5xx details are logged, never sent. */
export function protocolErrorHandler(
  err: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (err instanceof ApiError) {
    return reply
      .code(err.status)
      .type('application/json')
      .send(requestErrorBody(err.messageId, err.text, err.variables))
  }
  if (err.validation) return sendProtocolError(reply, 'INVALID_INPUT', [validationField(err)])
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return sendProtocolError(reply, 'BODY_TOO_LARGE')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return sendProtocolError(reply, 'UNSUPPORTED_MEDIA_TYPE')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return sendProtocolError(reply, 'INVALID_INPUT', ['body'])
  }
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    // Anything else the framework rejects as the client's fault (e.g. a malformed body) is "invalid input".
    request.log.info({ code: err.code, msg: err.message }, 'request rejected')
    return sendProtocolError(reply, 'INVALID_INPUT', ['body'])
  }
  request.log.error({ err }, 'internal error')
  return sendProtocolError(reply, 'INTERNAL')
}

/** Error handler of the token endpoint: OAuth 2.0 bodies instead (§3.1). */
export function oauthErrorHandler(
  err: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (err instanceof OAuthError) {
    return reply
      .code(err.status)
      .type('application/json')
      .send({ error: err.error, error_description: err.description })
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return reply
      .code(413)
      .type('application/json')
      .send({ error: 'invalid_request', error_description: 'Request body too large' })
  }
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    return reply
      .code(400)
      .type('application/json')
      .send({ error: 'invalid_request', error_description: 'Malformed request' })
  }
  request.log.error({ err }, 'internal error in the token endpoint')
  return reply
    .code(500)
    .type('application/json')
    .send({ error: 'server_error', error_description: 'Internal error' })
}

/** Known REST paths, for 405 on a wrong method (§13.2) rather than 404. */
const KNOWN_PATHS: [RegExp, string[]][] = [
  [/^\/cpaas\/auth\/v1\/token$/, ['POST']],
  [/^\/cpaas\/notificationchannel\/v1\/[^/]+\/channels$/, ['POST']],
  [/^\/cpaas\/notificationchannel\/v1\/[^/]+\/channels\/[^/]+$/, ['DELETE']],
  [/^\/cpaas\/notificationchannel\/v1\/[^/]+\/channels\/[^/]+\/channelLifetime$/, ['PUT']],
  [/^\/cpaas\/webrtcsignaling\/v1\/[^/]+\/subscriptions$/, ['POST']],
  [/^\/cpaas\/webrtcsignaling\/v1\/[^/]+\/subscriptions\/[^/]+$/, ['DELETE']],
  [/^\/cpaas\/webrtcsignaling\/v1\/[^/]+\/turn$/, ['POST']],
  [/^\/cpaas\/webrtcsignaling\/v1\/[^/]+\/sessions$/, ['POST']],
  [/^\/cpaas\/webrtcsignaling\/v1\/[^/]+\/sessions\/[^/]+$/, ['DELETE']],
  [
    /^\/cpaas\/webrtcsignaling\/v1\/[^/]+\/sessions\/[^/]+\/(status|answer|update|forward|transfer)$/,
    ['PUT'],
  ],
]

/** Unknown routes: 405 for a known path with another method, else 404 `SVC0004` (§13.2). */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0] ?? ''
  const known = KNOWN_PATHS.find(([re]) => re.test(path))
  if (known && !known[1].includes(request.method)) {
    return sendProtocolError(reply.header('Allow', [...known[1], 'OPTIONS'].join(', ')), 'METHOD_NOT_ALLOWED')
  }
  return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
}
