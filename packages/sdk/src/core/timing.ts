/**
 * The opt-in timing hook (`logs.timingHandler`, a Parley extension): timestamped marks of the steps of
 * a call's set-up, for finding where set-up time goes (issue 14). Off by default: then `timingMark`
 * returns after one property read and builds nothing.
 */

/** One step of a call, as `logs.timingHandler` receives it. */
export interface TimingMark {
  /** The SDK's call id. */
  callId: string
  /** This side's leg id, once known. */
  legId?: string
  /** What happened, e.g. `gum:start`, `offer:created`, `candidate:first`, `post:sent`, `post:answered`. */
  step: string
  /**
   * Milliseconds since the epoch with sub-millisecond precision (`performance.timeOrigin +
   * performance.now()`), comparable across pages and with the server's marks on the same machine.
   */
  at: number
}

/** Receives the marks of `logs.timingHandler`. */
export type TimingHandler = (mark: TimingMark) => void

/** The epoch time in milliseconds, as precisely as the platform gives it. */
export function preciseNow(): number {
  return typeof performance !== 'undefined' && typeof performance.timeOrigin === 'number'
    ? performance.timeOrigin + performance.now()
    : Date.now()
}

/** Calls `handler` with a mark, if there is a handler; a throwing handler never disturbs the SDK. */
export function timingMark(
  handler: TimingHandler | undefined,
  callId: string,
  legId: string | undefined,
  step: string,
): void {
  if (!handler) return
  try {
    handler(legId ? { callId, legId, step, at: preciseNow() } : { callId, step, at: preciseNow() })
  } catch {
    // A debugging aid must not break calls.
  }
}
