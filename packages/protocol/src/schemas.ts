/**
 * Request and response body schemas of the REST API (protocol.md §3–§8, §14), as TypeBox JSON schemas: the
 * server validates requests with them, documents every body with them (`GET /openapi.json`), and both sides
 * share the static types.
 * Extra fields are allowed everywhere: clients add fields that we do not read (§9.0 "extra fields are harmless").
 */
import { Type, type Static } from '@sinclair/typebox'

/** Largest SDP Parley accepts in one request (a few kB is typical; 64 kB leaves room for many m-lines). */
export const MAX_SDP_LENGTH = 65_536
const Correlator = Type.String({ maxLength: 256 })
const Address = Type.String({ minLength: 1, maxLength: 512 })
const Sdp = Type.String({ maxLength: MAX_SDP_LENGTH })

/** `POST /cpaas/notificationchannel/{v}/{username}/channels` (§5.1). */
export const ChannelCreateBody = Type.Object({
  notificationChannel: Type.Object({
    channelLifetime: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600 })),
    channelType: Type.Optional(Type.String({ maxLength: 64 })),
    clientCorrelator: Type.Optional(Correlator),
    'x-connCheckRole': Type.Optional(Type.Union([Type.Literal('client'), Type.Literal('server')])),
  }),
})
export type ChannelCreateBody = Static<typeof ChannelCreateBody>

/** `PUT {channel resourceURL}/channelLifetime` (§14.3). */
export const ChannelLifetimeBody = Type.Object({
  notificationChannelLifetime: Type.Object({
    channelLifetime: Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600 }),
  }),
})
export type ChannelLifetimeBody = Static<typeof ChannelLifetimeBody>

/** `POST …/subscriptions` (§6.2). */
export const SubscriptionCreateBody = Type.Object({
  wrtcsNotificationSubscription: Type.Object({
    callbackReference: Type.Object({ notifyURL: Type.String({ minLength: 1, maxLength: 1024 }) }),
    clientCorrelator: Type.Optional(Correlator),
  }),
})
export type SubscriptionCreateBody = Static<typeof SubscriptionCreateBody>

/** `POST …/turn` (§7.2). The body is optional in practice; the server reads nothing from it. */
export const TurnCredentialsBody = Type.Object({
  wrtcsTurnCredentials: Type.Optional(Type.Object({ clientCorrelator: Type.Optional(Correlator) })),
})
export type TurnCredentialsBody = Static<typeof TurnCredentialsBody>

/** `POST …/sessions` (§8.1). */
export const SessionCreateBody = Type.Object({
  wrtcsSession: Type.Object({
    clientCorrelator: Type.Optional(Correlator),
    tParticipantAddress: Address,
    offer: Type.Object({ sdp: Sdp }),
    tParticipantName: Type.Optional(Type.String({ maxLength: 256 })),
  }),
})
export type SessionCreateBody = Static<typeof SessionCreateBody>

/** `PUT …/sessions/{legId}/status` (§8.2). Unknown status values are audits (Parley's choice). */
export const SessionStatusBody = Type.Object({
  wrtcsSessionStatus: Type.Object({
    clientCorrelator: Type.Optional(Correlator),
    status: Type.String({ maxLength: 64 }),
  }),
})
export type SessionStatusBody = Static<typeof SessionStatusBody>

/** `PUT …/sessions/{legId}/answer` (§8.3). */
export const AnswerBody = Type.Object({
  wrtcsAnswer: Type.Object({ clientCorrelator: Type.Optional(Correlator), sdp: Sdp }),
})
export type AnswerBody = Static<typeof AnswerBody>

/** `PUT …/sessions/{legId}/update` (§8.4). */
export const UpdateBody = Type.Object({
  wrtcsOffer: Type.Object({ clientCorrelator: Type.Optional(Correlator), sdp: Sdp }),
})
export type UpdateBody = Static<typeof UpdateBody>

/** `PUT …/sessions/{legId}/forward` (§8.6). */
export const ForwardBody = Type.Object({
  wrtcsForward: Type.Object({ clientCorrelator: Type.Optional(Correlator), address: Address }),
})
export type ForwardBody = Static<typeof ForwardBody>

/** `PUT …/sessions/{legId}/transfer` (§8.7): direct without `sessionId`, consultative with it. */
export const TransferBody = Type.Object({
  wrtcsTransfer: Type.Object({
    clientCorrelator: Type.Optional(Correlator),
    address: Address,
    sessionId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  }),
})
export type TransferBody = Static<typeof TransferBody>

/**
 * `POST /cpaas/auth/v1/token` form fields (§3.1, RFC 6749 §4.3.2 and §6). Documentation only: the token endpoint
 * reads the form itself so that every failure is an OAuth 2.0 error body (§3.1), never a validation error.
 */
export const TokenRequestForm = Type.Object(
  {
    grant_type: Type.Union([Type.Literal('password'), Type.Literal('refresh_token')], {
      description: 'password: log in with username and password; refresh_token: renew with the refresh token',
    }),
    client_id: Type.String({ description: "the account's client ID" }),
    username: Type.Optional(
      Type.String({ description: 'login, `user@domain` or `user` (grant_type=password)' }),
    ),
    password: Type.Optional(Type.String({ description: 'grant_type=password' })),
    refresh_token: Type.Optional(Type.String({ description: 'grant_type=refresh_token' })),
    scope: Type.Optional(
      Type.String({ description: 'echoed in the response; `openid` in the Kandy quickstart' }),
    ),
  },
  { description: 'application/x-www-form-urlencoded, each field given once' },
)
export type TokenRequestForm = Static<typeof TokenRequestForm>

/** Token endpoint success body (§3.1). */
export const TokenResponse = Type.Object({
  access_token: Type.String({ description: 'JWT; `Authorization: Bearer` and the websocket `access_token`' }),
  id_token: Type.String({ description: 'JWT whose payload clients decode (§3.3)' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'access token lifetime, seconds' }),
  refresh_token: Type.String(),
  scope: Type.String(),
})
export type TokenResponse = Static<typeof TokenResponse>

/** `POST …/channels` success body (§5.1). */
export const ChannelResponse = Type.Object({
  notificationChannel: Type.Object({
    callbackURL: Type.String({
      description: 'opaque, unique per channel; send it back as `notifyURL` (§6.2)',
    }),
    channelData: Type.Object({
      channelURL: Type.String({ description: 'absolute path of the websocket, without query (§2.3)' }),
    }),
    channelLifetime: Type.Integer(),
    channelType: Type.Literal('websockets'),
    clientCorrelator: Type.Optional(Type.String()),
    resourceURL: Type.String({ description: 'ends with `/channels/{channelId}`' }),
  }),
})
export type ChannelResponse = Static<typeof ChannelResponse>

/** `PUT {channel resourceURL}/channelLifetime` success body (§14.3). */
export const ChannelLifetimeResponse = Type.Object({
  notificationChannelLifetime: Type.Object({ channelLifetime: Type.Integer() }),
})
export type ChannelLifetimeResponse = Static<typeof ChannelLifetimeResponse>

/** `POST …/subscriptions` success body (§6.2). */
export const SubscriptionResponse = Type.Object({
  wrtcsNotificationSubscription: Type.Object({
    callbackReference: Type.Object({ notifyURL: Type.String() }),
    clientCorrelator: Type.Optional(Type.String()),
    resourceURL: Type.String({ description: 'ends with `/subscriptions/{subscriptionId}`' }),
  }),
})
export type SubscriptionResponse = Static<typeof SubscriptionResponse>

/** `POST …/turn` success body (§7.2). */
export const TurnCredentialsResponse = Type.Object({
  wrtcsTurnCredentials: Type.Object({
    username: Type.String({ description: '`<expiry>:<username>` (§7.3)' }),
    password: Type.String({ description: 'base64(HMAC-SHA1(secret, username)) (§7.3)' }),
    urls: Type.Optional(
      Type.Array(Type.String(), {
        description: "Parley extension: the server's TURN/STUN URLs (Kandy clients ignore it)",
      }),
    ),
  }),
})
export type TurnCredentialsResponse = Static<typeof TurnCredentialsResponse>

/** `POST …/sessions` success body (§8.1). */
export const SessionCreateResponse = Type.Object({
  wrtcsSession: Type.Object({
    resourceURL: Type.String({ description: "ends with `sessions/{legId}`: the caller's leg" }),
    tParticipantAddress: Type.String(),
    clientCorrelator: Type.Optional(Type.String()),
  }),
})
export type SessionCreateResponse = Static<typeof SessionCreateResponse>

/** The call states a status request echoes (§8.2). */
export const SessionStatusValue = Type.Union([
  Type.Literal('Initiated'),
  Type.Literal('Ringing'),
  Type.Literal('Connected'),
])
export type SessionStatusValue = Static<typeof SessionStatusValue>

/** `PUT …/sessions/{legId}/status` success body (§8.2). */
export const SessionStatusResponse = Type.Object({
  wrtcsSessionStatus: Type.Object({ status: SessionStatusValue }),
})
export type SessionStatusResponse = Static<typeof SessionStatusResponse>

/** The inner fields of a `serviceException` / `policyException` (§4.4); the type lives in errors.ts. */
export const ServiceExceptionSchema = Type.Object({
  messageId: Type.String({ description: 'the error code, e.g. SVC0002 (§13.2)' }),
  text: Type.String({ description: '`%1`, `%2`… stand for the variables' }),
  variables: Type.Array(Type.String()),
})

/** The error body of every 4xx/5xx of the REST API but the token endpoint's (§4.4). */
export const RequestErrorBodySchema = Type.Object(
  {
    requestError: Type.Union([
      Type.Object({ serviceException: ServiceExceptionSchema }),
      Type.Object({ policyException: ServiceExceptionSchema }),
    ]),
  },
  { description: 'The protocol error body (protocol §4.4)' },
)

/** OAuth 2.0 error body of the token endpoint (§3.1, RFC 6749 §5.2). */
export const OAuthErrorBodySchema = Type.Object(
  {
    error: Type.Union([
      Type.Literal('invalid_request'),
      Type.Literal('invalid_client'),
      Type.Literal('invalid_grant'),
      Type.Literal('unsupported_grant_type'),
      Type.Literal('invalid_scope'),
      Type.Literal('too_many_requests'),
      Type.Literal('server_error'),
    ]),
    error_description: Type.String(),
  },
  { description: 'OAuth 2.0 error body of the token endpoint (protocol §3.1)' },
)

/** Claims of the id token that clients read (§3.3). */
export interface IdTokenClaims {
  preferred_username: string
  'services-identity': string
  sub: string
  iss?: string
  aud?: string
  iat?: number
  exp?: number
}
