/**
 * Notification frames pushed on the channel websocket (protocol.md §9) and keepalive frames (§5.4).
 * Each frame is one JSON object with exactly one top-level key whose value is a non-null object (§9.0).
 * The types are derived from the TypeBox schemas of notification-schemas.ts (one definition for both).
 */
// Type-only imports: the SDK bundles this module and must not pull in TypeBox.
import type { Static } from '@sinclair/typebox'
import type {
  AcceptanceNotificationSchema,
  AnswerNotificationSchema,
  ConnAckFrameSchema,
  ConnCheckFrameSchema,
  EventNotificationSchema,
  InvitationNotificationSchema,
  NOTIFICATION_SCHEMAS,
  OfferNotificationSchema,
  SessionEventTypeSchema,
  SessionLinkSchema,
} from './notification-schemas.js'

/** `link` entry naming the recipient's own leg (§9.0). */
export type SessionLink = Static<typeof SessionLinkSchema>

/** `wrtcsSessionInvitationNotification` (§9.1). */
export type InvitationNotification = Static<typeof InvitationNotificationSchema>
/** `wrtcsAcceptanceNotification` (§9.2). */
export type AcceptanceNotification = Static<typeof AcceptanceNotificationSchema>
/** `wrtcsAnswerNotification` (§9.3). */
export type AnswerNotification = Static<typeof AnswerNotificationSchema>
/** `wrtcsOfferNotification` (§9.4). */
export type OfferNotification = Static<typeof OfferNotificationSchema>
/** The three event types clients act on (§9.5). */
export type SessionEventType = Static<typeof SessionEventTypeSchema>
/** `wrtcsEventNotification` (§9.5). */
export type EventNotification = Static<typeof EventNotificationSchema>

/** Any notification Parley sends. */
export type Notification =
  InvitationNotification | AcceptanceNotification | AnswerNotification | OfferNotification | EventNotification

/** The top-level key of a notification. */
export type NotificationKind = keyof typeof NOTIFICATION_SCHEMAS

/** Keepalive ping (§5.4). */
export type ConnCheckFrame = Static<typeof ConnCheckFrameSchema>
/** Keepalive pong (§5.4). */
export type ConnAckFrame = Static<typeof ConnAckFrameSchema>
/** The pong Parley sends (§5.4). */
export const CONN_ACK: ConnAckFrame = { connAck: {} }

/** Status codes and reason texts of `wrtcsEventNotification` (§9.5 table). */
export const EVENT_REASONS = {
  ringing: { eventType: 'Ringing', statusCode: 180, reasonText: 'Ringing' },
  remoteEnded: { eventType: 'SessionEnded', statusCode: 200, reasonText: 'Ended by remote party' },
  declined: { eventType: 'SessionEnded', statusCode: 603, reasonText: 'Declined' },
  noAnswerCaller: { eventType: 'SessionEnded', statusCode: 408, reasonText: 'No Answer' },
  noAnswerCallee: { eventType: 'Cancelled', statusCode: 408, reasonText: 'No Answer' },
  callerCancelled: { eventType: 'Cancelled', statusCode: 487, reasonText: 'Request Terminated' },
  answeredElsewhere: { eventType: 'Cancelled', statusCode: 200, reasonText: 'Answered Elsewhere' },
  declinedElsewhere: { eventType: 'Cancelled', statusCode: 603, reasonText: 'Declined' },
  livenessTimeout: { eventType: 'SessionEnded', statusCode: 200, reasonText: 'Peer connection lost' },
  livenessTimeoutCallee: { eventType: 'Cancelled', statusCode: 200, reasonText: 'Peer connection lost' },
  transferred: { eventType: 'SessionEnded', statusCode: 200, reasonText: 'Call transferred' },
  transferFailed: { eventType: 'SessionEnded', statusCode: 200, reasonText: 'Transfer failed' },
  channelGone: { eventType: 'SessionEnded', statusCode: 200, reasonText: 'Callee unreachable' },
} as const satisfies Record<string, { eventType: SessionEventType; statusCode: number; reasonText: string }>

/** An event type with its status code and reason text. */
export interface EventReason {
  eventType: SessionEventType
  statusCode: number
  reasonText: string
}

/** Sorts a frame the way clients do (§5.4): ping, pong, or a notification with its kind and body. */
export type ClassifiedFrame =
  | { type: 'connCheck'; interval: number | undefined }
  | { type: 'connAck' }
  | { type: 'notification'; kind: string; body: Record<string, unknown> & { id: string } }
  | { type: 'other' }

/** Classifies a parsed frame; notifications need a string `id` (§9.0). */
export function classifyFrame(frame: unknown): ClassifiedFrame {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return { type: 'other' }
  const f = frame as Record<string, unknown>
  if (f.connCheck) {
    const interval = (f.connCheck as { interval?: unknown }).interval
    return { type: 'connCheck', interval: typeof interval === 'number' ? interval : undefined }
  }
  if (f.connAck) return { type: 'connAck' }
  for (const [kind, body] of Object.entries(f)) {
    if (typeof body === 'object' && body !== null && typeof (body as { id?: unknown }).id === 'string') {
      return { type: 'notification', kind, body: body as Record<string, unknown> & { id: string } }
    }
  }
  return { type: 'other' }
}
