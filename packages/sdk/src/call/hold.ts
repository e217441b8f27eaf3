/**
 * Hold and unhold (sdk-api §5.3.6–5.3.7, protocol.md §10.3): the local operation, and the hold flags
 * from which the `On Hold` state is derived (architecture §4).
 */
import { receivingIds } from './call-media.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { localOpFailed, renegotiate, reoffer } from './negotiation.js'
import { failInPlace, find, finishOp, refuse, startOp, whyNot } from './operations.js'
import { tracksAdded, tracksRemoved } from './track-events.js'

/** `call.hold` / `call.unhold` (sdk-api §5.3.6–5.3.7): a local re-offer with the hold directions. */
export function holdOrUnhold(ctx: CallContext, callId: unknown, op: 'HOLD' | 'UNHOLD', hold: boolean): void {
  const call = find(ctx, callId, op)
  if (!call) return
  const why = whyNot(call, op)
  if (why) return refuse(ctx, call, op, 'call:6', why)
  startOp(ctx, call, op)
  renegotiate(
    ctx,
    call,
    op,
    async () => {
      await reoffer(ctx, call, { hold })
      if (call.terminal) return
      finishOp(ctx, call)
      applyHold(ctx, call, hold, call.remoteHold)
    },
    (err) => localOpFailed(ctx, call, err, (error) => failInPlace(ctx, call, op, error)),
  )
}

/**
 * Moves the hold flags and derives the state from them (architecture §4: hold is two flags, the
 * `On Hold` state is derived). Emits track events and the state change (sdk-api §5.5.3).
 */
export function applyHold(ctx: CallContext, call: Call, localHold: boolean, remoteHold: boolean): void {
  const previous = call.previous()
  const wasHeld = call.localHold || call.remoteHold
  const nowHeld = localHold || remoteHold
  if (previous.localHold === localHold && previous.remoteHold === remoteHold) return
  call.localHold = localHold
  call.remoteHold = remoteHold
  if (!wasHeld && nowHeld) {
    const removed = [...call.localTracks, ...call.remoteTracks]
    call.localTracks = []
    call.remoteTracks = []
    tracksRemoved(ctx, call, removed)
    call.transition('On Hold', 'hold')
  } else if (wasHeld && !nowHeld) {
    call.localTracks = [...call.ownedLocalTracks]
    call.remoteTracks = receivingIds(ctx, call)
    tracksAdded(ctx, call, [...call.localTracks, ...call.remoteTracks])
    call.transition('Connected', 'unhold')
  } else {
    call.transition('On Hold', 'hold flags changed')
  }
  ctx.deps.emit('call:stateChange', { callId: call.id, previous })
}
