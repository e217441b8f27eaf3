import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AnonymousSettings, RateLimits } from '../config.js'
import { clientIdForLimit } from './client-credentials.js'

/** Checks one budget for a request; true when the request may go on (else Retry-After is already set). */
export type LimitCheck = (request: FastifyRequest, reply: FastifyReply) => Promise<boolean>

/** The budgets of the API (README "Configuration"); counters are per node. */
export interface Limiters {
  tokenByAddress: LimitCheck
  tokenByLogin: LimitCheck
  sessionsByUser: LimitCheck
  /** client_credentials grants per client address and per project key (issue 15). */
  anonymousByAddress: LimitCheck
  anonymousByKey: LimitCheck
  /** Console sign-ins per client address and per console username (the token endpoint's budgets). */
  consoleByAddress: LimitCheck
  consoleByUsername: LimitCheck
}

const MINUTE = 60_000

/**
 * Registers @fastify/rate-limit without global limits and returns the named budgets. Each check consumes
 * one request from its budget and, when the budget is spent, sets `Retry-After` (RFC 9110 §10.2.3) so that
 * the route can answer 429 in its own error format.
 */
export async function installRateLimits(
  app: FastifyInstance,
  limits: RateLimits,
  anonymous: Pick<AnonymousSettings, 'tokenPerKey' | 'tokenPerAddress'>,
): Promise<Limiters> {
  await app.register(rateLimit, { global: false, timeWindow: MINUTE })
  const make = (max: number, key: (request: FastifyRequest) => string): LimitCheck => {
    const check = app.createRateLimit({ max, timeWindow: MINUTE, keyGenerator: key })
    return async (request, reply) => {
      const result = await check(request)
      if (result.isAllowed || !result.isExceeded) return true
      reply.header('Retry-After', String(Math.max(1, result.ttlInSeconds)))
      return false
    }
  }
  const field = (request: FastifyRequest, name: string) => {
    const body = request.body as Record<string, unknown> | undefined
    const v = body?.[name]
    return typeof v === 'string' ? v.trim().toLowerCase() : ''
  }
  return {
    tokenByAddress: make(limits.tokenPerAddress, (r) => `token-ip:${r.ip}`),
    tokenByLogin: make(
      limits.tokenPerLogin,
      (r) => `token-login:${field(r, 'client_id')}:${field(r, 'username')}`,
    ),
    sessionsByUser: make(limits.sessionsPerUser, (r) => `sessions:${r.actor.userId}`),
    anonymousByAddress: make(anonymous.tokenPerAddress, (r) => `anon-ip:${r.ip}`),
    anonymousByKey: make(anonymous.tokenPerKey, (r) => `anon-key:${clientIdForLimit(r)}`),
    consoleByAddress: make(limits.tokenPerAddress, (r) => `console-ip:${r.ip}`),
    consoleByUsername: make(limits.tokenPerLogin, (r) => `console-user:${field(r, 'username')}`),
  }
}
