/**
 * Notification frames pushed on the channel websocket (protocol.md §9) and keepalive frames (§5.4).
 * Each frame is one JSON object with exactly one top-level key whose value is a non-null object (§9.0).
 */

/** `link` entry naming the recipient's own leg (§9.0). */
export interface SessionLink {
  href: string
  rel: 'WebrtcSession'
}

export interface InvitationNotification {
  wrtcsSessionInvitationNotification: {
    id: string
    link: SessionLink[]
    offer: { sdp?: string }
    originatorAddress: string
    originatorName: string
    tParticipantAddress: string
  }
}
export interface AcceptanceNotification {
  wrtcsAcceptanceNotification: { id: string; link: SessionLink[]; answer: { sdp: string } }
}
export interface AnswerNotification {
  wrtcsAnswerNotification: { id: string; link: SessionLink[]; answer: { sdp: string } }
}
export interface OfferNotification {
  wrtcsOfferNotification: { id: string; link: SessionLink[]; offer: { sdp?: string } }
}
/** The three event types clients act on (§9.5). */
export type SessionEventType = 'Ringing' | 'SessionEnded' | 'Cancelled'
export interface EventNotification {
  wrtcsEventNotification: {
    id: string
    eventType: SessionEventType
    link: SessionLink[]
    statusCode: number
    reasonText: string
  }
}

/** Any notification Parley sends. */
export type Notification =
  InvitationNotification | AcceptanceNotification | AnswerNotification | OfferNotification | EventNotification

/** The top-level key of a notification. */
export type NotificationKind =
  | 'wrtcsSessionInvitationNotification'
  | 'wrtcsAcceptanceNotification'
  | 'wrtcsAnswerNotification'
  | 'wrtcsOfferNotification'
  | 'wrtcsEventNotification'

/** Keepalive frames (§5.4). */
export interface ConnCheckFrame {
  connCheck: { interval?: number }
}
export interface ConnAckFrame {
  connAck: Record<string, never>
}
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
