/**
 * The incoming call (sdk-api §5.3.2–5.3.5, protocol.md §9.1, §11.5): the invitation and its set-up,
 * then the callee's answer, reject, ignore and ringing feedback.
 */
import { SdkError, type BasicError } from '../core/errors.js'
import { randomId } from '../core/ids.js'
import { startAudit } from './audit.js'
import { startQuality } from './quality.js'
import { TURN_WAIT_MS, acquire, createSession, prepareMedia, receivingIds } from './call-media.js'
import { Call } from './call.js'
import { register, type CallContext } from './context.js'
import { stripScheme } from './destination.js'
import { parseMediaRequest, type MediaRequest } from './media-request.js'
import { negotiateLocal, pipeSdp, step } from './negotiation.js'
import { errorOf, failInPlace, find, finishOp, refuse, setState, startOp, warnOptions } from './operations.js'
import { mediaOfferedFrom } from './sdp.js'
import { terminate } from './teardown.js'
import { mark } from './timing.js'
import { tracksAdded } from './track-events.js'
import { correlator, legOf, legPath, sendDelete, sendStatus, str } from './wire.js'

/** `wrtcsSessionInvitationNotification` (protocol.md §9.1): a new incoming call, set up in its queue. */
export function onInvitation(ctx: CallContext, body: Record<string, unknown>): void {
  const legId = legOf(body)
  if (!legId) return ctx.deps.log.warn('invitation without a session link ignored')
  if (ctx.byLeg.has(legId)) return ctx.deps.log.debug(`invitation for known leg ${legId} ignored`)
  const offer = body.offer as { sdp?: unknown } | undefined
  const sdp = typeof offer?.sdp === 'string' && offer.sdp ? offer.sdp : undefined
  const call = new Call(randomId(), 'incoming')
  call.legId = legId
  call.from = stripScheme(str(body.originatorAddress))
  call.to = stripScheme(str(body.tParticipantAddress))
  call.remoteParticipant = { displayNumber: call.from }
  const name = str(body.originatorName)
  if (name) call.remoteParticipant.displayName = name
  if (sdp) {
    try {
      call.mediaOffered = mediaOfferedFrom(sdp)
    } catch (err) {
      ctx.deps.log.warn('offer could not be parsed', err)
    }
  }
  register(ctx, call)
  ctx.byLeg.set(legId, call)
  mark(ctx, call, 'invitation')
  // The devices start while the offer is applied and the call rings, not after the app's answer (issue 14).
  if (sdp) prepareMedia(ctx, call)
  call.queue.run(() => setupIncoming(ctx, call, sdp)).catch((err: unknown) => incomingFailed(ctx, call, err))
}

async function setupIncoming(ctx: CallContext, call: Call, sdp: string | undefined): Promise<void> {
  if (!sdp) throw new SdkError('call:5', 'Invitations without an SDP offer (slow start) are not supported')
  // Automatic ringing feedback (protocol.md §8.2) says that the invitation has arrived. It travels while
  // the offer is applied, instead of after it (issue 14); the call shows Ringing once both are done.
  const ringing = ctx.deps.config().call.ringingFeedbackMode === 'auto' ? sendRinging(ctx, call) : undefined
  await ctx.deps.turn.ready(TURN_WAIT_MS)
  mark(ctx, call, 'peer:creating')
  const session = createSession(ctx, call)
  mark(ctx, call, 'peer:created')
  const remote = pipeSdp(ctx, call, sdp, { type: 'offer', step: 'set', endpoint: 'remote' })
  mark(ctx, call, 'offer:remote-setting')
  await step('call:3', () => session.setRemoteDescription('offer', remote))
  mark(ctx, call, 'offer:remote-set')
  call.remoteSdp = remote
  if (call.terminal) return
  const rang = ringing ? await ringing : false
  // A late reply never takes a call out of a terminal state (protocol.md §14.6, quirk Q1).
  if (call.terminal) return
  emitReceive(ctx, call)
  setState(ctx, call, rang ? 'Ringing' : 'Initiated', {})
  startAudit(ctx, call)
  startQuality(ctx, call)
}

/** The automatic `Ringing` status request; resolves with its success, never rejects. */
async function sendRinging(ctx: CallContext, call: Call): Promise<boolean> {
  try {
    mark(ctx, call, 'ringing:sent')
    await sendStatus(ctx, call, 'Ringing')
    mark(ctx, call, 'ringing:answered')
    return true
  } catch (err) {
    ctx.deps.log.warn('automatic ringing feedback failed; the call stays Initiated', err)
    return false
  }
}

function incomingFailed(ctx: CallContext, call: Call, err: unknown): void {
  if (call.terminal) return
  const error = errorOf(ctx, err, 'call:3')
  emitReceive(ctx, call, error)
  // protocol.md §9.1: the server is told nothing; its no-answer timer ends the caller's call.
  terminate(ctx, call, 'Ended', { error })
}

/** `call:receive` of an incoming call, at most once, with the error of a failed set-up. */
export function emitReceive(ctx: CallContext, call: Call, error?: BasicError): void {
  if (call.direction !== 'incoming' || call.receiveEmitted) return
  call.receiveEmitted = true
  mark(ctx, call, 'receive')
  const payload: Record<string, unknown> = { callId: call.id }
  if (call.mediaOffered) payload.mediaOffered = { ...call.mediaOffered }
  if (error) payload.error = error
  ctx.deps.emit('call:receive', payload)
}

/** `call.answer` (sdk-api §5.3.2). */
export function answer(ctx: CallContext, callId: unknown, media: unknown, options?: unknown): void {
  const call = find(ctx, callId, 'ANSWER')
  if (!call) return
  if (call.direction !== 'incoming')
    return refuse(ctx, call, 'ANSWER', 'call:6', 'Only incoming calls can be answered')
  if ((call.state !== 'Initiated' && call.state !== 'Ringing') || call.operation) {
    return refuse(ctx, call, 'ANSWER', 'call:6', `Cannot answer a call in state ${call.state}`)
  }
  warnOptions(ctx, options)
  mark(ctx, call, 'answer')
  startOp(ctx, call, 'ANSWER')
  const req = parseMediaRequest(media)
  call.queue.run(() => runAnswer(ctx, call, req)).catch((err: unknown) => answerFailed(ctx, call, err))
}

async function runAnswer(ctx: CallContext, call: Call, req: MediaRequest): Promise<void> {
  const offered = call.mediaOffered ?? { audio: true, video: true }
  const requested = req.audio || req.video || req.screen
  if (req.audio && !offered.audio) {
    ctx.deps.log.warn('answer: audio was not offered by the caller; answering without it')
    req.audio = false
  }
  if ((req.video || req.screen) && !offered.video) {
    ctx.deps.log.warn('answer: video was not offered by the caller; answering without it')
    req.video = false
    req.screen = false
  }
  if (requested && !req.audio && !req.video && !req.screen) {
    throw new SdkError('call:11', 'None of the requested media kinds was offered by the caller')
  }
  const session = call.session
  if (!session) throw new SdkError('call:3', 'The incoming call has no media session')
  mark(ctx, call, 'gum:start')
  await acquire(ctx, call, req)
  mark(ctx, call, 'gum:done')
  if (call.terminal) return
  for (const stream of call.localStreams) for (const t of stream.getTracks()) session.addTrack(t, stream)
  const sdp = await negotiateLocal(ctx, call, session, 'answer', 'ANSWER', {
    implicit: call.remoteSdp === undefined ? undefined : { remoteOffer: call.remoteSdp },
  })
  if (call.terminal) return
  mark(ctx, call, 'put-answer:sent')
  await ctx.deps.rest.request('PUT', `${legPath(ctx, call)}/answer`, {
    wrtcsAnswer: { clientCorrelator: correlator(ctx), sdp },
  })
  mark(ctx, call, 'put-answer:answered')
  if (call.terminal) return
  finishOp(ctx, call)
  call.localTracks = [...call.ownedLocalTracks]
  call.remoteTracks = receivingIds(ctx, call)
  tracksAdded(ctx, call, [...call.localTracks, ...call.remoteTracks])
  setState(ctx, call, 'Connected', {})
}

function answerFailed(ctx: CallContext, call: Call, err: unknown): void {
  if (call.terminal) return
  const error = errorOf(ctx, err, 'call:3')
  finishOp(ctx, call, error)
  // sdk-api §5.3.2: a failed answer ends the call and the caller sees Ended.
  sendDelete(ctx, call)
  terminate(ctx, call, 'Ended', { error }, 'ANSWER')
}

/** `call.reject` (sdk-api §5.3.3). */
export function reject(ctx: CallContext, callId: unknown): void {
  const call = find(ctx, callId, 'REJECT')
  if (!call) return
  if (call.direction !== 'incoming')
    return refuse(ctx, call, 'REJECT', 'call:6', 'Only incoming calls can be rejected')
  if ((call.state !== 'Initiated' && call.state !== 'Ringing') || call.operation) {
    return refuse(ctx, call, 'REJECT', 'call:6', `Cannot reject a call in state ${call.state}`)
  }
  startOp(ctx, call, 'REJECT')
  sendDelete(ctx, call)
  finishOp(ctx, call)
  terminate(ctx, call, 'Ended', {})
}

/** `call.ignore` (sdk-api §5.3.4): ends the call here only; the server is told nothing. */
export function ignore(ctx: CallContext, callId: unknown): void {
  const call = find(ctx, callId, 'IGNORE')
  if (!call) return
  if (call.direction !== 'incoming')
    return refuse(ctx, call, 'IGNORE', 'call:6', 'Only incoming calls can be ignored')
  if ((call.state !== 'Initiated' && call.state !== 'Ringing') || call.operation) {
    return refuse(ctx, call, 'IGNORE', 'call:6', `Cannot ignore a call in state ${call.state}`)
  }
  startOp(ctx, call, 'IGNORE')
  finishOp(ctx, call)
  terminate(ctx, call, 'Ended', {})
}

/** `call.sendRingingFeedback` (sdk-api §5.3.5). */
export function sendRingingFeedback(ctx: CallContext, callId: unknown): void {
  const call = find(ctx, callId, 'SEND_RINGING_FEEDBACK')
  if (!call) return
  const op = 'SEND_RINGING_FEEDBACK'
  if (ctx.deps.config().call.ringingFeedbackMode !== 'manual') {
    return refuse(
      ctx,
      call,
      op,
      'call:5',
      "Ringing feedback is sent automatically (ringingFeedbackMode 'auto')",
    )
  }
  if (call.direction !== 'incoming' || call.state !== 'Initiated' || call.operation) {
    return refuse(ctx, call, op, 'call:6', `Cannot send ringing feedback in state ${call.state}`)
  }
  startOp(ctx, call, op)
  call.queue
    .run(async () => {
      await sendStatus(ctx, call, 'Ringing')
      if (call.terminal) return
      finishOp(ctx, call)
      setState(ctx, call, 'Ringing', {})
    })
    .catch((err: unknown) => {
      if (call.terminal) return
      failInPlace(ctx, call, op, errorOf(ctx, err, 'call:2'))
    })
}
