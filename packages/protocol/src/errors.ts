/**
 * The protocol's REST error body (protocol.md §4.4) and Parley's code table (§13.2).
 * Clients replace `%1`, `%2`… in `text` with `variables`; never put `%N` without a variable.
 */
// Type-only imports: the SDK bundles this module and must not pull in TypeBox.
import type { Static } from '@sinclair/typebox'
import type { OAuthErrorBodySchema, RequestErrorBodySchema, ServiceExceptionSchema } from './schemas.js'

/** A `serviceException` / `policyException` (schema: `ServiceExceptionSchema` in schemas.ts). */
export type ServiceException = Static<typeof ServiceExceptionSchema>

/** The error body of every 4xx/5xx except the token endpoint's (§4.4; schema: `RequestErrorBodySchema`). */
export type RequestErrorBody = Static<typeof RequestErrorBodySchema>

/** OAuth 2.0 error body of the token endpoint (§3.1; schema: `OAuthErrorBodySchema`). */
export type OAuthErrorBody = Static<typeof OAuthErrorBodySchema>

/** Stable error kinds with their HTTP status, `messageId` and `text` (§13.2). */
export const PROTOCOL_ERRORS = {
  INVALID_INPUT: { status: 400, messageId: 'SVC0002', text: 'Invalid input value for message part %1' },
  NOT_FOUND_INPUT: { status: 404, messageId: 'SVC0002', text: 'Invalid input value for message part %1' },
  UNAUTHORIZED: { status: 401, messageId: 'SVC0401', text: 'Unauthorized' },
  FORBIDDEN: { status: 403, messageId: 'SVC0403', text: 'Forbidden' },
  UNKNOWN_RESOURCE: { status: 404, messageId: 'SVC0004', text: 'Unknown resource' },
  NO_SUCH_SESSION: { status: 404, messageId: 'SVC0004', text: 'No such session' },
  NO_SUCH_SUBSCRIPTION: { status: 404, messageId: 'SVC0004', text: 'No such subscription' },
  SESSION_ENDED: { status: 404, messageId: 'SVC0004', text: 'Session ended' },
  NOT_ESTABLISHED: { status: 409, messageId: 'SVC0003', text: 'Call not established' },
  OFFER_PENDING: { status: 409, messageId: 'SVC0003', text: 'Offer already pending' },
  NO_OFFER_PENDING: { status: 409, messageId: 'SVC0003', text: 'No offer pending' },
  ALREADY_ANSWERED: { status: 409, messageId: 'SVC0003', text: 'Call already answered' },
  METHOD_NOT_ALLOWED: { status: 405, messageId: 'SVC0005', text: 'Method not allowed' },
  BODY_TOO_LARGE: { status: 413, messageId: 'SVC0006', text: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, messageId: 'SVC0007', text: 'Unsupported content type' },
  TOO_MANY_REQUESTS: { status: 429, messageId: 'POL0001', text: 'Too many requests' },
  TOO_MANY_CALLS: { status: 429, messageId: 'POL0002', text: 'Too many concurrent calls' },
  INTERNAL: { status: 500, messageId: 'SVC0500', text: 'Internal error' },
  // The console's admin API (`/parley/admin/v1/…`, Parley's own; README "Operator console").
  /** Bad input with the reason: `variables` [part, reason]. */
  ADMIN_INVALID: { status: 400, messageId: 'SVC0002', text: 'Invalid input value for message part %1: %2' },
  /** No, an expired or an invalid console session, or wrong credentials: `variables` [reason]. */
  ADMIN_UNAUTHORIZED: { status: 401, messageId: 'SVC0401', text: 'Console sign-in required: %1' },
  /** A state-changing request without the session's CSRF token: `variables` [header name]. */
  CSRF_REFUSED: { status: 403, messageId: 'SVC0403', text: 'Missing or wrong CSRF token in header %1' },
  /** Only an operator may do this: `variables` [what]. */
  OPERATOR_ONLY: { status: 403, messageId: 'SVC0403', text: 'Only a server-wide operator may %1' },
  /** A name that is taken: `variables` [part, reason]. */
  ADMIN_CONFLICT: { status: 409, messageId: 'SVC0003', text: 'Conflict on %1: %2' },
} as const satisfies Record<string, { status: number; messageId: string; text: string }>

/** One of the error kinds above. */
export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS

/** Builds the §4.4 body. */
export function requestErrorBody(
  messageId: string,
  text: string,
  variables: string[] = [],
): RequestErrorBody {
  return { requestError: { serviceException: { messageId, text, variables } } }
}

/** Reads a §4.4 body (either exception kind); undefined when the value is not one. */
export function readRequestError(body: unknown): ServiceException | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const re = (body as { requestError?: unknown }).requestError
  if (typeof re !== 'object' || re === null) return undefined
  const ex =
    (re as { serviceException?: unknown }).serviceException ??
    (re as { policyException?: unknown }).policyException
  if (typeof ex !== 'object' || ex === null) return undefined
  const { messageId, text, variables } = ex as Partial<ServiceException>
  if (typeof messageId !== 'string') return undefined
  return {
    messageId,
    text: typeof text === 'string' ? text : '',
    variables: Array.isArray(variables) ? variables : [],
  }
}

/** `text` with `%1`, `%2`… replaced by the variables, as clients show it (§4.4). */
export function formatServiceException(ex: ServiceException): string {
  return ex.text.replace(/%(\d+)/g, (whole, n: string) => ex.variables[Number(n) - 1] ?? whole)
}
