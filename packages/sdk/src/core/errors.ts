/** The error shape carried in the `error` field of events (sdk-api §2.11). */
export interface BasicError {
  code: string
  message: string
}

/** Builds a BasicError with the spec's defaults. */
export function basicError(code?: string, message?: string): BasicError {
  return { code: code || 'NO_CODE', message: message || 'An error occurred' }
}

/**
 * An exception carrying a BasicError, thrown inside async flows and turned into the documented
 * error event at the operation's boundary.
 */
export class SdkError extends Error {
  readonly code: string
  /** HTTP status when the failure came from a REST reply. */
  readonly status: number | undefined

  constructor(code: string, message: string, status?: number) {
    super(message)
    this.name = 'SdkError'
    this.code = code
    this.status = status
  }

  toBasic(): BasicError {
    return basicError(this.code, this.message)
  }
}

/** Converts anything thrown into a BasicError, using `fallbackCode` for foreign exceptions. */
export function toBasicError(err: unknown, fallbackCode: string): BasicError {
  if (err instanceof SdkError) return err.toBasic()
  if (err instanceof Error) return basicError(fallbackCode, err.message || err.name)
  return basicError(fallbackCode, typeof err === 'string' ? err : undefined)
}
