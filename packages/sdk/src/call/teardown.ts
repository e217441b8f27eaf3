/**
 * How a call ends (sdk-api §5.3.8, §5.8.4–5.8.6): `call.end`, the one terminate path with its events,
 * and releasing the call's media and timers.
 */
import { SdkError, type BasicError } from '../core/errors.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { abortOperation, find, opEvent, refuse } from './operations.js'
import { stopQuality } from './quality.js'
import { tracksRemoved } from './track-events.js'
import { sendDelete, type Transition } from './wire.js'

/** `call.end` (sdk-api §5.3.8): from any non-terminal state; never waits for anything. */
export function end(ctx: CallContext, callId: unknown): void {
  const call = find(ctx, callId, 'END')
  if (!call) return
  if (call.terminal) return refuse(ctx, call, 'END', 'call:6', `The call is already ${call.state}`)
  opEvent(ctx, call, 'END', 'START', {})
  abortOperation(ctx, call, 'The call was ended')
  sendDelete(ctx, call)
  opEvent(ctx, call, 'END', 'FINISH', { previous: { operation: 'END', status: 'ONGOING' } })
  terminate(ctx, call, 'Ended', {})
}

/**
 * The one way a call ends (sdk-api §5.8.4–5.8.6): media released, remaining tracks reported
 * removed, the terminal state change, then `call:error` when it ended because of an error.
 * Rendered elements are removed after the listeners of these events have run.
 */
export function terminate(
  ctx: CallContext,
  call: Call,
  to: 'Ended' | 'Cancelled',
  info: { transition?: Transition; error?: BasicError },
  operation?: string,
): void {
  if (call.terminal) return
  const previous = call.previous()
  const removed = [...call.localTracks, ...call.remoteTracks]
  call.localTracks = []
  call.remoteTracks = []
  releaseMedia(ctx, call, true)
  call.transition(to, info.transition?.reasonText ?? 'end')
  tracksRemoved(ctx, call, removed)
  const payload: Record<string, unknown> = { callId: call.id, previous }
  if (info.transition) payload.transition = info.transition
  if (info.error) payload.error = info.error
  ctx.deps.emit('call:stateChange', payload)
  if (info.error) {
    const errPayload: Record<string, unknown> = { callId: call.id, error: info.error }
    if (operation) errPayload.operation = operation
    ctx.deps.emit('call:error', errPayload)
  }
  const ids = ctx.deps.tracks
    .all()
    .filter((e) => e.callId === call.id)
    .map((e) => e.track.id)
  ctx.deps.defer(() => ids.forEach((id) => ctx.deps.renderer.removeTrack(id)))
}

/** Stops the call's local tracks, closes its peer connection, stops its timers. Idempotent. */
export function releaseMedia(ctx: CallContext, call: Call, report: boolean): void {
  stopAudit(call)
  stopQuality(call)
  call.queue.close()
  if (call.answerWaiter) call.answerWaiter.reject(new SdkError('call:6', 'The call ended'))
  for (const entry of ctx.deps.tracks.all()) {
    if (entry.callId !== call.id) continue
    if (entry.isLocal) ctx.deps.tracks.stop(entry.track.id)
    else entry.release()
  }
  for (const stream of call.localStreams) stream.getTracks().forEach((t) => t.stop())
  const session = call.session
  call.session = undefined
  if (session) {
    session.close()
    const prev = call.mediaConnectionState
    call.mediaConnectionState = 'closed'
    if (report && prev !== 'closed') {
      ctx.deps.emit('call:mediaConnectionChange', { callId: call.id, previous: { state: prev } })
    }
  }
  for (const fn of call.cleanups.splice(0)) fn()
}

/** Stops the timer of the call audit (audit.ts). */
export function stopAudit(call: Call): void {
  clearTimeout(call.auditTimer)
  call.auditTimer = undefined
}
