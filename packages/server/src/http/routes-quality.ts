import { QualityReportBody, QualityReportResponse } from '@parley/protocol'
import type { FastifyInstance } from 'fastify'
import type { QualityService } from '../services/quality.js'
import type { TokenService } from '../services/tokens.js'
import { requireUser } from './auth.js'
import { BEARER, pathParams, protocolErrors, reply as response } from './openapi.js'

interface LegParams {
  username: string
  legId: string
}

/**
 * Call quality reports (Parley extension, issue 12, README "Call quality"): a user reports and reads the quality
 * samples of their own leg's call. Authenticated as the signalling routes are: a Bearer token whose subject is
 * the `{username}` of the path; another user's leg is a 404, as in protocol §8.0.
 */
export function qualityRoutes(
  app: FastifyInstance,
  deps: { tokens: TokenService; quality: QualityService },
): void {
  const authenticate = requireUser(deps.tokens)
  const path = '/parley/v1/:username/sessions/:legId/quality'
  const params = pathParams('username', 'legId')

  app.post<{ Params: LegParams; Body: QualityReportBody }>(
    path,
    {
      onRequest: authenticate,
      schema: {
        tags: ['Quality'],
        operationId: 'reportQuality',
        summary: "Report quality samples of the user's own leg (Parley extension)",
        description:
          'Samples are kept with the call record, at most 900 per leg (the oldest dropped first), and feed the ' +
          '`parley_call_quality_*` metrics. Accepted until 5 minutes after the call ended.',
        security: BEARER,
        params,
        body: QualityReportBody,
        response: { 204: response('Stored'), ...protocolErrors(400, 401, 403, 404, 413, 415, 500) },
      },
    },
    async (request, reply) => {
      await deps.quality.report(request.actor, request.params.legId, request.body.samples)
      return reply.code(204).send()
    },
  )

  app.get<{ Params: LegParams }>(
    path,
    {
      onRequest: authenticate,
      schema: {
        tags: ['Quality'],
        operationId: 'getQuality',
        summary: "The quality samples of every leg of the user's call (Parley extension)",
        security: BEARER,
        params,
        response: {
          200: response('Samples of both parties, oldest first', QualityReportResponse),
          ...protocolErrors(401, 403, 404, 500),
        },
      },
    },
    async (request, reply) =>
      reply.code(200).send(await deps.quality.samples(request.actor, request.params.legId)),
  )
}
