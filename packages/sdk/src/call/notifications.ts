/**
 * Dispatch of the call notifications (protocol.md §9) to their call, and the ones about the call's
 * progress: events (ringing, end), acceptance, the answer to our re-offer, and remote offers.
 */
import { EVENT_REASONS } from '@parley/protocol/notifications'
import { SdkError, basicError } from '../core/errors.js'
import { receivingIds } from './call-media.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { emitReceive, onInvitation } from './incoming.js'
import { pipeSdp, step } from './negotiation.js'
import { abortOperation, errorOf, finishOp, opEvent, setState } from './operations.js'
import { remoteOffer } from './remote-offer.js'
import { terminate } from './teardown.js'
import { mark } from './timing.js'
import { tracksAdded } from './track-events.js'
import { legOf, sendDelete, transitionOf, type Transition } from './wire.js'

/** Routes one notification (protocol.md §9) to its call by the leg id in `link[0].href`. */
export function handleNotification(ctx: CallContext, kind: string, body: Record<string, unknown>): void {
  if (ctx.isDestroyed()) return
  if (kind === 'wrtcsSessionInvitationNotification') return onInvitation(ctx, body)
  const legId = legOf(body)
  const call = legId ? ctx.byLeg.get(legId) : undefined
  if (!call) {
    if (legId && ctx.early.hold(legId, kind, body)) {
      return ctx.deps.log.debug(`${kind} for leg ${legId} held until its create-session reply`)
    }
    return ctx.deps.log.debug(`${kind} for unknown leg ${String(legId)} ignored`)
  }
  mark(ctx, call, `notification:${kind === 'wrtcsEventNotification' ? String(body.eventType) : kind}`)
  switch (kind) {
    case 'wrtcsEventNotification':
      return onEvent(ctx, call, body)
    case 'wrtcsAcceptanceNotification':
      return onAcceptance(ctx, call, body)
    case 'wrtcsAnswerNotification':
      return onAnswer(ctx, call, body)
    case 'wrtcsOfferNotification':
      return onOffer(ctx, call, body)
    default:
      ctx.deps.log.debug(`notification ${kind} not understood; ignored`)
  }
}

function onEvent(ctx: CallContext, call: Call, body: Record<string, unknown>): void {
  const transition = transitionOf(body)
  switch (body.eventType) {
    case 'Ringing':
      if (call.direction === 'outgoing' && typeof earlySdp(body) === 'string')
        return onEarlyMedia(ctx, call, earlySdp(body)!)
      // Only a caller still Initiated moves (protocol.md §9.5); a late event changes nothing.
      if (call.direction === 'outgoing' && call.state === 'Initiated') {
        setState(ctx, call, 'Ringing', {
          transition: transition ?? { statusCode: 180, reasonText: 'Ringing' },
        })
      }
      return
    case 'SessionEnded':
      if (!call.terminal) remoteEnd(ctx, call, 'Ended', transition)
      return
    case 'Cancelled': {
      if (call.terminal) return
      // Cancelled is for unanswered callees; on anything else Parley ends the call instead (Q16).
      const unanswered =
        call.direction === 'incoming' && ['Initiating', 'Initiated', 'Ringing'].includes(call.state)
      remoteEnd(ctx, call, unanswered ? 'Cancelled' : 'Ended', transition)
      return
    }
    default:
      return
  }
}

function remoteEnd(
  ctx: CallContext,
  call: Call,
  to: 'Ended' | 'Cancelled',
  transition: Transition | undefined,
): void {
  emitReceive(ctx, call)
  const op = call.operation
  if (op?.status === 'PENDING' && (op.name === 'DIRECT_TRANSFER' || op.name === 'CONSULTATIVE_TRANSFER')) {
    // protocol.md §8.7, §11.16 step 7: the server's SessionEnded is how a transfer completes.
    const failed = transition?.reasonText === EVENT_REASONS.transferFailed.reasonText
    const error = failed ? basicError('call:2', 'The transfer failed') : undefined
    finishOp(ctx, call, error)
    opEvent(ctx, call, 'END', 'FINISH', { isLocal: false })
    terminate(ctx, call, to, { ...(transition ? { transition } : {}), ...(error ? { error } : {}) }, op.name)
    return
  }
  abortOperation(ctx, call, 'The call was ended by the remote party')
  opEvent(ctx, call, 'END', 'FINISH', { isLocal: false })
  terminate(ctx, call, to, transition ? { transition } : {})
}

/** Reports the tracks the call now receives and did not report before (sdk-api §5.5.1 C11: once each). */
function addReceivedTracks(ctx: CallContext, call: Call): void {
  const added = receivingIds(ctx, call).filter((id) => !call.remoteTracks.includes(id))
  call.remoteTracks.push(...added)
  tracksAdded(ctx, call, added)
}

/** Parley's `earlyMedia.sdp` on a Ringing event (docs/protocol.md §9.5), if any. */
function earlySdp(body: Record<string, unknown>): string | undefined {
  const sdp = (body.earlyMedia as { sdp?: unknown } | undefined)?.sdp
  return typeof sdp === 'string' && sdp ? sdp : undefined
}

/**
 * A call to a phone number whose far end sends early media (ringback, announcements; a SIP 183 with SDP): the
 * Ringing event carries the provisional answer. Applied as a `pranswer`, the remote media plays and the call is
 * `Early Media` (sdk-api §5.5.1 C5, C8, transition 183); the acceptance's final answer then connects it (C11).
 */
function onEarlyMedia(ctx: CallContext, call: Call, sdp: string): void {
  if (call.terminal) return
  call.queue
    .run(async () => {
      if (call.terminal || (call.state !== 'Initiated' && call.state !== 'Ringing')) return
      const session = call.session
      if (!session) throw new SdkError('call:3', 'The call has no media session')
      const remote = pipeSdp(ctx, call, sdp, { type: 'answer', step: 'set', endpoint: 'remote' })
      await step('call:11', () => session.setRemoteDescription('pranswer', remote))
      if (call.terminal) return
      addReceivedTracks(ctx, call)
      setState(ctx, call, 'Early Media', { transition: { statusCode: 183, reasonText: 'Session Progress' } })
    })
    .catch((err: unknown) => {
      // The call still rings without its early media; the answer connects it as usual.
      if (call.terminal) return
      ctx.deps.log.warn('early media could not be applied; the call rings without it', err)
      if (call.state === 'Initiated')
        setState(ctx, call, 'Ringing', { transition: { statusCode: 180, reasonText: 'Ringing' } })
    })
}

function onAcceptance(ctx: CallContext, call: Call, body: Record<string, unknown>): void {
  if (call.direction !== 'outgoing' || call.terminal) return
  const sdp = (body.answer as { sdp?: unknown } | undefined)?.sdp
  call.queue
    .run(async () => {
      if (call.terminal) return
      if (!['Initiated', 'Ringing', 'Early Media'].includes(call.state)) {
        return ctx.deps.log.debug(`acceptance in state ${call.state} ignored`)
      }
      if (typeof sdp !== 'string' || !sdp)
        throw new SdkError('call:11', 'The acceptance carries no SDP answer')
      const session = call.session
      if (!session) throw new SdkError('call:3', 'The call has no media session')
      const remote = pipeSdp(ctx, call, sdp, { type: 'answer', step: 'set', endpoint: 'remote' })
      mark(ctx, call, 'answer:remote-setting')
      await step('call:11', () => session.setRemoteDescription('answer', remote))
      mark(ctx, call, 'answer:remote-set')
      if (call.terminal) return
      call.remoteSdp = remote
      finishOp(ctx, call)
      addReceivedTracks(ctx, call)
      setState(ctx, call, 'Connected', { transition: { statusCode: 200, reasonText: 'OK' } })
    })
    .catch((err: unknown) => {
      if (call.terminal) return
      const error = errorOf(ctx, err, 'call:11')
      finishOp(ctx, call, error)
      sendDelete(ctx, call)
      terminate(ctx, call, 'Ended', { error }, 'MAKE')
    })
}

function onAnswer(ctx: CallContext, call: Call, body: Record<string, unknown>): void {
  const sdp = (body.answer as { sdp?: unknown } | undefined)?.sdp
  if (!call.answerWaiter) return ctx.deps.log.warn('answer notification without a pending offer ignored')
  if (typeof sdp !== 'string' || !sdp) {
    call.answerWaiter.reject(new SdkError('call:11', 'The answer notification carries no SDP'))
    return
  }
  call.answerWaiter.resolve(sdp)
}

/**
 * A re-offer from the other side (protocol.md §9.4, §10.3). It waits in the call's queue, so an
 * offer that arrives before the acceptance has been applied is kept and handled after it (§14.6).
 */
function onOffer(ctx: CallContext, call: Call, body: Record<string, unknown>): void {
  if (call.terminal) return
  call.offerArrived()
  call.queue
    .run(() => remoteOffer(ctx, call, body))
    .catch((err: unknown) => {
      if (call.terminal) return
      const error = errorOf(ctx, err, 'call:11')
      ctx.deps.log.error('remote re-offer failed; ending the call', err)
      sendDelete(ctx, call)
      terminate(ctx, call, 'Ended', { error })
    })
}

/** Delivers the notifications that arrived for `call`'s leg before the reply that named it. */
export function replayEarly(ctx: CallContext, call: Call): void {
  if (!call.legId) return
  for (const { kind, body } of ctx.early.take(call.legId)) handleNotification(ctx, kind, body)
}
