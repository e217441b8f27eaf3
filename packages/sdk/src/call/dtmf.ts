/**
 * DTMF (sdk-api §5.3.15): RFC 4733 telephone-events through the call's audio sender.
 */
import { basicError } from '../core/errors.js'
import type { CallContext } from './context.js'
import { find, opEvent } from './operations.js'
import { refusalOf } from './rules.js'

/** `call.sendDTMF` (sdk-api §5.3.15): RFC 4733 telephone-event through the audio sender. */
export function sendDTMF(
  ctx: CallContext,
  callId: unknown,
  tone: unknown,
  duration: unknown = 100,
  intertoneGap: unknown = 70,
): void {
  const op = 'SEND_DTMF'
  const call = find(ctx, callId, op)
  if (!call) return
  const fail = (code: string, message: string) => {
    const error = basicError(code, message)
    opEvent(ctx, call, op, 'START', {})
    opEvent(ctx, call, op, 'FINISH', { error })
    ctx.deps.emit('call:error', { callId: call.id, operation: op, error })
  }
  if (typeof tone !== 'string' || !/^[0-9*#,]+$/.test(tone)) return fail('call:7', 'Invalid DTMF tone')
  const why = refusalOf(op, call)
  if (why || !call.session) return fail('call:6', why ?? `Cannot send DTMF in state ${call.state}`)
  const d = typeof duration === 'number' && duration > 0 ? duration : 100
  const g = typeof intertoneGap === 'number' && intertoneGap > 0 ? intertoneGap : 70
  let sent = false
  try {
    sent = call.session.insertDTMF(tone, d, g)
  } catch (err) {
    ctx.deps.log.warn('insertDTMF failed', err)
  }
  if (!sent) return fail('call:5', 'DTMF is not available on this call (no telephone-event negotiated)')
  opEvent(ctx, call, op, 'START', {})
  opEvent(ctx, call, op, 'FINISH', { previous: { operation: op, status: 'ONGOING' } })
}
