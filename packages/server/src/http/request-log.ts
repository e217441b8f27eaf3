import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../services/metrics.js'

/** An incoming `X-Request-Id` kept as is: short, printable, no spaces or quotes (anything else is replaced). */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/

/** The request id of `req`: its sane incoming `X-Request-Id`, else a fresh UUID (fastify's `genReqId`). */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id']
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID()
}

/**
 * One `info` line per request once the response is sent: method, route pattern (never the raw URL, whose
 * query may carry an access token), status, duration, the authenticated user, and the request id (`reqId`,
 * bound by fastify). Bodies, headers and tokens never appear.
 */
export function installRequestLog(app: FastifyInstance, metrics?: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const actor = (request as { actor?: { username: string } }).actor
    // The pattern, never the raw URL: bounded label values, and no ids, users or query strings.
    const route = request.routeOptions.url ?? '(unmatched)'
    if (metrics) {
      metrics.httpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000)
      if (reply.statusCode === 429) metrics.rateLimited(route)
    }
    request.log.info(
      {
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
        ...(actor ? { user: actor.username } : {}),
      },
      'request',
    )
  })
}
