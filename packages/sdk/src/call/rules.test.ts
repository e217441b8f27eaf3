/** `refusalOf` walks the sdk-api §5.6.1 matrix: every operation × state × direction × localHold. */
import { describe, expect, it } from 'vitest'
import { OPERATION_RULES, refusalOf, type OperationName } from './rules.js'
import { ALL_STATES, type CallState } from './states.js'

// The matrix of sdk-api §5.6.1 as printed: ✓ per state, in the order
// Initiating, Initiated, Ringing, Early Media, Connected, On Hold, Cancelled, Ended.
const ORDER: CallState[] = [
  'Initiating',
  'Initiated',
  'Ringing',
  'Early Media',
  'Connected',
  'On Hold',
  'Cancelled',
  'Ended',
]
const MATRIX: Record<OperationName, string> = {
  ANSWER: '.✓✓.....',
  REJECT: '.✓✓.....',
  IGNORE: '.✓✓.....',
  SEND_RINGING_FEEDBACK: '.✓......',
  END: '✓✓✓✓✓✓..',
  HOLD: '....✓✓..',
  UNHOLD: '.....✓..',
  ADD_MEDIA: '....✓...',
  REMOVE_MEDIA: '....✓...',
  REPLACE_TRACK: '.✓✓✓✓✓..',
  SEND_DTMF: '..✓✓✓...',
  GET_STATS: '.✓✓✓✓✓..',
  MEDIA_RESTART: '....✓✓..',
  // sdk-api §5.3.23: forward like answer; transfers need the call held locally.
  FORWARD_CALL: '.✓✓.....',
  DIRECT_TRANSFER: '.....✓..',
  CONSULTATIVE_TRANSFER: '.....✓..',
}
const INCOMING_ONLY = new Set<OperationName>([
  'ANSWER',
  'REJECT',
  'IGNORE',
  'SEND_RINGING_FEEDBACK',
  'FORWARD_CALL',
])

function expected(
  op: OperationName,
  state: CallState,
  direction: 'outgoing' | 'incoming',
  localHold: boolean,
) {
  if ([...MATRIX[op]][ORDER.indexOf(state)] !== '✓') return false
  if (INCOMING_ONLY.has(op) && direction !== 'incoming') return false
  if (op === 'HOLD' && localHold) return false
  if ((op === 'UNHOLD' || op === 'DIRECT_TRANSFER' || op === 'CONSULTATIVE_TRANSFER') && !localHold)
    return false
  // §5.6.1: DTMF in Ringing / Early Media only on an outgoing call.
  if (op === 'SEND_DTMF' && state !== 'Connected' && direction === 'incoming') return false
  return true
}

describe('refusalOf (sdk-api §5.6.1)', () => {
  it('covers every operation and every state of the matrix', () => {
    expect(Object.keys(OPERATION_RULES).sort()).toEqual(Object.keys(MATRIX).sort())
    expect([...ORDER].sort()).toEqual([...ALL_STATES].sort())
  })

  for (const op of Object.keys(MATRIX) as OperationName[]) {
    it(`${op}: allowed exactly where the matrix says`, () => {
      for (const state of ORDER)
        for (const direction of ['outgoing', 'incoming'] as const)
          for (const localHold of [false, true]) {
            const why = refusalOf(op, { state, direction, localHold })
            expect({ op, state, direction, localHold, allowed: why === undefined }).toEqual({
              op,
              state,
              direction,
              localHold,
              allowed: expected(op, state, direction, localHold),
            })
            if (why !== undefined) expect(why).toMatch(/\w/)
          }
    })
  }
})
