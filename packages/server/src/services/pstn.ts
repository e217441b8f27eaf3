import { isE164 } from './numbers.js'

/**
 * The user id of the leg that stands for the SIP trunk in a PSTN call (issue 11). No user has it (user ids are
 * `user-…`), so no request can ever act on that leg, and its notifications reach no channel.
 */
export const TRUNK_USER_ID = 'pstn-trunk'

/**
 * The phone number a dialled address names, or undefined. Clients normalise a dialled phone number to
 * `sip:+15550100@domain` (protocol §8.1: separators removed, leading `+` kept); `tel:+15550100` (RFC 3966) and a
 * bare `+15550100` are taken too. Only E.164 numbers (with `+`) go to the trunk: Parley adds no dial plan.
 */
export function phoneNumberOf(address: string): string | undefined {
  const bare = address.trim().replace(/^(sips?|tel):/i, '')
  const at = bare.lastIndexOf('@')
  const user = (at > 0 ? bare.slice(0, at) : bare).split(';')[0]!.replace(/[\s\-.()]/g, '')
  return isE164(user) ? user : undefined
}

/** The end reason of a failed INVITE as the caller sees it: the SIP status and reason phrase (RFC 3261 §21). */
export function sipFailureReason(
  status: number,
  reason: string,
): {
  eventType: 'SessionEnded'
  statusCode: number
  reasonText: string
} {
  return { eventType: 'SessionEnded', statusCode: status, reasonText: reason || `SIP ${status}` }
}
