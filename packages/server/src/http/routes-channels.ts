import { ChannelCreateBody, ChannelLifetimeBody } from '@parley/protocol'
import type { FastifyInstance } from 'fastify'
import type { ChannelService } from '../services/channels.js'
import type { TokenService } from '../services/tokens.js'
import { requireUser } from './auth.js'

interface ChannelParams {
  username: string
  channelId: string
}

/** Notification channel routes (protocol §5.1, §5.2, §14.3). */
export function channelRoutes(app: FastifyInstance, tokens: TokenService, channels: ChannelService): void {
  const authenticate = requireUser(tokens)
  const base = '/cpaas/notificationchannel/v1/:username/channels'

  app.post<{ Params: { username: string }; Body: ChannelCreateBody }>(
    base,
    { onRequest: authenticate, schema: { body: ChannelCreateBody } },
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
    { onRequest: authenticate },
    async (request, reply) => {
      await channels.remove(request.actor, request.params.channelId)
      return reply.code(204).send()
    },
  )

  app.put<{ Params: ChannelParams; Body: ChannelLifetimeBody }>(
    `${base}/:channelId/channelLifetime`,
    { onRequest: authenticate, schema: { body: ChannelLifetimeBody } },
    async (request, reply) => {
      const lifetime = request.body.notificationChannelLifetime.channelLifetime
      return reply
        .code(200)
        .send(await channels.setLifetime(request.actor, request.params.channelId, lifetime))
    },
  )
}
