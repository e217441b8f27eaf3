import {
  ChannelCreateBody,
  ChannelLifetimeBody,
  ChannelLifetimeResponse,
  ChannelResponse,
} from '@parley/protocol'
import type { FastifyInstance } from 'fastify'
import type { ChannelService } from '../services/channels.js'
import type { TokenService } from '../services/tokens.js'
import { requireUser } from './auth.js'
import { BEARER, pathParams, protocolErrors, reply as response } from './openapi.js'

interface ChannelParams {
  username: string
  channelId: string
}

const tags = ['Notification channel']

/** Notification channel routes (protocol §5.1, §5.2, §14.3). */
export function channelRoutes(app: FastifyInstance, tokens: TokenService, channels: ChannelService): void {
  const authenticate = requireUser(tokens)
  const base = '/cpaas/notificationchannel/v1/:username/channels'

  app.post<{ Params: { username: string }; Body: ChannelCreateBody }>(
    base,
    {
      onRequest: authenticate,
      schema: {
        tags,
        operationId: 'createChannel',
        summary: 'Create a websocket notification channel (protocol §5.1)',
        security: BEARER,
        params: pathParams('username'),
        body: ChannelCreateBody,
        response: {
          201: response('The channel, with its websocket URL and callbackURL', ChannelResponse),
          ...protocolErrors(400, 401, 403, 413, 415, 500),
        },
      },
    },
    async (request, reply) => {
      const nc = request.body.notificationChannel
      const body = await channels.create(request.actor, {
        ...(nc.channelLifetime !== undefined ? { lifetime: nc.channelLifetime } : {}),
        ...(nc.clientCorrelator !== undefined ? { correlator: nc.clientCorrelator } : {}),
        ...(nc['x-connCheckRole'] !== undefined ? { connCheckRole: nc['x-connCheckRole'] } : {}),
      })
      return reply.code(201).send(body)
    },
  )

  app.delete<{ Params: ChannelParams }>(
    `${base}/:channelId`,
    {
      onRequest: authenticate,
      schema: {
        tags,
        operationId: 'deleteChannel',
        summary: 'Delete the channel, its subscriptions and queue (protocol §5.2)',
        description: 'Sockets still open close with 1001. 204 for an unknown channel too.',
        security: BEARER,
        params: pathParams('username', 'channelId'),
        response: { 204: response('Deleted'), ...protocolErrors(401, 403, 500) },
      },
    },
    async (request, reply) => {
      await channels.remove(request.actor, request.params.channelId)
      return reply.code(204).send()
    },
  )

  app.put<{ Params: ChannelParams; Body: ChannelLifetimeBody }>(
    `${base}/:channelId/channelLifetime`,
    {
      onRequest: authenticate,
      schema: {
        tags,
        operationId: 'setChannelLifetime',
        summary: 'Extend the channel lifetime (protocol §14.3)',
        security: BEARER,
        params: pathParams('username', 'channelId'),
        body: ChannelLifetimeBody,
        response: {
          200: response('The new lifetime', ChannelLifetimeResponse),
          ...protocolErrors(400, 401, 403, 404, 413, 415, 500),
        },
      },
    },
    async (request, reply) => {
      const lifetime = request.body.notificationChannelLifetime.channelLifetime
      return reply
        .code(200)
        .send(await channels.setLifetime(request.actor, request.params.channelId, lifetime))
    },
  )
}
