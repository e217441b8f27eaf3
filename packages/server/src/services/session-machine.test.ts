import { describe, expect, it } from 'vitest'
import type { CallState } from '../store/types.js'
import { CALL_TRANSITIONS, IllegalTransitionError, statusOf, transition } from './session-machine.js'

const STATES: CallState[] = ['initiated', 'ringing', 'connected', 'ended']

describe('call state machine (protocol §11.1)', () => {
  for (const from of STATES) {
    for (const to of STATES) {
      const allowed = CALL_TRANSITIONS[from].includes(to)
      it(`transition(${from} → ${to}) ${allowed ? 'moves the call' : 'throws IllegalTransitionError'}`, () => {
        const call = { state: from }
        if (allowed) {
          transition(call, to)
          expect(call.state).toBe(to)
        } else {
          expect(() => transition(call, to)).toThrow(IllegalTransitionError)
          expect(call.state).toBe(from)
        }
      })
    }
  }

  it('ended is terminal and connected can only end', () => {
    expect(CALL_TRANSITIONS.ended).toEqual([])
    expect(CALL_TRANSITIONS.connected).toEqual(['ended'])
  })

  it('statusOf echoes Initiated, Ringing or Connected, never Closed or Retry (§8.2)', () => {
    expect(STATES.map(statusOf)).toEqual(['Initiated', 'Ringing', 'Connected', 'Connected'])
  })
})
