/**
 * The wire side of a call (protocol.md §8, §9): destinations as the server wants them, the paths and
 * bodies of the session requests, the one session DELETE, and reading notification bodies.
 */
import { legIdFromUrl } from '@parley/protocol/paths'
import { SdkError } from '../core/errors.js'
import { signalingPath } from '../signalling/urls.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { normalizeDestination } from './destination.js'

/** The status code and reason of a state change (sdk-api §5.4.3), as notifications carry them. */
export interface Transition {
  statusCode?: number
  reasonText?: string
}

/** `v` when it is a string. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** The leg id a notification is about, from its `link[0].href` (protocol.md §9). */
export function legOf(body: Record<string, unknown>): string | undefined {
  const link = body.link
  const href = Array.isArray(link) ? (link[0] as { href?: unknown } | undefined)?.href : undefined
  return typeof href === 'string' ? legIdFromUrl(href) : undefined
}

/** The `statusCode`/`reasonText` of a notification, if it carries any. */
export function transitionOf(body: Record<string, unknown>): Transition | undefined {
  const t: Transition = {}
  if (typeof body.statusCode === 'number') t.statusCode = body.statusCode
  if (typeof body.reasonText === 'string') t.reasonText = body.reasonText
  return t.statusCode === undefined && t.reasonText === undefined ? undefined : t
}

/** A destination (make, forward, transfer) as the wire wants it (protocol.md §8.1), or undefined when empty. */
export function addressOf(ctx: CallContext, destination: unknown): string | undefined {
  if (typeof destination !== 'string') return undefined
  const tokens = ctx.deps.tokens()
  const own = tokens?.identity ?? (tokens?.username.includes('@') ? tokens.username : undefined)
  return ctx.deps.config().call.normalizeDestination
    ? normalizeDestination(destination, own)
    : destination.trim() || undefined
}

/** The user's signalling path (protocol.md §8); needs tokens. */
export function basePath(ctx: CallContext): string {
  const tokens = ctx.deps.tokens()
  if (!tokens) throw new SdkError('call:2', 'No tokens: call setTokens first')
  return signalingPath(ctx.deps.config().authentication.server.version, tokens.username)
}

/** The path of the call's session on the server; needs its leg id. */
export function legPath(ctx: CallContext, call: Call): string {
  if (!call.legId) throw new SdkError('call:2', 'The call has no session on the server')
  return `${basePath(ctx)}/sessions/${call.legId}`
}

/** The Parley quality report path of the call's leg (Parley extension; README "Call quality"). */
export function qualityPath(ctx: CallContext, call: Call): string {
  const tokens = ctx.deps.tokens()
  if (!tokens) throw new SdkError('call:2', 'No tokens: call setTokens first')
  if (!call.legId) throw new SdkError('call:2', 'The call has no session on the server')
  return `/parley/v1/${encodeURIComponent(tokens.username)}/sessions/${encodeURIComponent(call.legId)}/quality`
}

/** The configured `clientCorrelator`, sent in every request body. */
export function correlator(ctx: CallContext): string | undefined {
  return ctx.deps.config().authentication.clientCorrelator
}

/** `PUT …/status`: ringing feedback, or the call audit (protocol.md §8.2). */
export function sendStatus(ctx: CallContext, call: Call, status: 'Ringing' | 'Connected'): Promise<unknown> {
  // The 200's body (the server's view of the state, §8.2) is not used: only success or the error matters.
  return ctx.deps.rest.request(
    'PUT',
    `${legPath(ctx, call)}/status`,
    { wrtcsSessionStatus: { clientCorrelator: correlator(ctx), status } },
    { discardBody: true },
  )
}

/** `DELETE …/sessions/{legId}`, once per call; the reply is only logged (protocol.md §8.5). */
export function sendDelete(ctx: CallContext, call: Call, keepalive = false): void {
  if (!call.legId || call.deleteSent) return
  call.deleteSent = true
  let path: string
  try {
    path = legPath(ctx, call)
  } catch {
    return
  }
  ctx.deps.rest
    .request('DELETE', path, undefined, { keepalive })
    .catch((err: unknown) => ctx.deps.log.info('session DELETE failed', err))
}
