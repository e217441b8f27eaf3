import { describe, expect, it } from 'vitest'
import { ALL_STATES, CALL_MOVES, CallStateMachine, IllegalTransitionError, type CallState } from './states.js'

/** Builds a machine sitting in `state` by walking allowed moves from Initiating. */
function machineIn(state: CallState): CallStateMachine {
  const m = new CallStateMachine()
  const paths: Record<CallState, CallState[]> = {
    Initiating: [],
    Initiated: ['Initiated'],
    Ringing: ['Initiated', 'Ringing'],
    'Early Media': ['Initiated', 'Early Media'],
    Connected: ['Initiated', 'Connected'],
    'On Hold': ['Initiated', 'Connected', 'On Hold'],
    Cancelled: ['Cancelled'],
    Ended: ['Ended'],
  }
  for (const s of paths[state]) m.transition(s, 'setup')
  return m
}

describe('call state machine (sdk-api §5.5)', () => {
  for (const from of ALL_STATES) {
    for (const to of ALL_STATES) {
      const allowed = CALL_MOVES[from].includes(to)
      it(`${from} → ${to} ${allowed ? 'is allowed' : 'throws'}`, () => {
        const m = machineIn(from)
        expect(m.state).toBe(from)
        if (allowed) {
          m.transition(to, 'test')
          expect(m.state).toBe(to)
        } else {
          expect(() => m.transition(to, 'test')).toThrow(IllegalTransitionError)
          expect(m.state).toBe(from)
        }
      })
    }
  }

  it('terminal states allow no move', () => {
    expect(CALL_MOVES.Ended).toEqual([])
    expect(CALL_MOVES.Cancelled).toEqual([])
  })
})
