import type { CallState } from '../store/types.js'

/**
 * The server's call state machine (protocol §11.1):
 *
 * ```
 *   initiated ──Ringing status──▶ ringing
 *       │  ╲                        │
 *       │   ╲──initial answer──▶ connected ◀──initial answer──┘
 *       │                           │
 *       └────────── end ───────▶  ended ◀──────── end ─────────┘
 *   ringing ──forward──▶ initiated   (the new target rings afresh, §11.15)
 * ```
 *
 * Hold is not a state: a held call is `connected` (§8.2). `transition` is the only place that assigns a
 * call's state.
 */
export const CALL_TRANSITIONS: Readonly<Record<CallState, readonly CallState[]>> = {
  initiated: ['ringing', 'connected', 'ended'],
  ringing: ['initiated', 'connected', 'ended'],
  connected: ['ended'],
  ended: [],
}

/** A move the table does not allow: a bug in the caller of `transition`. */
export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError'
}

/** True when `from → to` is in the table. */
export function canTransition(from: CallState, to: CallState): boolean {
  return CALL_TRANSITIONS[from].includes(to)
}

/** Moves `call` to `to`, or throws when the table forbids it. */
export function transition(call: { state: CallState }, to: CallState): void {
  if (!canTransition(call.state, to)) {
    throw new IllegalTransitionError(`illegal call transition ${call.state} → ${to}`)
  }
  call.state = to
}

/** The status a status request echoes for a live call (protocol §8.2: never `Closed` or `Retry`). */
export function statusOf(state: CallState): 'Initiated' | 'Ringing' | 'Connected' {
  switch (state) {
    case 'initiated':
      return 'Initiated'
    case 'ringing':
      return 'Ringing'
    default:
      return 'Connected'
  }
}
