import type { FastifyReply, FastifyRequest } from 'fastify'
import { apiError } from '../services/errors.js'
import type { Actor, TokenService } from '../services/tokens.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user, set by the auth hook on protected routes. */
    actor: Actor
  }
}

/**
 * The auth hook (onRequest: before the body is read) of every REST route but the token endpoint (protocol §3.4): a valid Bearer token (401
 * otherwise) whose subject is the `{username}` of the path (403 otherwise).
 */
export function requireUser(tokens: TokenService) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
    const check = await tokens.verifyAccess(match?.[1])
    if (!check.ok) throw apiError('UNAUTHORIZED')
    const { username } = request.params as { username?: string }
    if (username !== check.actor.username) throw apiError('FORBIDDEN')
    request.actor = check.actor
  }
}

/**
 * Writes a response and resolves once it has been handed to the socket (the 201-before-invitation rule, §8.1).
 * `prefinish` is that moment: Node emits it when the whole response has been written to the connection;
 * `finish` comes only after the socket has flushed it, an event-loop turn or more later, and waiting for it
 * delayed every notification of a call set-up (issue 14). `finish` and `close` stay as fallbacks.
 */
export function responder(reply: FastifyReply) {
  return (status: number, body?: unknown): Promise<void> =>
    new Promise<void>((resolve) => {
      reply.raw.once('prefinish', resolve)
      reply.raw.once('finish', resolve)
      reply.raw.once('close', resolve)
      if (body === undefined) void reply.code(status).send()
      else void reply.code(status).type('application/json').send(body)
    })
}
