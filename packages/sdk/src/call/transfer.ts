/**
 * Forward and transfers (sdk-api §5.3.23, protocol.md §8.6, §8.7): redirecting an unanswered
 * incoming call, and blind or consultative transfer of held calls.
 */
import { basicError } from '../core/errors.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { errorOf, failOp, find, finishOp, startOp, updateOp, whyNot } from './operations.js'
import type { OperationName } from './rules.js'
import { terminate } from './teardown.js'
import { addressOf, correlator, legPath } from './wire.js'

/** `call.forward` (sdk-api §5.3.23, protocol.md §8.6, §11.15): redirect an unanswered incoming call. */
export function forward(ctx: CallContext, callId: unknown, destination: unknown): void {
  const op = 'FORWARD_CALL'
  const call = find(ctx, callId, op)
  if (!call) return
  const why = whyNot(call, op)
  if (why) return failOp(ctx, call, op, basicError('call:6', why), false)
  const address = addressOf(ctx, destination)
  if (!address) return failOp(ctx, call, op, basicError('call:7', 'Invalid destination'), false)
  startOp(ctx, call, op)
  call.queue
    .run(async () => {
      await ctx.deps.rest.request('PUT', `${legPath(ctx, call)}/forward`, {
        wrtcsForward: { clientCorrelator: correlator(ctx), address },
      })
      if (call.terminal) return
      finishOp(ctx, call)
      // protocol.md §8.6: on a 2xx this side's call ends; the server sends it nothing more.
      call.deleteSent = true
      terminate(ctx, call, 'Ended', {})
    })
    .catch((err: unknown) => {
      // §8.6: after an error the call keeps ringing.
      if (!call.terminal) failOp(ctx, call, op, errorOf(ctx, err, 'call:2'), true)
    })
}

/** `call.directTransfer` (sdk-api §5.3.23, protocol.md §8.7, §11.16): blind transfer of a held call. */
export function directTransfer(ctx: CallContext, callId: unknown, destination: unknown): void {
  const op = 'DIRECT_TRANSFER'
  const call = find(ctx, callId, op)
  if (!call) return
  const why = whyNot(call, op)
  if (why) return failOp(ctx, call, op, basicError('call:6', why), false)
  const address = addressOf(ctx, destination)
  if (!address) return failOp(ctx, call, op, basicError('call:7', 'Invalid destination'), false)
  transfer(ctx, op, [call], { address })
}

/** `call.consultativeTransfer` (sdk-api §5.3.23, protocol.md §8.7, §11.17): joins the parties of two held calls. */
export function consultativeTransfer(ctx: CallContext, callId: unknown, otherCallId: unknown): void {
  const op = 'CONSULTATIVE_TRANSFER'
  const call = find(ctx, callId, op)
  if (!call) return
  const other = typeof otherCallId === 'string' ? ctx.calls.get(otherCallId) : undefined
  if (!other || other === call || !other.legId) {
    return failOp(ctx, call, op, basicError('call:7', `No other call with id ${String(otherCallId)}`), false)
  }
  const why = whyNot(call, op) ?? whyNot(other, op)
  if (why) return failOp(ctx, call, op, basicError('call:6', why), false)
  // §8.7: `address` is the second call's remote party, `sessionId` its leg (same user).
  const party = other.direction === 'outgoing' ? other.to : other.from
  transfer(ctx, op, [call, other], { address: `sip:${party}`, sessionId: other.legId })
}

/**
 * `PUT …/transfer` on the first call's leg. Kandy clients have no notification that completes a
 * transfer (§8.7): each call stays PENDING until the server's `SessionEnded` ends it (§11.16 step 7).
 */
function transfer(
  ctx: CallContext,
  op: OperationName,
  calls: Call[],
  body: { address: string; sessionId?: string },
): void {
  const first = calls[0]!
  for (const c of calls) startOp(ctx, c, op)
  first.queue
    .run(async () => {
      await ctx.deps.rest.request('PUT', `${legPath(ctx, first)}/transfer`, {
        wrtcsTransfer: { clientCorrelator: correlator(ctx), ...body },
      })
      for (const c of calls) if (!c.terminal) updateOp(ctx, c)
    })
    .catch((err: unknown) => {
      // §8.7: after an error the calls stay on hold.
      const error = errorOf(ctx, err, 'call:2')
      for (const c of calls) if (!c.terminal && c.operation?.name === op) finishOp(ctx, c, error)
      if (!first.terminal) ctx.deps.emit('call:error', { callId: first.id, operation: op, error })
    })
}
