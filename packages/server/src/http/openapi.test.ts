import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Validator } from '@seriousme/openapi-schema-validator'
import { startTestPlatform, type TestPlatform } from '@parley/test-kit'
import type { FastifyInstance, RouteOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

interface Operation {
  operationId?: string
  description?: string
  parameters?: { name: string; in: string; required?: boolean }[]
  requestBody?: { content: Record<string, { schema: Schema }> }
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>
  [key: string]: unknown
}
interface Schema {
  $ref?: string
  type?: string
  required?: string[]
  properties?: Record<string, Schema>
  [key: string]: unknown
}
interface Document {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema> }
}

/** Every route the app registers, seen through fastify's own `onRoute` hook from the instance's creation on. */
const routes: RouteOptions[] = []
const onInit = (message: unknown) => {
  const { fastify } = message as { fastify: FastifyInstance }
  fastify.addHook('onRoute', (route) => void routes.push(route))
}

let p: TestPlatform
let doc: Document
let raw: Response
beforeAll(async () => {
  subscribe('fastify.initialization', onInit)
  try {
    p = await startTestPlatform()
  } finally {
    unsubscribe('fastify.initialization', onInit)
  }
  raw = await fetch(`${p.url}/openapi.json`)
  doc = (await raw.clone().json()) as Document
})
afterAll(() => p?.close())

/** `/a/:b/c` → `/a/{b}/c`, as OpenAPI templates paths. */
const template = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
const resolve = (schema: Schema): Schema =>
  schema.$ref ? doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')]! : schema

describe('GET /openapi.json', () => {
  it('is served without a token as JSON with CORS', () => {
    expect(raw.status).toBe(200)
    expect(raw.headers.get('content-type')).toMatch(/^application\/json/)
    expect(raw.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator()
    const result = await validator.validate(structuredClone(doc) as never)
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
  })

  it('lists every route the app registered, with its method', () => {
    expect(routes.length, 'the onRoute hook saw the routes').toBeGreaterThan(20)
    const missing: string[] = []
    for (const route of routes) {
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      for (const method of methods) {
        if (route.url === '*') {
          // @fastify/cors' one preflight route for every path (§4.6): an OPTIONS operation on each path.
          for (const [path, item] of Object.entries(doc.paths))
            if (!item.options) missing.push(`OPTIONS ${path}`)
          continue
        }
        if (!doc.paths[template(route.url)]?.[method.toLowerCase()]) missing.push(`${method} ${route.url}`)
      }
    }
    expect(missing).toEqual([])
    for (const url of [
      '/cpaas/auth/v1/token',
      '/cpaas/notificationchannel/v1/:username/channels/:channelId/channelLifetime',
      '/cpaas/webrtcsignaling/v1/:username/sessions/:legId/transfer',
      '/sdk/parley.js',
      '/',
      '/openapi.json',
    ]) {
      expect(routes.map((r) => r.url)).toContain(url)
    }
  })

  it('names the path parameters of every templated path', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])
      for (const [method, op] of Object.entries(item)) {
        if (method === 'options') continue
        const inPath = (op.parameters ?? []).filter((q) => q.in === 'path').map((q) => q.name)
        expect(inPath.sort(), `${method} ${path}`).toEqual([...names].sort())
      }
    }
  })

  it('documents the session create body as the route validates it', () => {
    const op = doc.paths['/cpaas/webrtcsignaling/v1/{username}/sessions']!.post!
    const body = op.requestBody!.content['application/json']!.schema
    expect(body.required).toEqual(['wrtcsSession'])
    const session = body.properties!.wrtcsSession!
    expect(session.required).toEqual(expect.arrayContaining(['tParticipantAddress', 'offer']))
    expect(session.required).not.toContain('clientCorrelator')
    expect(session.properties!.offer!.required).toEqual(['sdp'])
    expect(session.properties!.offer!.properties!.sdp!.maxLength).toBe(65_536)
    const created = resolve(op.responses['201']!.content!['application/json']!.schema)
    expect(created.properties!.wrtcsSession!.required).toEqual(
      expect.arrayContaining(['resourceURL', 'tParticipantAddress']),
    )
    expect(op.security).toEqual([{ bearerAuth: [] }])
  })

  it('documents errors with the protocol error body, and the token endpoint with OAuth bodies and its form', () => {
    const status = doc.paths['/cpaas/webrtcsignaling/v1/{username}/sessions/{legId}/status']!.put!
    const notFound = status.responses['404']!.content!['application/json']!.schema
    expect(notFound.$ref).toBe('#/components/schemas/RequestErrorBody')
    const errorBody = doc.components.schemas.RequestErrorBody!
    expect(errorBody.required).toEqual(['requestError'])
    expect(JSON.stringify(errorBody)).toMatch(/serviceException.*policyException/)
    expect(resolve(status.responses['200']!.content!['application/json']!.schema).required).toEqual([
      'wrtcsSessionStatus',
    ])

    const token = doc.paths['/cpaas/auth/v1/token']!.post!
    const form = token.requestBody!.content['application/x-www-form-urlencoded']!.schema
    expect(Object.keys(form.properties!)).toEqual(
      expect.arrayContaining(['grant_type', 'client_id', 'username', 'password', 'refresh_token', 'scope']),
    )
    expect(token.responses['400']!.content!['application/json']!.schema.$ref).toBe(
      '#/components/schemas/OAuthErrorBody',
    )
    expect(token.security).toBeUndefined()
  })

  it('documents the websocket upgrade and every frame type under components.schemas', () => {
    const socket = doc.paths['/cpaas/notificationchannel/v1/{username}/channels/{channelId}/websocket']!.get!
    expect(socket.description).toMatch(/Upgrade: websocket/)
    expect(Object.keys(socket.responses)).toEqual(expect.arrayContaining(['101', '401', '403', '404']))
    expect(socket.parameters!.find((q) => q.name === 'access_token')).toMatchObject({ in: 'query' })
    const schemas = doc.components.schemas
    for (const [name, key] of [
      ['ConnCheckFrame', 'connCheck'],
      ['ConnAckFrame', 'connAck'],
      ['InvitationNotification', 'wrtcsSessionInvitationNotification'],
      ['AcceptanceNotification', 'wrtcsAcceptanceNotification'],
      ['AnswerNotification', 'wrtcsAnswerNotification'],
      ['OfferNotification', 'wrtcsOfferNotification'],
      ['EventNotification', 'wrtcsEventNotification'],
    ] as const) {
      expect(schemas[name]?.required, name).toEqual([key])
    }
    const event = schemas.EventNotification!.properties!.wrtcsEventNotification!
    expect(event.required).toEqual(
      expect.arrayContaining(['id', 'eventType', 'link', 'statusCode', 'reasonText']),
    )
    expect(JSON.stringify(socket['x-parley-frames'])).toContain('#/components/schemas/InvitationNotification')
  })
})
