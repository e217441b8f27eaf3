/**
 * Request body schemas of the REST API (protocol.md §5–§8, §14), as TypeBox JSON schemas so that the
 * server validates them with its JSON-schema validator and both sides share the static types.
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

/** Success bodies (§5.1, §6.2, §7.2, §8.1, §8.2). */
export interface ChannelResponse {
  notificationChannel: {
    callbackURL: string
    channelData: { channelURL: string }
    channelLifetime: number
    channelType: 'websockets'
    clientCorrelator?: string
    resourceURL: string
  }
}
export interface SubscriptionResponse {
  wrtcsNotificationSubscription: {
    callbackReference: { notifyURL: string }
    clientCorrelator?: string
    resourceURL: string
  }
}
export interface TurnCredentialsResponse {
  /** `urls` is a Parley extension (the server's TURN/STUN URLs); Kandy clients read only the other two (§7.2). */
  wrtcsTurnCredentials: { username: string; password: string; urls?: string[] }
}
export interface SessionCreateResponse {
  wrtcsSession: { resourceURL: string; tParticipantAddress: string; clientCorrelator?: string }
}
export type SessionStatusValue = 'Initiated' | 'Ringing' | 'Connected'
export interface SessionStatusResponse {
  wrtcsSessionStatus: { status: SessionStatusValue }
}

/** Token endpoint success body (§3.1). */
export interface TokenResponse {
  access_token: string
  id_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  scope: string
}

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
