import { randomBytes, randomUUID } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import type { IdTokenClaims, TokenResponse } from '@parley/protocol'
import type { Account, User } from '../store/types.js'
import type { ServiceContext } from './context.js'
import { authenticate } from './accounts.js'
import { OAuthError } from './errors.js'

const ISSUER = 'parley'
const REFRESH_TTL_S = 30 * 24 * 3600

/** The authenticated user of a request. */
export interface Actor {
  userId: string
  accountId: string
  username: string
  login: string
}

/** Why a token was refused. */
export type TokenFailure = 'missing' | 'invalid' | 'expired'

/** Verification result: an actor, or why not. */
export type TokenCheck = { ok: true; actor: Actor; expired: boolean } | { ok: false; reason: TokenFailure }

interface AccessClaims extends JWTPayload {
  typ: 'access' | 'refresh'
  uid: string
  acc: string
}

/**
 * Issues and verifies Parley's tokens: HS256 JWTs signed with a key kept in the store, so that tokens
 * survive restarts and are shared by every node (protocol §3).
 */
export class TokenService {
  readonly #ctx: ServiceContext
  #key: Uint8Array | undefined

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx
  }

  async #signingKey(): Promise<Uint8Array> {
    if (!this.#key) {
      const secret = await this.#ctx.store.getOrCreateSecret('jwt-hs256', () =>
        randomBytes(32).toString('base64url'),
      )
      this.#key = Buffer.from(secret, 'base64url')
    }
    return this.#key
  }

  /** The password grant of `POST /cpaas/auth/v1/token` (protocol §3.1). */
  async passwordGrant(fields: Record<string, string | undefined>): Promise<TokenResponse> {
    const account = await this.#account(fields.client_id)
    if (!fields.username) throw new OAuthError(400, 'invalid_request', 'username is required')
    if (!fields.password) throw new OAuthError(400, 'invalid_request', 'password is required')
    const user = await authenticate(this.#ctx, account, fields.username, fields.password)
    if (!user) throw new OAuthError(400, 'invalid_grant', 'Invalid username or password')
    return this.#issue(user, account, fields.scope)
  }

  /** The refresh-token grant (protocol §3.1, Parley's choice). */
  async refreshGrant(fields: Record<string, string | undefined>): Promise<TokenResponse> {
    const account = await this.#account(fields.client_id)
    if (!fields.refresh_token) throw new OAuthError(400, 'invalid_request', 'refresh_token is required')
    let claims: AccessClaims
    try {
      claims = (
        await jwtVerify<AccessClaims>(fields.refresh_token, await this.#signingKey(), { issuer: ISSUER })
      ).payload
    } catch {
      throw new OAuthError(400, 'invalid_grant', 'Invalid or expired refresh token')
    }
    const user = claims.typ === 'refresh' ? await this.#ctx.store.getUser(claims.uid) : undefined
    if (!user || user.accountId !== account.id)
      throw new OAuthError(400, 'invalid_grant', 'Invalid or expired refresh token')
    return this.#issue(user, account, fields.scope)
  }

  async #account(clientId: string | undefined): Promise<Account> {
    if (!clientId) throw new OAuthError(400, 'invalid_request', 'client_id is required')
    const account = await this.#ctx.store.getAccountByClientId(clientId)
    if (!account) throw new OAuthError(401, 'invalid_client', 'Unknown client_id')
    return account
  }

  async #issue(user: User, account: Account, scope: string | undefined): Promise<TokenResponse> {
    const key = await this.#signingKey()
    const now = Math.floor(this.#ctx.clock.now() / 1000)
    const ttl = this.#ctx.config.tokenTtl
    const base = (typ: string, exp: number) =>
      new SignJWT({ typ, uid: user.id, acc: account.id })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience(account.clientId)
        .setSubject(user.username)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .setJti(randomUUID())
    const idClaims: IdTokenClaims = {
      preferred_username: user.username,
      'services-identity': user.login,
      sub: user.username,
    }
    const [access, refresh, id] = await Promise.all([
      base('access', now + ttl).sign(key),
      base('refresh', now + REFRESH_TTL_S).sign(key),
      new SignJWT({ ...idClaims, email: user.login })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience(account.clientId)
        .setIssuedAt(now)
        .setExpirationTime(now + ttl)
        .sign(key),
    ])
    return {
      access_token: access,
      id_token: id,
      token_type: 'Bearer',
      expires_in: ttl,
      refresh_token: refresh,
      scope: scope?.trim() || 'openid',
    }
  }

  /**
   * Verifies an access token and loads its user. With `allowExpired`, a token whose only fault is its `exp`
   * is accepted and flagged (the websocket rule of protocol §5.3).
   */
  async verifyAccess(token: string | undefined, allowExpired = false): Promise<TokenCheck> {
    if (!token) return { ok: false, reason: 'missing' }
    let claims: AccessClaims
    let expired = false
    try {
      claims = (
        await jwtVerify<AccessClaims>(token, await this.#signingKey(), {
          issuer: ISSUER,
          algorithms: ['HS256'],
          currentDate: new Date(this.#ctx.clock.now()),
        })
      ).payload
    } catch (err) {
      // jose checks the signature before the claims, so an expiry error carries a trustworthy payload.
      if (allowExpired && err instanceof joseErrors.JWTExpired) {
        claims = err.payload as AccessClaims
        expired = true
      } else {
        return { ok: false, reason: err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid' }
      }
    }
    if (claims.typ !== 'access' || typeof claims.uid !== 'string') return { ok: false, reason: 'invalid' }
    const user = await this.#ctx.store.getUser(claims.uid)
    if (!user || user.username !== claims.sub || user.accountId !== claims.acc)
      return { ok: false, reason: 'invalid' }
    return {
      ok: true,
      expired,
      actor: { userId: user.id, accountId: user.accountId, username: user.username, login: user.login },
    }
  }
}
