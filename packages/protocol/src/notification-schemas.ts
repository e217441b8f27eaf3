/**
 * TypeBox schemas of the frames on the channel websocket (protocol.md §5.4, §9): the keepalive frames and every
 * notification Parley pushes. The types of notifications.ts are derived from them, and the OpenAPI document
 * (`GET /openapi.json`) lists them under `components.schemas`. A separate module from notifications.ts so that
 * the SDK, which bundles notifications.ts, never pulls in TypeBox.
 */
import { Type } from '@sinclair/typebox'

const Id = Type.String({
  description:
    'unique per frame; a frame repeated after a reconnect keeps its id, clients drop repeats (§9.0)',
})

/** `link` entry naming the recipient's own leg (§9.0). */
export const SessionLinkSchema = Type.Object({
  href: Type.String({
    description: "the recipient's own leg: `/cpaas/webrtcsignaling/v1/{username}/sessions/{legId}`",
  }),
  rel: Type.Literal('WebrtcSession'),
})

const Links = Type.Array(SessionLinkSchema, { minItems: 1 })

/** `wrtcsSessionInvitationNotification` (§9.1): an incoming call, to each callee leg. */
export const InvitationNotificationSchema = Type.Object(
  {
    wrtcsSessionInvitationNotification: Type.Object({
      id: Id,
      link: Links,
      offer: Type.Object({
        sdp: Type.Optional(
          Type.String({ description: 'absent in a slow-start transfer invitation (§11.16)' }),
        ),
      }),
      originatorAddress: Type.String(),
      originatorName: Type.String(),
      tParticipantAddress: Type.String(),
    }),
  },
  { description: 'Incoming call, pushed to each leg of the callee (protocol §9.1)' },
)

/** `wrtcsAcceptanceNotification` (§9.2): the callee answered, to the caller's leg. */
export const AcceptanceNotificationSchema = Type.Object(
  {
    wrtcsAcceptanceNotification: Type.Object({
      id: Id,
      link: Links,
      answer: Type.Object({ sdp: Type.String() }),
    }),
  },
  { description: "The callee answered; pushed to the caller's leg with the answer SDP (protocol §9.2)" },
)

/** `wrtcsAnswerNotification` (§9.3): the answer to a re-offer, to the leg that re-offered. */
export const AnswerNotificationSchema = Type.Object(
  {
    wrtcsAnswerNotification: Type.Object({
      id: Id,
      link: Links,
      answer: Type.Object({ sdp: Type.String() }),
    }),
  },
  { description: 'The answer to a re-offer, pushed to the leg that sent the update (protocol §9.3)' },
)

/** `wrtcsOfferNotification` (§9.4): the peer re-offers (hold, video, ICE restart…). */
export const OfferNotificationSchema = Type.Object(
  {
    wrtcsOfferNotification: Type.Object({
      id: Id,
      link: Links,
      offer: Type.Object({
        sdp: Type.Optional(Type.String({ description: 'absent when the server asks for an offer (§11.16)' })),
      }),
    }),
  },
  {
    description:
      'A re-offer of the peer, pushed to the other leg; answer it with PUT …/answer (protocol §9.4)',
  },
)

/** The three event types clients act on (§9.5). */
export const SessionEventTypeSchema = Type.Union([
  Type.Literal('Ringing'),
  Type.Literal('SessionEnded'),
  Type.Literal('Cancelled'),
])

/** `wrtcsEventNotification` (§9.5): ringing, end and cancel events. */
export const EventNotificationSchema = Type.Object(
  {
    wrtcsEventNotification: Type.Object({
      id: Id,
      eventType: SessionEventTypeSchema,
      link: Links,
      statusCode: Type.Integer({
        description: 'e.g. 180 Ringing, 200, 408 No Answer, 487, 603 Declined (§9.5)',
      }),
      reasonText: Type.String(),
      earlyMedia: Type.Optional(
        Type.Object(
          { sdp: Type.String() },
          {
            description:
              "Parley's extension (§9.0: extra fields are harmless): on the Ringing event of a call to a phone " +
              "number whose trunk sent 183 with SDP, the provisional answer that plays the far end's early media " +
              "(ringback, announcements). Kandy clients ignore it and ring; Parley's SDK applies it as a " +
              '`pranswer` and goes to `Early Media`.',
          },
        ),
      ),
    }),
  },
  { description: 'Ringing, SessionEnded or Cancelled, with a status code and reason (protocol §9.5)' },
)

/** Keepalive ping (§5.4): sent by clients (`x-connCheckRole: client`) or by the server (`server`). */
export const ConnCheckFrameSchema = Type.Object(
  {
    connCheck: Type.Object({
      interval: Type.Optional(Type.Number({ description: 'seconds until the next connCheck' })),
    }),
  },
  { description: 'Keepalive ping; the other side answers with connAck (protocol §5.4)' },
)

/** Keepalive pong (§5.4): the answer to every `connCheck`. */
export const ConnAckFrameSchema = Type.Object(
  { connAck: Type.Object({}) },
  { description: 'Keepalive pong, the answer to every connCheck (protocol §5.4)' },
)

/** Body of a refused websocket upgrade (§5.3, §13.3): a plain HTTP status with its reason phrase. */
export const UpgradeRefusalSchema = Type.Object(
  { error: Type.String({ description: 'the reason phrase, e.g. "Not Found"' }) },
  {
    description:
      'Refused websocket upgrade: 404 unknown channel, 401 bad token, 403 wrong owner (protocol §13.3)',
  },
)

/** Every notification frame schema by its top-level key (§9). */
export const NOTIFICATION_SCHEMAS = {
  wrtcsSessionInvitationNotification: InvitationNotificationSchema,
  wrtcsAcceptanceNotification: AcceptanceNotificationSchema,
  wrtcsAnswerNotification: AnswerNotificationSchema,
  wrtcsOfferNotification: OfferNotificationSchema,
  wrtcsEventNotification: EventNotificationSchema,
} as const

/** Every websocket frame schema, by the name it has in the OpenAPI document's `components.schemas`. */
export const FRAME_SCHEMAS = {
  ConnCheckFrame: ConnCheckFrameSchema,
  ConnAckFrame: ConnAckFrameSchema,
  InvitationNotification: InvitationNotificationSchema,
  AcceptanceNotification: AcceptanceNotificationSchema,
  AnswerNotification: AnswerNotificationSchema,
  OfferNotification: OfferNotificationSchema,
  EventNotification: EventNotificationSchema,
} as const
