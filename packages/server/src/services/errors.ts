import { PROTOCOL_ERRORS, type ProtocolErrorCode } from '@parley/protocol'

/**
 * A failure the API reports to the client in the protocol's error body (protocol §4.4, §13.2).
 * The one error factory of the server (architecture §5): stable codes, an HTTP status, variables.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: number
  readonly messageId: string
  readonly text: string

  constructor(
    readonly code: ProtocolErrorCode,
    readonly variables: string[] = [],
  ) {
    const def = PROTOCOL_ERRORS[code]
    super(`${code}: ${def.text.replace('%1', variables[0] ?? '')}`)
    this.status = def.status
    this.messageId = def.messageId
    this.text = def.text
  }
}

/** Shorthand: `apiError('INVALID_INPUT', 'offer')`. */
export const apiError = (code: ProtocolErrorCode, ...variables: string[]) => new ApiError(code, variables)

/** OAuth 2.0 failure of the token endpoint (protocol §3.1). */
export class OAuthError extends Error {
  override readonly name = 'OAuthError'
  constructor(
    readonly status: 400 | 401 | 429,
    readonly error:
      'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'too_many_requests',
    readonly description: string,
  ) {
    super(`${error}: ${description}`)
  }
}
