import cors from '@fastify/cors'
import { requestErrorBody } from '@parley/protocol'
import formbody from '@fastify/formbody'
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify'
import type { Services } from './deps.js'
import { notFoundHandler, protocolErrorHandler } from './http/errors.js'
import { healthRoutes } from './http/health.js'
import { installOpenApi, openApiRoutes } from './http/openapi.js'
import { installRateLimits } from './http/rate-limits.js'
import { installRequestLog, requestId } from './http/request-log.js'
import { tokenRoutes } from './http/routes-auth.js'
import { channelRoutes } from './http/routes-channels.js'
import { qualityRoutes } from './http/routes-quality.js'
import { signalingRoutes } from './http/routes-signaling.js'
import { adminRoutes } from './http/routes-admin.js'
import { consoleRoutes, staticRoutes } from './http/static.js'
import { anonymousDemoRoutes } from './http/demo-anonymous.js'
import { ChannelHub } from './realtime/channel-hub.js'
import { AdminService } from './services/admin.js'
import type { ServiceContext } from './services/context.js'
import { findDemoDirectory } from './services/demo.js'

/** The HTTP application and its websocket hub. */
export interface App {
  app: FastifyInstance
  hub: ChannelHub
}

/**
 * Builds the fastify application (architecture §1: plugins and routes, no I/O at import time). The REST API
 * lives at the root of the origin under `/cpaas/…` (protocol §2.2 MUST), the channel websockets on the same
 * host and port (§2.3 MUST).
 */
export async function buildApp(
  ctx: ServiceContext,
  services: Services,
  options: { https?: { key: string; cert: string }; workerId?: number } = {},
): Promise<App> {
  // Under `--workers`, which process answered: lets operators (and tests) tell the workers apart.
  const workerHeader = options.workerId !== undefined ? String(options.workerId) : undefined
  // One FastifyInstance type whether or not TLS is on (the https server type differs only in name).
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    ...(options.https ? { https: options.https } : {}),
    bodyLimit: ctx.config.bodyLimit,
    // Kandy clients build exact paths; `//` or a trailing slash is not theirs to send.
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    ajv: { customOptions: { coerceTypes: false, allErrors: false, removeAdditional: false } },
    return503OnClosing: false,
    // A URL the router cannot decode (e.g. `/cpaas/%`) never reaches the hooks: answer it here, still with
    // CORS and the protocol's error body (§4.4, §4.6).
    frameworkErrors: (_err, request, rawReply) => {
      const reply = rawReply as unknown as FastifyReply
      if (workerHeader) reply.header('X-Parley-Worker', workerHeader)
      reply.header('X-Request-Id', request.id)
      void reply
        .code(400)
        .header('Access-Control-Allow-Origin', request.headers.origin ?? '*')
        .header('Vary', 'Origin')
        .type('application/json')
        .send(requestErrorBody('SVC0002', 'Invalid input value for message part %1', ['path']))
    },
    forceCloseConnections: false,
    // A sane incoming X-Request-Id is kept (a proxy's id then joins the logs of both), else a fresh UUID.
    requestIdHeader: false,
    genReqId: requestId,
    // Fastify's own two lines per request are replaced by one (http/request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance

  // First of the hooks, so that replies sent by later ones (CORS preflights, auth errors) carry them too.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id)
    if (workerHeader) reply.header('X-Parley-Worker', workerHeader)
  })
  installRequestLog(app, ctx.metrics)
  const timing = ctx.timing
  if (timing) {
    // --debug-timing (issue 14): the moment a request arrives, before any parsing or authentication.
    app.addHook('onRequest', async (request) => {
      timing('http:in', { method: request.method, url: request.url, reqId: request.id })
    })
  }

  // First, so that it sees every route (and response schemas only document, never serialize: wire bytes unchanged).
  await installOpenApi(app)

  // §4.1 MUST: `Content-Type: application/json` with an empty body (body-less DELETEs) is accepted.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8')
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      const err = new Error('malformed JSON body') as Error & { statusCode: number; code: string }
      err.statusCode = 400
      err.code = 'FST_ERR_CTP_INVALID_JSON_BODY'
      done(err, undefined)
    }
  })
  // Fastify parses text/plain bodies by default; the API takes JSON only (forms at the token endpoint), so a
  // text/plain body is an unsupported content type (415, §13.2) rather than a malformed JSON body (400).
  app.removeContentTypeParser('text/plain')
  await app.register(formbody)
  // §4.6: every response, errors included, carries Access-Control-Allow-Origin; preflights need no token.
  await app.register(cors, {
    origin: (origin, cb) => cb(null, origin ?? '*'),
    methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Accept', 'X-Cpaas-Agent'],
    maxAge: 600,
    strictPreflight: false,
    optionsSuccessStatus: 204,
  })
  app.addHook('onRequest', async (request, reply) => {
    if (!request.headers.origin) reply.header('Access-Control-Allow-Origin', '*')
  })

  app.setErrorHandler(protocolErrorHandler)
  app.setNotFoundHandler(notFoundHandler)

  healthRoutes(app, ctx)
  const limits = await installRateLimits(app, ctx.config.rateLimits, ctx.config.anonymous)
  tokenRoutes(app, services.tokens, limits)
  channelRoutes(app, services.tokens, services.channels)
  signalingRoutes(app, services, limits)
  qualityRoutes(app, services)
  // The console's node health counts this node's sockets: the hub is made below, read only at request time.
  adminRoutes(app, new AdminService(ctx, { connectedSockets: () => hub.socketCount }), limits)
  staticRoutes(app, ctx.config, () => findDemoDirectory(ctx))
  consoleRoutes(app, ctx.config)
  anonymousDemoRoutes(app, ctx.config)
  openApiRoutes(app)

  const hub = new ChannelHub(ctx, services.channels, services.notifier)
  app.server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head))
  return { app, hub }
}
