/**
 * Negotiations the other side starts (protocol.md §9.4, §10.3): its re-offers, the offer without SDP
 * ("slow start") of a transfer, and what they change on the call (hold, remote media).
 */
import { attachLocalTracks, rebuildSession, receivingIds, sessionOf } from './call-media.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { applyHold } from './hold.js'
import { negotiateLocal, pipeSdp, step } from './negotiation.js'
import { opEvent } from './operations.js'
import { isHoldSdp, mediaOfferedFrom, sessionIdOf } from './sdp.js'
import { tracksAdded, tracksRemoved } from './track-events.js'
import { correlator, legPath } from './wire.js'

/** Applies a remote re-offer and answers it (protocol.md §9.4, §10.3); slow start when it has no SDP. */
export async function remoteOffer(
  ctx: CallContext,
  call: Call,
  body: Record<string, unknown>,
): Promise<void> {
  if (call.terminal) return
  if (call.state !== 'Connected' && call.state !== 'On Hold') {
    return ctx.deps.log.warn(`re-offer in state ${call.state} ignored`)
  }
  const sdp = (body.offer as { sdp?: unknown } | undefined)?.sdp
  if (typeof sdp !== 'string' || !sdp) return slowStart(ctx, call)
  let session = sessionOf(call)
  const remote = pipeSdp(ctx, call, sdp, { type: 'offer', step: 'set', endpoint: 'remote' })
  // protocol.md §10.1, §11.17: a new o= session id is a new peer connection at the other end
  // (a transfer joined us to another party); its transport and m-lines are new, so rebuild ours.
  const rebuild =
    !ctx.deps.config().call.mediaBrokerOnly &&
    call.remoteSdp !== undefined &&
    sessionIdOf(remote) !== sessionIdOf(call.remoteSdp)
  if (rebuild) session = rebuildSession(ctx, call)
  const remoteHold = isHoldSdp(remote)
  const holdOp =
    !call.remoteHold && remoteHold ? 'HOLD' : call.remoteHold && !remoteHold ? 'UNHOLD' : undefined
  const target = session
  await step('call:11', () => target.setRemoteDescription('offer', remote))
  if (rebuild) attachLocalTracks(call, session)
  // A client that holds locally answers every offer with inactive (protocol.md §10.3).
  if (call.localHold) session.setHold(true)
  const answer = await negotiateLocal(ctx, call, session, 'answer', holdOp ?? 'UPDATE', {
    freshTransport: rebuild,
  })
  if (call.terminal) return
  await ctx.deps.rest.request('PUT', `${legPath(ctx, call)}/answer`, {
    wrtcsAnswer: { clientCorrelator: correlator(ctx), sdp: answer },
  })
  if (call.terminal) return
  call.remoteSdp = remote
  remoteChanged(ctx, call, holdOp, remoteHold)
}

/**
 * An offer without SDP ("slow start", protocol.md §9.4; Parley's server sends it only to the party
 * being transferred, §11.16, §11.17): rebuild the peer connection (unless `mediaBrokerOnly`), send a
 * fresh offer as the `sdp` of `PUT …/answer`, and take the `wrtcsAnswerNotification` that follows
 * as its answer. The new party answers, so the call is unheld as by the remote side (sdk-api §5.3.23).
 */
async function slowStart(ctx: CallContext, call: Call): Promise<void> {
  let session = sessionOf(call)
  const fresh = !ctx.deps.config().call.mediaBrokerOnly
  if (fresh) {
    const before = call.remoteSdp ? mediaOfferedFrom(call.remoteSdp) : { audio: true, video: false }
    session = rebuildSession(ctx, call)
    attachLocalTracks(call, session)
    // Still ask for each kind received before, also without a local track of that kind.
    const sending = new Set(call.ownedLocalTracks.map((id) => ctx.deps.tracks.get(id)?.track.kind))
    for (const kind of ['audio', 'video'] as const)
      if (before[kind] && !sending.has(kind)) session.addReceiver(kind)
  }
  // §9.4: `sendrecv`, or `inactive` if this side holds the call.
  session.setHold(call.localHold)
  const offer = await negotiateLocal(ctx, call, session, 'offer', 'UPDATE', { freshTransport: fresh })
  if (call.terminal) return
  const answered = call.expectAnswer()
  try {
    await ctx.deps.rest.request('PUT', `${legPath(ctx, call)}/answer`, {
      wrtcsAnswer: { clientCorrelator: correlator(ctx), sdp: offer },
    })
  } catch (err) {
    call.answerWaiter = undefined
    answered.catch(() => undefined)
    throw err
  }
  const answer = await answered
  if (call.terminal) return
  const remote = pipeSdp(ctx, call, answer, { type: 'answer', step: 'set', endpoint: 'remote' })
  const target = session
  await step('call:11', () => target.setRemoteDescription('answer', remote))
  if (call.terminal) return
  call.remoteSdp = remote
  // An answer to our inactive offer says nothing about the other side's hold.
  const remoteHold = !call.localHold && isHoldSdp(remote)
  const holdOp =
    !call.remoteHold && remoteHold ? 'HOLD' : call.remoteHold && !remoteHold ? 'UNHOLD' : undefined
  remoteChanged(ctx, call, holdOp, remoteHold)
}

/**
 * The outcome of a negotiation the other side started: a hold change (sdk-api §5.5.3 M2–M8) or
 * remote media added or removed (§5.8.7), each with its remote `call:operation`.
 */
function remoteChanged(
  ctx: CallContext,
  call: Call,
  holdOp: 'HOLD' | 'UNHOLD' | undefined,
  remoteHold: boolean,
): void {
  if (holdOp) {
    opEvent(ctx, call, holdOp, 'FINISH', { isLocal: false })
    applyHold(ctx, call, call.localHold, remoteHold)
    return
  }
  if (call.localHold || call.remoteHold) return
  const receiving = receivingIds(ctx, call)
  const added = receiving.filter((id) => !call.remoteTracks.includes(id))
  const removed = call.remoteTracks.filter((id) => !receiving.includes(id))
  if (added.length > 0) {
    opEvent(ctx, call, 'ADD_MEDIA', 'FINISH', { isLocal: false })
    call.remoteTracks.push(...added)
    tracksAdded(ctx, call, added)
    const mediaId = ctx.deps.tracks.get(added[0]!)?.streamId ?? ''
    ctx.deps.emit('call:newMedia', { callId: call.id, local: false, tracks: added, mediaId })
  }
  if (removed.length > 0) {
    opEvent(ctx, call, 'REMOVE_MEDIA', 'FINISH', { isLocal: false })
    call.remoteTracks = call.remoteTracks.filter((id) => !removed.includes(id))
    tracksRemoved(ctx, call, removed)
    ctx.deps.emit('call:removedMedia', { callId: call.id, local: false, tracks: removed })
  }
}
