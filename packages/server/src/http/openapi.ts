import { readFileSync } from 'node:fs'
import swagger, { type SwaggerTransform } from '@fastify/swagger'
import {
  FRAME_SCHEMAS,
  NOTIFICATION_SCHEMAS,
  OAuthErrorBodySchema,
  PROTOCOL_ERRORS,
  RequestErrorBodySchema,
  UpgradeRefusalSchema,
} from '@parley/protocol'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifySchema } from 'fastify'

/** Where the OpenAPI 3.1 document of the REST API is served (main port, no auth). */
export const OPENAPI_PATH = '/openapi.json'

/** The websocket upgrade path (§2.3, §5.3) as an OpenAPI path template; it is no fastify route (see app.ts). */
export const CHANNEL_SOCKET_TEMPLATE =
  '/cpaas/notificationchannel/v1/{username}/channels/{channelId}/websocket'

/** Schemas that many routes reference: added to fastify with `$id` and listed once under `components.schemas`. */
const SHARED_SCHEMAS = { RequestErrorBody: RequestErrorBodySchema, OAuthErrorBody: OAuthErrorBodySchema }

/** `Authorization: Bearer <access token>` (§3.4), for the `security` of a route schema. */
export const BEARER: NonNullable<FastifySchema['security']> = [{ bearerAuth: [] }]

const PARAM_DESCRIPTIONS = {
  username: "the `preferred_username` of the token's subject (protocol §2.4)",
  channelId: 'the id after `/channels/` in the channel `resourceURL` (§5.1)',
  subscriptionId: 'the id after `/subscriptions/` in the subscription `resourceURL` (§6.2)',
  legId: "the user's own leg: the text after `sessions/` in `resourceURL` or `link[0].href` (§8.0)",
  userId: 'a user id, as `GET /parley/admin/v1/users` lists it',
  number: 'an E.164 telephone number, `+` included (URL-encoded as `%2B`)',
  callId: 'a call id, as the live calls and the history list it',
}

/** The operator console's session cookie (README "Operator console"), for the `security` of admin routes. */
export const CONSOLE_SESSION: NonNullable<FastifySchema['security']> = [{ consoleSession: [] }]

/**
 * The `params` schema of a route: plain strings without constraints, so validating them can never fail (the
 * checks stay where they are: the auth hook, then the services); they give the document the parameters' meaning.
 */
export function pathParams(...names: (keyof typeof PARAM_DESCRIPTIONS)[]) {
  return Type.Object(
    Object.fromEntries(names.map((n) => [n, Type.String({ description: PARAM_DESCRIPTIONS[n] })])),
  )
}

/** A response of a route schema: its description and, unless it is body-less, the body's schema. */
export function reply(description: string, body?: object, headers?: Record<string, object>): object {
  return { ...(body ?? { type: 'null' }), description, ...(headers ? { headers } : {}) }
}

const RETRY_AFTER = {
  'Retry-After': { type: 'integer', description: 'seconds until the budget allows another request' },
}

/**
 * The protocol error replies (§4.4) a route may give, by HTTP status, each described with the `messageId`s and
 * texts of that status in the code table (§13.2).
 */
export function protocolErrors(...statuses: number[]): Record<number, object> {
  const out: Record<number, object> = {}
  for (const status of statuses) {
    const kinds = new Set(
      Object.values(PROTOCOL_ERRORS)
        .filter((d) => d.status === status)
        .map((d) => `${d.messageId} "${d.text}"`),
    )
    out[status] = reply(
      `Protocol error body: ${[...kinds].join(', ')}`,
      { $ref: 'RequestErrorBody#' },
      status === 429 ? RETRY_AFTER : undefined,
    )
  }
  return out
}

/** The OAuth 2.0 error replies of the token endpoint (§3.1), by HTTP status. */
export function oauthErrors(descriptions: Record<number, string>): Record<number, object> {
  const out: Record<number, object> = {}
  for (const [status, text] of Object.entries(descriptions)) {
    out[Number(status)] = reply(text, { $ref: 'OAuthErrorBody#' }, status === '429' ? RETRY_AFTER : undefined)
  }
  return out
}

/**
 * Documents a request body that the route reads by itself instead of having fastify validate it (the token
 * endpoint answers every malformed form with an OAuth error body, §3.1): the body appears in the document only.
 */
export function documentBody(contentType: string, body: object): SwaggerTransform {
  return ({ schema, url }) => ({
    schema: { ...schema, body: { content: { [contentType]: { schema: body } } } },
    url,
  })
}

const param = (name: string, description: string, where: 'path' | 'query' = 'path') => ({
  name,
  in: where,
  required: true,
  description,
  schema: { type: 'string' },
})
const frameRef = (name: keyof typeof FRAME_SCHEMAS) => ({ $ref: `#/components/schemas/${name}` })
const notificationNames: (keyof typeof FRAME_SCHEMAS)[] = [
  'InvitationNotification',
  'AcceptanceNotification',
  'AnswerNotification',
  'OfferNotification',
  'EventNotification',
]

/**
 * The websocket upgrade (§5.3). Node hands upgrade requests to the channel hub, not to a fastify route, so there
 * is no route schema to generate it from: the operation is described here, its frames by the protocol's schemas.
 */
function channelSocketOperation(): object {
  const refusal = (text: string) => ({
    description: text,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/UpgradeRefusal' } } },
  })
  return {
    get: {
      operationId: 'openChannelWebsocket',
      tags: ['Notification channel'],
      summary: 'Open the channel websocket (HTTP/1.1 Upgrade)',
      description: [
        'The `channelData.channelURL` of the channel, on the REST host and port, with `Upgrade: websocket`',
        '(RFC 6455) and the access token in the query; no subprotocol (protocol §5.3). An expired token of the',
        "channel's owner is accepted. Every frame is one JSON text frame (§5.4).",
        '',
        `Server → client: the notifications (${Object.keys(NOTIFICATION_SCHEMAS).join(', ')}; schemas`,
        '`InvitationNotification`, `AcceptanceNotification`, `AnswerNotification`, `OfferNotification`,',
        '`EventNotification`), `connAck` in answer to every `connCheck` (`ConnAckFrame`), and `connCheck` every',
        '30 s on a channel created with `x-connCheckRole: server` (`ConnCheckFrame`).',
        '',
        'Client → server: `connCheck` (`ConnCheckFrame`, answered with `connAck`) and `connAck`; anything else is',
        'ignored. On open the server first sends the queued and recently delivered frames (§5.7). It closes',
        'with 1001 on shutdown; clients reconnect to the same URL (§5.5).',
        'A request without `Upgrade` gets 404 with the protocol error body.',
      ].join('\n'),
      parameters: [
        param('username', 'the `preferred_username` owning the channel'),
        param('channelId', 'the id at the end of the channel `resourceURL`'),
        param('access_token', 'the access token (from the token endpoint)', 'query'),
        {
          name: 'Upgrade',
          in: 'header',
          required: true,
          schema: { type: 'string', enum: ['websocket'] },
        },
      ],
      responses: {
        101: { description: 'Switching Protocols: the websocket is open' },
        401: refusal('The token is missing, malformed or badly signed'),
        403: refusal('The token is valid but its subject does not own the channel'),
        404: refusal('Unknown channel (or one of another user)'),
        503: refusal('The server is shutting down'),
      },
      'x-parley-frames': {
        serverToClient: {
          oneOf: [...notificationNames.map(frameRef), frameRef('ConnAckFrame'), frameRef('ConnCheckFrame')],
        },
        clientToServer: { oneOf: [frameRef('ConnCheckFrame'), frameRef('ConnAckFrame')] },
      },
    },
  }
}

/** §4.6: `OPTIONS` on any path is a CORS preflight; @fastify/cors answers them with one wildcard route. */
const PREFLIGHT = {
  tags: ['CORS'],
  summary: 'CORS preflight',
  description:
    'Answered on every path without a token (protocol §4.6) by the wildcard `OPTIONS *` route: 204 with ' +
    'Access-Control-Allow-Origin (the Origin, or *), Allow-Methods GET, POST, PUT, DELETE, OPTIONS, ' +
    'Allow-Headers Authorization, Content-Type, Accept, X-Cpaas-Agent, and Max-Age 600.',
  responses: { 204: { description: 'Preflight accepted' } },
}

/**
 * Registers @fastify/swagger (before any route: it collects them in `onRoute`) and the shared schemas, and makes
 * every response schema documentation only: the wire bytes are `JSON.stringify` of what the route sends, as
 * without schemas (fast-json-stringify would drop unknown fields and reorder them, protocol §9.0 "extra fields").
 */
export async function installOpenApi(app: FastifyInstance): Promise<void> {
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))
  for (const [name, schema] of Object.entries(SHARED_SCHEMAS)) app.addSchema({ ...schema, $id: name })
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Parley',
        version: pkg.version,
        description:
          'REST API of the Parley platform: the Kandy CPaaS wire protocol (tokens, notification channel and ' +
          'websocket, call subscription, TURN credentials, call sessions), plus the SDK bundles and demo page. ' +
          'Request bodies are validated with these schemas; every error but the token endpoint’s uses the ' +
          '`RequestErrorBody` (protocol §4.4). Websocket frames are under `components.schemas`.',
      },
      tags: [
        { name: 'Tokens' },
        { name: 'Notification channel' },
        { name: 'Subscriptions' },
        { name: 'TURN' },
        { name: 'Sessions' },
        { name: 'Quality' },
        { name: 'Console', description: "The operator console's admin API (Parley extension)" },
        { name: 'Static' },
        { name: 'CORS' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'the access token; its subject must be the `{username}` of the path (protocol §3.4)',
          },
          consoleSession: {
            type: 'apiKey',
            in: 'cookie',
            name: 'parley_console',
            description:
              'the operator console session (POST /parley/admin/v1/session): HttpOnly, SameSite=Strict, 30 min ' +
              "idle; POST, PUT and DELETE also need the header X-Parley-CSRF with the session's csrfToken",
          },
        },
        schemas: { ...FRAME_SCHEMAS, UpgradeRefusal: UpgradeRefusalSchema },
      },
      paths: { [CHANNEL_SOCKET_TEMPLATE]: channelSocketOperation() },
    } as never,
    exposeHeadRoutes: true,
    convertConstToEnum: false,
    refResolver: {
      // Shared schemas keep their name in `components.schemas` (`RequestErrorBody`, not `def-0`).
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    transformObject: (doc) => {
      if (!('openapiObject' in doc)) return doc.swaggerObject
      const { openapiObject } = doc
      const paths = (openapiObject.paths ?? {}) as Record<string, Record<string, unknown>>
      for (const item of Object.values(paths)) item.options ??= PREFLIGHT
      return openapiObject
    },
  })
}

/** `GET /openapi.json`: the document, generated from the route schemas once the app is ready. */
export function openApiRoutes(app: FastifyInstance): void {
  app.get(
    OPENAPI_PATH,
    {
      schema: {
        tags: ['Static'],
        operationId: 'getOpenApi',
        summary: 'This OpenAPI 3.1 document',
        response: { 200: reply('The OpenAPI document', { type: 'object' }) },
      },
    },
    (_request, res) => res.header('Cache-Control', 'no-cache').type('application/json').send(app.swagger()),
  )
}
