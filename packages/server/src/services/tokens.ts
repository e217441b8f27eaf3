import { createHmac, createSecretKey, randomBytes, randomUUID, type KeyObject } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import type { IdTokenClaims, TokenResponse } from '@parley/protocol'
import type { Account, User } from '../store/types.js'
import type { ServiceContext } from './context.js'
import { authenticate } from './accounts.js'
import { authenticateProjectKey, createAnonymousIdentity } from './anonymous.js'
import { OAuthError } from './errors.js'

const ISSUER = 'parley'
const REFRESH_TTL_S = 30 * 24 * 3600
/** Verified access tokens remembered per node (bounded; the least recently used goes first). */
const VERIFIED_CACHE_SIZE = 10_000
/**
 * How long a remembered verification is trusted before the token is checked again against the store. It bounds
 * how long a deleted user's unexpired token keeps working on a node (the CLI deletes from another process).
 */
export const VERIFIED_MAX_AGE_MS = 60_000

interface Verified {
  actor: Actor
  /** The token's `exp`, in seconds. */
  exp: number
  /** Clock time of the full verification. */
  at: number
}

/** The authenticated user of a request. */
export interface Actor {
  userId: string
  accountId: string
  username: string
  login: string
  /** Set for the ephemeral identity of a `client_credentials` grant (issue 15). */
  anonymous?: true
}

/** Why a token was refused. */
export type TokenFailure = 'missing' | 'invalid' | 'expired'

/** Verification result: an actor, or why not. */
export type TokenCheck = { ok: true; actor: Actor; expired: boolean } | { ok: false; reason: TokenFailure }

interface AccessClaims extends JWTPayload {
  typ: 'access' | 'refresh'
  uid: string
  acc: string
  /** The subject is an anonymous identity (client_credentials grant). */
  anon?: true
  /**
   * Fingerprint of the password hash the token was issued under (`#credential`): a new password (`parley user
   * password`) makes every earlier access and refresh token of the user invalid. Tokens without it are refused.
   */
  pwf?: string
}

/** The token response of the client_credentials grant: the password grant's, without a refresh token. */
export type AnonymousTokenResponse = Omit<TokenResponse, 'refresh_token'>

/**
 * Issues and verifies Parley's tokens: HS256 JWTs signed with a key kept in the store, so that tokens
 * survive restarts and are shared by every node (protocol §3).
 */
export class TokenService {
  readonly #ctx: ServiceContext
  #key: KeyObject | undefined
  /** Access tokens that passed full verification (signature, claims, user), keyed by the token string. */
  readonly #verified = new Map<string, Verified>()

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx
  }

  // A KeyObject rather than raw bytes: jose would import raw bytes into a new key on every sign and verify.
  async #signingKey(): Promise<KeyObject> {
    if (!this.#key) {
      const secret = await this.#ctx.store.getOrCreateSecret('jwt-hs256', () =>
        randomBytes(32).toString('base64url'),
      )
      this.#key = createSecretKey(Buffer.from(secret, 'base64url'))
    }
    return this.#key
  }

  /** The password grant of `POST /cpaas/auth/v1/token` (protocol §3.1). */
  async passwordGrant(fields: Record<string, string | undefined>): Promise<TokenResponse> {
    // One info line per login attempt (issue 16): the login name and the outcome, never the password.
    const login = fields.username?.slice(0, 200)
    try {
      const response = await this.#passwordGrant(fields)
      this.#ctx.log.info({ login, clientId: fields.client_id, outcome: 'success' }, 'login')
      return response
    } catch (err) {
      const reason = err instanceof OAuthError ? err.message : 'internal error'
      this.#ctx.log.info({ login, clientId: fields.client_id, outcome: 'failure', reason }, 'login')
      throw err
    }
  }

  async #passwordGrant(fields: Record<string, string | undefined>): Promise<TokenResponse> {
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
    if (!user || user.accountId !== account.id || claims.pwf !== (await this.#credential(user)))
      throw new OAuthError(400, 'invalid_grant', 'Invalid or expired refresh token')
    return this.#issue(user, account, fields.scope)
  }

  /**
   * The client_credentials grant (RFC 6749 §4.4; issue 15): a project key and its secret give a new ephemeral
   * identity `anon-<random>@<domain>`, marked anonymous, with tokens of `--anonymous-token-ttl` and no refresh
   * token. Any credential failure is 401 `invalid_client`.
   */
  async clientCredentialsGrant(
    credentials: { clientId: string; clientSecret: string },
    scope: string | undefined,
  ): Promise<AnonymousTokenResponse> {
    const { key, account } = await authenticateProjectKey(
      this.#ctx,
      credentials.clientId,
      credentials.clientSecret,
    )
    const ttl = this.#ctx.config.anonymous.tokenTtl
    // The identity outlives its tokens to the second they expire (JWT exp is in whole seconds).
    const expiresAt = (Math.floor(this.#ctx.clock.now() / 1000) + ttl) * 1000
    const user = await createAnonymousIdentity(this.#ctx, key, expiresAt)
    const { refresh_token: _unused, ...response } = await this.#issue(user, account, scope, {
      ttl,
      anonymous: true,
    })
    return response
  }

  /**
   * The `pwf` claim for a user: HMAC-SHA256 of the stored password hash under the signing key, 128 bits. It
   * changes with every new hash (a fresh salt each time), costs one HMAC per full verification, needs no
   * column, and tells a token holder nothing about the hash.
   */
  async #credential(user: User): Promise<string> {
    return createHmac('sha256', await this.#signingKey())
      .update(user.passwordHash)
      .digest()
      .subarray(0, 16)
      .toString('base64url')
  }

  async #account(clientId: string | undefined): Promise<Account> {
    if (!clientId) throw new OAuthError(400, 'invalid_request', 'client_id is required')
    const account = await this.#ctx.store.getAccountByClientId(clientId)
    if (!account) throw new OAuthError(401, 'invalid_client', 'Unknown client_id')
    return account
  }

  async #issue(
    user: User,
    account: Account,
    scope: string | undefined,
    options: { ttl?: number; anonymous?: boolean } = {},
  ): Promise<TokenResponse> {
    const key = await this.#signingKey()
    const now = Math.floor(this.#ctx.clock.now() / 1000)
    const ttl = options.ttl ?? this.#ctx.config.tokenTtl
    const anon = options.anonymous ? { anon: true } : {}
    const pwf = await this.#credential(user)
    const base = (typ: string, exp: number) =>
      new SignJWT({ typ, uid: user.id, acc: account.id, pwf, ...anon })
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
      new SignJWT({ ...idClaims, email: user.login, ...(options.anonymous ? { anonymous: true } : {}) })
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
   *
   * A token that passed in full is remembered until its `exp`, for at most `VERIFIED_MAX_AGE_MS`: repeated
   * requests skip the signature check and the user lookup, so a deleted user's unexpired token (or one issued
   * before the user's password changed) is refused within that time rather than at once.
   */
  async verifyAccess(token: string | undefined, allowExpired = false): Promise<TokenCheck> {
    if (!token) return { ok: false, reason: 'missing' }
    const now = this.#ctx.clock.now()
    const known = this.#verified.get(token)
    if (known) {
      this.#verified.delete(token)
      // jose's rule: expired once `exp` <= the current second. Expired or stale entries take the full path,
      // which gives exactly the answer an uncached check would (including §5.3's expired-token upgrade).
      if (known.exp > Math.floor(now / 1000) && now - known.at < VERIFIED_MAX_AGE_MS) {
        this.#verified.set(token, known) // most recently used goes last
        return { ok: true, expired: false, actor: known.actor }
      }
    }
    let claims: AccessClaims
    let expired = false
    try {
      claims = (
        await jwtVerify<AccessClaims>(token, await this.#signingKey(), {
          issuer: ISSUER,
          algorithms: ['HS256'],
          currentDate: new Date(now),
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
    if (
      !user ||
      user.username !== claims.sub ||
      user.accountId !== claims.acc ||
      claims.pwf !== (await this.#credential(user))
    )
      return { ok: false, reason: 'invalid' }
    const actor: Actor = {
      userId: user.id,
      accountId: user.accountId,
      username: user.username,
      login: user.login,
      ...(claims.anon === true ? { anonymous: true as const } : {}),
    }
    if (!expired && typeof claims.exp === 'number') {
      if (this.#verified.size >= VERIFIED_CACHE_SIZE) {
        const oldest = this.#verified.keys().next()
        if (!oldest.done) this.#verified.delete(oldest.value)
      }
      this.#verified.set(token, { actor, exp: claims.exp, at: now })
    }
    return { ok: true, expired, actor }
  }
}
