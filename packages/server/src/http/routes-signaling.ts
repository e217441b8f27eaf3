import {
  AnswerBody,
  ForwardBody,
  SessionCreateBody,
  SessionStatusBody,
  SubscriptionCreateBody,
  TransferBody,
  TurnCredentialsBody,
  UpdateBody,
} from '@parley/protocol'
import type { FastifyInstance } from 'fastify'
import type { ChannelService } from '../services/channels.js'
import type { SessionService } from '../services/sessions.js'
import type { TokenService } from '../services/tokens.js'
import type { TurnService } from '../services/turn.js'
import { apiError } from '../services/errors.js'
import { requireUser, responder } from './auth.js'
import type { Limiters } from './rate-limits.js'

interface UserParams {
  username: string
}
interface LegParams extends UserParams {
  legId: string
}

/** `webrtcsignaling` routes (protocol §6, §7, §8): thin — validate, call one service, map the result. */
export function signalingRoutes(
  app: FastifyInstance,
  deps: { tokens: TokenService; channels: ChannelService; sessions: SessionService; turn: TurnService },
  limits: Limiters,
): void {
  const { channels, sessions, turn } = deps
  const authenticate = requireUser(deps.tokens)
  const base = '/cpaas/webrtcsignaling/v1/:username'

  app.post<{ Params: UserParams; Body: SubscriptionCreateBody }>(
    `${base}/subscriptions`,
    { onRequest: authenticate, schema: { body: SubscriptionCreateBody } },
    async (request, reply) => {
      const s = request.body.wrtcsNotificationSubscription
      const body = await channels.subscribe(request.actor, {
        notifyURL: s.callbackReference.notifyURL,
        ...(s.clientCorrelator !== undefined ? { correlator: s.clientCorrelator } : {}),
      })
      return reply.code(201).send(body)
    },
  )

  app.delete<{ Params: UserParams & { subscriptionId: string } }>(
    `${base}/subscriptions/:subscriptionId`,
    { onRequest: authenticate },
    async (request, reply) => {
      await channels.unsubscribe(request.actor, request.params.subscriptionId)
      return reply.code(204).send()
    },
  )

  // §7.2 MUST: answered at once from memory, never waiting on anything slow.
  app.post<{ Params: UserParams; Body: TurnCredentialsBody }>(
    `${base}/turn`,
    { onRequest: authenticate, schema: { body: TurnCredentialsBody } },
    async (request, reply) => reply.code(200).send(turn.credentials(request.actor)),
  )

  app.post<{ Params: UserParams; Body: SessionCreateBody }>(
    `${base}/sessions`,
    { onRequest: authenticate, schema: { body: SessionCreateBody } },
    async (request, reply) => {
      if (!(await limits.sessionsByUser(request, reply))) throw apiError('TOO_MANY_REQUESTS')
      const s = request.body.wrtcsSession
      await sessions.create(
        request.actor,
        {
          address: s.tParticipantAddress,
          sdp: s.offer.sdp,
          ...(s.tParticipantName !== undefined ? { displayName: s.tParticipantName } : {}),
          ...(s.clientCorrelator !== undefined ? { correlator: s.clientCorrelator } : {}),
        },
        responder(reply),
      )
      return reply
    },
  )

  app.put<{ Params: LegParams; Body: SessionStatusBody }>(
    `${base}/sessions/:legId/status`,
    { onRequest: authenticate, schema: { body: SessionStatusBody } },
    async (request, reply) => {
      await sessions.status(
        request.actor,
        request.params.legId,
        request.body.wrtcsSessionStatus.status,
        responder(reply),
      )
      return reply
    },
  )

  app.put<{ Params: LegParams; Body: AnswerBody }>(
    `${base}/sessions/:legId/answer`,
    { onRequest: authenticate, schema: { body: AnswerBody } },
    async (request, reply) => {
      await sessions.answer(
        request.actor,
        request.params.legId,
        request.body.wrtcsAnswer.sdp,
        responder(reply),
      )
      return reply
    },
  )

  app.put<{ Params: LegParams; Body: UpdateBody }>(
    `${base}/sessions/:legId/update`,
    { onRequest: authenticate, schema: { body: UpdateBody } },
    async (request, reply) => {
      await sessions.update(
        request.actor,
        request.params.legId,
        request.body.wrtcsOffer.sdp,
        responder(reply),
      )
      return reply
    },
  )

  app.delete<{ Params: LegParams }>(
    `${base}/sessions/:legId`,
    { onRequest: authenticate },
    async (request, reply) => {
      await sessions.end(request.actor, request.params.legId, responder(reply))
      return reply
    },
  )

  app.put<{ Params: LegParams; Body: ForwardBody }>(
    `${base}/sessions/:legId/forward`,
    { onRequest: authenticate, schema: { body: ForwardBody } },
    async (request, reply) => {
      await sessions.forward(
        request.actor,
        request.params.legId,
        request.body.wrtcsForward.address,
        responder(reply),
      )
      return reply
    },
  )

  app.put<{ Params: LegParams; Body: TransferBody }>(
    `${base}/sessions/:legId/transfer`,
    { onRequest: authenticate, schema: { body: TransferBody } },
    async (request, reply) => {
      const t = request.body.wrtcsTransfer
      await sessions.transfer(
        request.actor,
        request.params.legId,
        { address: t.address, ...(t.sessionId !== undefined ? { sessionId: t.sessionId } : {}) },
        responder(reply),
      )
      return reply
    },
  )
}
