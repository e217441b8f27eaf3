/**
 * Bookkeeping and reporting of call operations (sdk-api §5.4.4, §5.6): the `call:operation` events
 * of a local operation's life (START, UPDATE, FINISH), state changes, and the events that report an
 * unknown call, a refused operation or a failed one.
 */
import { SdkError, basicError, toBasicError, type BasicError } from '../core/errors.js'
import type { Call, PreviousState } from './call.js'
import type { CallContext } from './context.js'
import { refusalOf, type OperationName } from './rules.js'
import type { CallState } from './states.js'
import { mark } from './timing.js'
import type { Transition } from './wire.js'

/** Emits one `call:operation` event (sdk-api §5.4.4); local unless `extra.isLocal` is false. */
export function opEvent(
  ctx: CallContext,
  call: Call | undefined,
  operation: string,
  transition: 'START' | 'UPDATE' | 'FINISH',
  extra: { error?: BasicError; isLocal?: boolean; previous?: { operation: string; status: string } },
  callId?: string,
): void {
  const payload: Record<string, unknown> = {
    callId: call?.id ?? callId,
    operation,
    transition,
    isLocal: extra.isLocal ?? true,
  }
  if (extra.previous) payload.previous = extra.previous
  if (extra.error) payload.error = extra.error
  ctx.deps.emit('call:operation', payload)
}

/** Starts a local operation: it becomes the call's running operation, and START is emitted. */
export function startOp(ctx: CallContext, call: Call, name: string): void {
  call.operation = { name, status: 'ONGOING' }
  opEvent(ctx, call, name, 'START', {})
}

/** The running operation now waits for the other side: UPDATE, then status PENDING. */
export function updateOp(ctx: CallContext, call: Call): void {
  const op = call.operation
  if (!op) return
  opEvent(ctx, call, op.name, 'UPDATE', { previous: { operation: op.name, status: op.status } })
  op.status = 'PENDING'
}

/** Ends the running operation with its FINISH event, carrying `error` when it failed. */
export function finishOp(ctx: CallContext, call: Call, error?: BasicError): void {
  const op = call.operation
  if (!op) return
  call.operation = undefined
  const extra: { error?: BasicError; previous: { operation: string; status: string } } = {
    previous: { operation: op.name, status: op.status },
  }
  if (error) extra.error = error
  opEvent(ctx, call, op.name, 'FINISH', extra)
}

/** Ends the running local operation because the call ends under it. */
export function abortOperation(ctx: CallContext, call: Call, message: string): void {
  const op = call.operation
  if (!op) return
  if (op.name === 'MAKE' && op.status === 'PENDING') {
    // call:start was already reported; the pending answer simply never comes.
    call.operation = undefined
    return
  }
  const error = basicError('call:6', message)
  finishOp(ctx, call, error)
  if (op.name === 'MAKE') ctx.deps.emit('call:start', { callId: call.id, error })
}

/** A state change through the call's state machine (architecture §4), with its `call:stateChange`. */
export function setState(
  ctx: CallContext,
  call: Call,
  to: CallState,
  extra: { transition?: Transition; error?: BasicError },
): void {
  const previous: PreviousState = call.previous()
  call.transition(to, extra.transition?.reasonText ?? 'operation')
  mark(ctx, call, `state:${to}`)
  const payload: Record<string, unknown> = { callId: call.id, previous }
  if (extra.transition) payload.transition = extra.transition
  if (extra.error) payload.error = extra.error
  ctx.deps.emit('call:stateChange', payload)
}

/** Looks up a call for an API function; reports an unknown id (sdk-api §5.6.3). */
export function find(ctx: CallContext, callId: unknown, operation: string): Call | undefined {
  // A missing or non-string id is just an id that matches no call (sdk-api §5.6.3): the seed's
  // "End Call" button passes null when no call is up, and must not get an exception.
  const call = typeof callId === 'string' ? ctx.calls.get(callId) : undefined
  if (call) return call
  const error = basicError('call:7', `No call with id ${String(callId)}`)
  opEvent(ctx, undefined, operation, 'START', {}, callId as string)
  opEvent(ctx, undefined, operation, 'FINISH', { error }, callId as string)
  ctx.deps.emit('call:error', { callId, operation, error })
  return undefined
}

/** A wrong-state operation (sdk-api §5.6.2): nothing changes, four events say why. */
export function refuse(ctx: CallContext, call: Call, operation: string, code: string, message: string): void {
  const error = basicError(code, message)
  opEvent(ctx, call, operation, 'START', {})
  opEvent(ctx, call, operation, 'FINISH', { error })
  ctx.deps.emit('call:stateChange', { callId: call.id, previous: call.previous(), error })
  ctx.deps.emit('call:error', { callId: call.id, operation, error })
}

/** Why `op` cannot run on `call` now (sdk-api §5.6.1, incl. one local renegotiation at a time), if so. */
export function whyNot(call: Call, op: OperationName, running = false): string | undefined {
  const refusal = refusalOf(op, call)
  if (refusal) return refusal
  if (!running && call.operation) return `Another operation (${call.operation.name}) is in progress`
  return undefined
}

/**
 * A refused (`started` false) or failed operation, reported the sdk-api §5.6.2 way: START unless
 * already emitted, FINISH with the error, the operation's own event, then `call:error`.
 */
export function failOp(
  ctx: CallContext,
  call: Call,
  op: string,
  error: BasicError,
  started: boolean,
  ownEvent?: () => void,
): void {
  if (started) finishOp(ctx, call, error)
  else {
    opEvent(ctx, call, op, 'START', {})
    opEvent(ctx, call, op, 'FINISH', { error })
  }
  ownEvent?.()
  ctx.deps.emit('call:error', { callId: call.id, operation: op, error })
}

/** A started operation failed and left the call as it was. */
export function failInPlace(ctx: CallContext, call: Call, operation: string, error: BasicError): void {
  finishOp(ctx, call, error)
  ctx.deps.emit('call:stateChange', { callId: call.id, previous: call.previous(), error })
  ctx.deps.emit('call:error', { callId: call.id, operation, error })
}

/** The BasicError of a failure; an exception that is not an SdkError is a bug, so it is logged. */
export function errorOf(ctx: CallContext, err: unknown, fallback: string): BasicError {
  if (!(err instanceof SdkError)) ctx.deps.log.error('unexpected failure', err)
  return toBasicError(err, fallback)
}

/** Warns about call options that are accepted but not supported yet. */
export function warnOptions(ctx: CallContext, options: unknown): void {
  const o = options as { bandwidth?: unknown; dscpControls?: unknown } | undefined
  if (o?.bandwidth) ctx.deps.log.warn('call options: bandwidth limits are not supported yet; ignored')
  if (o?.dscpControls) ctx.deps.log.warn('call options: dscpControls are not supported yet; ignored')
}
