/**
 * The outgoing call (sdk-api §5.3.1, protocol.md §8.1, §11.4): `call.make` and its set-up.
 */
import { legIdFromUrl } from '@parley/protocol/paths'
import { SdkError } from '../core/errors.js'
import { randomId } from '../core/ids.js'
import { startAudit } from './audit.js'
import { startQuality } from './quality.js'
import { TURN_WAIT_MS, acquire, createSession, sessionOf } from './call-media.js'
import { Call } from './call.js'
import { register, type CallContext } from './context.js'
import { stripScheme } from './destination.js'
import { parseMediaRequest, type MediaRequest } from './media-request.js'
import { negotiateLocal } from './negotiation.js'
import { replayEarly } from './notifications.js'
import { errorOf, finishOp, setState, startOp, updateOp, warnOptions } from './operations.js'
import { terminate } from './teardown.js'
import { mark } from './timing.js'
import { tracksAdded } from './track-events.js'
import { addressOf, basePath, correlator, sendDelete } from './wire.js'

/** `call.make` (sdk-api §5.3.1): returns the id at once; the set-up continues asynchronously. */
export function make(ctx: CallContext, destination: unknown, media: unknown, options?: unknown): string {
  if (typeof destination !== 'string') throw new TypeError('call.make: "destination" must be a string')
  if (typeof media !== 'object' || media === null) throw new TypeError('call.make: "media" must be an object')
  warnOptions(ctx, options)
  const call = new Call(randomId(), 'outgoing')
  const tokens = ctx.deps.tokens()
  call.from = tokens?.identity ?? tokens?.username ?? ''
  const address = addressOf(ctx, destination)
  call.to = stripScheme(address ?? destination)
  call.remoteParticipant = { displayNumber: call.to }
  register(ctx, call)
  mark(ctx, call, 'make')
  startOp(ctx, call, 'MAKE')
  const req = parseMediaRequest(media)
  call.queue.run(() => runMake(ctx, call, address, req)).catch((err: unknown) => makeFailed(ctx, call, err))
  return call.id
}

async function runMake(
  ctx: CallContext,
  call: Call,
  address: string | undefined,
  req: MediaRequest,
): Promise<void> {
  if (!ctx.deps.isSubscribed()) throw new SdkError('call:2', 'Not subscribed to the call service')
  if (!address) throw new SdkError('call:7', 'Invalid destination')
  if (!req.audio && !req.video && !req.screen) {
    throw new SdkError('call:7', 'At least one of audio, video or screen must be requested')
  }
  const base = basePath(ctx)
  await ctx.deps.turn.ready(TURN_WAIT_MS)
  mark(ctx, call, 'gum:start')
  const media = acquire(ctx, call, req)
  // The peer connection is built while the browser starts the devices, not after (issue 14): both take a
  // few milliseconds, and its creation needs nothing from them. A failed getUserMedia ends the call, which
  // closes it; a failed creation ends the call, and the devices are stopped as they arrive.
  media.catch(() => undefined)
  createSession(ctx, call)
  mark(ctx, call, 'peer:created')
  await media
  mark(ctx, call, 'gum:done')
  if (call.terminal) return
  const session = sessionOf(call)
  for (const stream of call.localStreams) for (const t of stream.getTracks()) session.addTrack(t, stream)
  const sdp = await negotiateLocal(ctx, call, session, 'offer', 'MAKE', { implicit: {} })
  if (call.terminal) return
  mark(ctx, call, 'post:sent')
  // Notifications for the new leg may overtake this reply (protocol.md §11 orders only the sending).
  const creating = ctx.early.begin()
  try {
    const reply = await ctx.deps.rest.request<{ wrtcsSession?: { resourceURL?: unknown } }>(
      'POST',
      `${base}/sessions`,
      {
        wrtcsSession: { clientCorrelator: correlator(ctx), tParticipantAddress: address, offer: { sdp } },
      },
    )
    const url = reply.wrtcsSession?.resourceURL
    const legId = typeof url === 'string' ? legIdFromUrl(url) : undefined
    if (!legId) throw new SdkError('call:2', 'The create-session reply has no resourceURL')
    call.legId = legId
    ctx.byLeg.set(legId, call)
    mark(ctx, call, 'post:answered')
    if (call.terminal) {
      // Ended while the request was in flight: tell the server now that the leg is known.
      ctx.early.take(legId)
      sendDelete(ctx, call)
      return
    }
    ctx.deps.emit('call:start', { callId: call.id })
    updateOp(ctx, call)
    call.localTracks = [...call.ownedLocalTracks]
    tracksAdded(ctx, call, call.localTracks)
    setState(ctx, call, 'Initiated', {})
    startAudit(ctx, call)
    startQuality(ctx, call)
    // In arrival order, as if they had come after the reply: Ringing now, the acceptance queued behind this.
    replayEarly(ctx, call)
  } finally {
    creating.done()
  }
}

function makeFailed(ctx: CallContext, call: Call, err: unknown): void {
  if (call.terminal) return
  const error = errorOf(ctx, err, 'call:2')
  finishOp(ctx, call, error)
  ctx.deps.emit('call:start', { callId: call.id, error })
  terminate(ctx, call, 'Ended', { error }, 'MAKE')
}
