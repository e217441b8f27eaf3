/**
 * Which operation is allowed in which call state (sdk-api §5.6.1), as one table. An operation
 * refused here fails with `call:6` and changes nothing (sdk-api §5.6.2); the callers pick the
 * events of the refusal. The "one local renegotiation at a time" rule is checked by the caller,
 * which knows whether an operation is running.
 */
import type { CallState } from './states.js'

/** Operation names of `call:operation` (sdk-api §5.4.4, §5.3.23). */
export type OperationName =
  | 'ANSWER'
  | 'REJECT'
  | 'IGNORE'
  | 'SEND_RINGING_FEEDBACK'
  | 'END'
  | 'HOLD'
  | 'UNHOLD'
  | 'ADD_MEDIA'
  | 'REMOVE_MEDIA'
  | 'REPLACE_TRACK'
  | 'SEND_DTMF'
  | 'GET_STATS'
  | 'MEDIA_RESTART'
  | 'FORWARD_CALL'
  | 'DIRECT_TRANSFER'
  | 'CONSULTATIVE_TRANSFER'

/** What a rule looks at. */
export interface CallFacts {
  state: CallState
  direction: 'outgoing' | 'incoming'
  localHold: boolean
}

interface Rule {
  states: readonly CallState[]
  /** Only on calls of this direction ("in" in the matrix). */
  incomingOnly?: boolean
  /** An extra condition, with the reason when it does not hold. */
  extra?: (c: CallFacts) => string | undefined
}

const UNANSWERED: readonly CallState[] = ['Initiated', 'Ringing']
const IN_PROGRESS: readonly CallState[] = ['Initiated', 'Ringing', 'Early Media', 'Connected', 'On Hold']

/** sdk-api §5.6.1, row by row; §5.3.23 for forward and the transfers (protocol.md §8.6, §8.7). */
export const OPERATION_RULES: Record<OperationName, Rule> = {
  ANSWER: { states: UNANSWERED, incomingOnly: true },
  REJECT: { states: UNANSWERED, incomingOnly: true },
  IGNORE: { states: UNANSWERED, incomingOnly: true },
  SEND_RINGING_FEEDBACK: { states: ['Initiated'], incomingOnly: true },
  END: { states: ['Initiating', ...IN_PROGRESS] },
  HOLD: {
    states: ['Connected', 'On Hold'],
    extra: (c) => (c.localHold ? 'The call is already held locally' : undefined),
  },
  UNHOLD: {
    states: ['On Hold'],
    extra: (c) => (c.localHold ? undefined : 'The call is not held locally'),
  },
  ADD_MEDIA: { states: ['Connected'] },
  REMOVE_MEDIA: { states: ['Connected'] },
  REPLACE_TRACK: { states: IN_PROGRESS },
  SEND_DTMF: {
    states: ['Ringing', 'Early Media', 'Connected'],
    // The callee has no media path before it answers (sdk-api §5.6.1, additional rules).
    extra: (c) =>
      c.state !== 'Connected' && c.direction === 'incoming'
        ? 'An incoming call can send DTMF only once answered'
        : undefined,
  },
  GET_STATS: { states: IN_PROGRESS },
  MEDIA_RESTART: { states: ['Connected', 'On Hold'] },
  FORWARD_CALL: { states: UNANSWERED, incomingOnly: true },
  DIRECT_TRANSFER: {
    states: ['On Hold'],
    extra: (c) => (c.localHold ? undefined : 'The call must be held locally before a transfer'),
  },
  CONSULTATIVE_TRANSFER: {
    states: ['On Hold'],
    extra: (c) => (c.localHold ? undefined : 'Both calls must be held locally before a transfer'),
  },
}

/** Why `op` is not allowed on a call in this state, or undefined when it is. */
export function refusalOf(op: OperationName, c: CallFacts): string | undefined {
  const rule = OPERATION_RULES[op]
  if (rule.incomingOnly && c.direction !== 'incoming') return `${op} is only possible on an incoming call`
  if (!rule.states.includes(c.state)) return `${op} is not allowed in state ${c.state}`
  return rule.extra?.(c)
}
