import {
  AnswerBody,
  ForwardBody,
  SessionCreateBody,
  SessionCreateResponse,
  SessionStatusBody,
  SessionStatusResponse,
  SubscriptionCreateBody,
  SubscriptionResponse,
  TransferBody,
  TurnCredentialsBody,
  TurnCredentialsResponse,
  UpdateBody,
} from '@parley/protocol'
import type { FastifyInstance } from 'fastify'
import type { ChannelService } from '../services/channels.js'
import type { SessionService } from '../services/sessions.js'
import type { TokenService } from '../services/tokens.js'
import type { TurnService } from '../services/turn.js'
import { apiError } from '../services/errors.js'
import { requireUser, responder } from './auth.js'
import { BEARER, pathParams, protocolErrors, reply as response } from './openapi.js'
import type { Limiters } from './rate-limits.js'

interface UserParams {
  username: string
}
interface LegParams extends UserParams {
  legId: string
}

const user = pathParams('username')
const leg = pathParams('username', 'legId')
const sessionTags = ['Sessions']
const ended = response('Done; the other party is notified after this reply (protocol §8.0)')

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
    {
      onRequest: authenticate,
      schema: {
        tags: ['Subscriptions'],
        operationId: 'createSubscription',
        summary: 'Subscribe the channel named by notifyURL to calls (protocol §6.2)',
        description: 'A repeated request for the same channel returns the existing subscription.',
        security: BEARER,
        params: user,
        body: SubscriptionCreateBody,
        response: {
          201: response('The call subscription', SubscriptionResponse),
          ...protocolErrors(400, 401, 403, 413, 415, 500),
        },
      },
    },
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
    {
      onRequest: authenticate,
      schema: {
        tags: ['Subscriptions'],
        operationId: 'deleteSubscription',
        summary: 'Stop routing calls to the channel (protocol §6.3)',
        security: BEARER,
        params: pathParams('username', 'subscriptionId'),
        response: { 204: response('Deleted'), ...protocolErrors(401, 403, 404, 500) },
      },
    },
    async (request, reply) => {
      await channels.unsubscribe(request.actor, request.params.subscriptionId)
      return reply.code(204).send()
    },
  )

  // §7.2 MUST: answered at once from memory, never waiting on anything slow.
  app.post<{ Params: UserParams; Body: TurnCredentialsBody }>(
    `${base}/turn`,
    {
      onRequest: authenticate,
      schema: {
        tags: ['TURN'],
        operationId: 'turnCredentials',
        summary: 'Mint TURN REST API credentials (protocol §7)',
        security: BEARER,
        params: user,
        body: TurnCredentialsBody,
        response: {
          200: response('Fresh credentials for every configured TURN/STUN server', TurnCredentialsResponse),
          ...protocolErrors(400, 401, 403, 413, 415, 500),
        },
      },
    },
    async (request, reply) => reply.code(200).send(turn.credentials(request.actor)),
  )

  app.post<{ Params: UserParams; Body: SessionCreateBody }>(
    `${base}/sessions`,
    {
      onRequest: authenticate,
      schema: {
        tags: sessionTags,
        operationId: 'createSession',
        summary: 'Start a call (protocol §8.1)',
        description:
          "The 201 is written before the callee's invitation is pushed. 404 SVC0002 [tParticipantAddress]: " +
          'the callee is unknown or not subscribed.',
        security: BEARER,
        params: user,
        body: SessionCreateBody,
        response: {
          201: response("The caller's leg", SessionCreateResponse),
          ...protocolErrors(400, 401, 403, 404, 413, 415, 429, 500),
        },
      },
    },
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
    {
      onRequest: authenticate,
      schema: {
        tags: sessionTags,
        operationId: 'sessionStatus',
        summary: 'Ringing feedback or call audit (protocol §8.2)',
        description: '404 means the session is gone (unknown, ended or cancelled leg): clients end the call.',
        security: BEARER,
        params: leg,
        body: SessionStatusBody,
        response: {
          200: response("The call's current state", SessionStatusResponse),
          ...protocolErrors(400, 401, 403, 404, 413, 415, 500),
        },
      },
    },
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
    {
      onRequest: authenticate,
      schema: {
        tags: sessionTags,
        operationId: 'answerSession',
        summary: 'Answer the call, a re-offer, or a slow-start offer request (protocol §8.3)',
        security: BEARER,
        params: leg,
        body: AnswerBody,
        response: { 204: ended, ...protocolErrors(400, 401, 403, 404, 409, 413, 415, 500) },
      },
    },
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
    {
      onRequest: authenticate,
      schema: {
        tags: sessionTags,
        operationId: 'updateSession',
        summary: 'Re-offer: hold, unhold, video, ICE restart… (protocol §8.4)',
        security: BEARER,
        params: leg,
        body: UpdateBody,
        response: { 204: ended, ...protocolErrors(400, 401, 403, 404, 409, 413, 415, 500) },
      },
    },
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
    {
      onRequest: authenticate,
      schema: {
        tags: sessionTags,
        operationId: 'endSession',
        summary: 'End, reject or cancel the call (protocol §8.5)',
        description: '204 for a leg that already ended too; 404 for an unknown leg.',
        security: BEARER,
        params: leg,
        response: { 204: ended, ...protocolErrors(401, 403, 404, 500) },
      },
    },
    async (request, reply) => {
      await sessions.end(request.actor, request.params.legId, responder(reply))
      return reply
    },
  )

  app.put<{ Params: LegParams; Body: ForwardBody }>(
    `${base}/sessions/:legId/forward`,
    {
      onRequest: authenticate,
      schema: {
        tags: sessionTags,
        operationId: 'forwardSession',
        summary: 'Forward an unanswered incoming call (protocol §8.6)',
        security: BEARER,
        params: leg,
        body: ForwardBody,
        response: { 204: ended, ...protocolErrors(400, 401, 403, 404, 409, 413, 415, 500) },
      },
    },
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
    {
      onRequest: authenticate,
      schema: {
        tags: sessionTags,
        operationId: 'transferSession',
        summary: 'Direct or consultative transfer (protocol §8.7)',
        security: BEARER,
        params: leg,
        body: TransferBody,
        response: { 204: ended, ...protocolErrors(400, 401, 403, 404, 409, 413, 415, 500) },
      },
    },
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
