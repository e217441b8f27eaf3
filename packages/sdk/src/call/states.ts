/**
 * Call states (sdk-api §5.2, §5.5). The allowed moves are a table; `CallStateMachine.transition`
 * is the only place a call's state is assigned, and it throws on a move the table does not allow.
 *
 *             ┌──────────────────────────────────────────────┐
 *   Initiating ──▶ Initiated ──▶ Ringing ──▶ Early Media ──▶ Connected ◀──▶ On Hold
 *        │             │  │         │  │          │              │              │
 *        │             │  └─────────┼──┼──────────┼──────────────┘              │
 *        ▼             ▼            ▼  ▼          ▼              ▼              ▼
 *   Ended / Cancelled (terminal; Cancelled only for an unanswered incoming call)
 *
 * Incoming calls may go Initiating → Ringing directly (automatic ringing feedback, R2);
 * On Hold → On Hold records a change of the hold flags (double hold, M3–M6).
 */
/** The call state names (`client.call.states`, sdk-api §5.2.1). */
export const CallStates = {
  INITIATING: 'Initiating',
  INITIATED: 'Initiated',
  RINGING: 'Ringing',
  EARLY_MEDIA: 'Early Media',
  CANCELLED: 'Cancelled',
  CONNECTED: 'Connected',
  ON_HOLD: 'On Hold',
  ENDED: 'Ended',
} as const
/** A call state name, one of the {@link CallStates} values. */
export type CallState = (typeof CallStates)[keyof typeof CallStates]

/** Mirror of `RTCPeerConnection.iceConnectionState` (sdk-api §5.2.2). */
export const MediaConnectionStates = {
  NEW: 'new',
  CHECKING: 'checking',
  CONNECTED: 'connected',
  COMPLETED: 'completed',
  DISCONNECTED: 'disconnected',
  FAILED: 'failed',
  CLOSED: 'closed',
} as const

export const ALL_STATES: readonly CallState[] = Object.values(CallStates)

export const CALL_MOVES: Record<CallState, readonly CallState[]> = {
  Initiating: ['Initiated', 'Ringing', 'Ended', 'Cancelled'],
  Initiated: ['Ringing', 'Early Media', 'Connected', 'Ended', 'Cancelled'],
  Ringing: ['Early Media', 'Connected', 'Ended', 'Cancelled'],
  'Early Media': ['Connected', 'Ended'],
  Connected: ['On Hold', 'Ended'],
  'On Hold': ['On Hold', 'Connected', 'Ended'],
  Cancelled: [],
  Ended: [],
}

export const isTerminal = (s: CallState) => s === 'Ended' || s === 'Cancelled'

export class IllegalTransitionError extends Error {
  constructor(from: CallState, to: CallState, reason: string) {
    super(`Illegal call transition ${from} → ${to} (${reason})`)
    this.name = 'IllegalTransitionError'
  }
}

export class CallStateMachine {
  #state: CallState = 'Initiating'

  get state(): CallState {
    return this.#state
  }

  can(to: CallState): boolean {
    return CALL_MOVES[this.#state].includes(to)
  }

  /** The one guarded assignment of the state. */
  transition(to: CallState, reason: string): void {
    if (!this.can(to)) throw new IllegalTransitionError(this.#state, to, reason)
    this.#state = to
  }
}
