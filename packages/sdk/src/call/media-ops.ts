/**
 * Mid-call media changes (sdk-api §5.3.10–5.3.14, §5.3.17, §5.3.20): adding and removing media (also
 * video and screen sharing), replacing a track, and restarting the media (ICE restart).
 */
import { basicError, toBasicError, type BasicError } from '../core/errors.js'
import { acquireStreams, mediaError, sessionOf } from './call-media.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import {
  displayMediaConstraints,
  parseMediaRequest,
  userMediaConstraints,
  type MediaRequest,
} from './media-request.js'
import { localOpFailed, renegotiate, reoffer } from './negotiation.js'
import { failOp, find, finishOp, opEvent, startOp, warnOptions, whyNot } from './operations.js'
import { tracksAdded, tracksRemoved } from './track-events.js'

/** `call.restartMedia` (sdk-api §5.3.20): an ICE-restart re-offer keeping the hold directions. */
export function restartMedia(ctx: CallContext, callId: unknown): void {
  const op = 'MEDIA_RESTART'
  const call = find(ctx, callId, op)
  if (!call) return
  const report = (error: BasicError, started: boolean) =>
    failOp(ctx, call, op, error, started, () =>
      ctx.deps.emit('call:mediaRestart', { callId: call.id, error }),
    )
  const why = whyNot(call, op)
  if (why) return report(basicError('call:6', why), false)
  startOp(ctx, call, op)
  renegotiate(
    ctx,
    call,
    op,
    async () => {
      await reoffer(ctx, call, { hold: call.localHold, iceRestart: true })
      if (call.terminal) return
      finishOp(ctx, call)
      ctx.deps.emit('call:mediaRestart', { callId: call.id })
    },
    (err) => localOpFailed(ctx, call, err, (error) => report(error, true)),
  )
}

/** `call.addMedia` (sdk-api §5.3.10); also screen sharing with `{ screen: true }` (§5.3.14). */
export function addMedia(ctx: CallContext, callId: unknown, media: unknown = {}, options?: unknown): void {
  const call = find(ctx, callId, 'ADD_MEDIA')
  if (call) addMediaTo(ctx, call, parseMediaRequest(media), options)
}

/** `call.startVideo` (sdk-api §5.3.12): one camera track, unless the call already sends video. */
export function startVideo(
  ctx: CallContext,
  callId: unknown,
  videoOptions?: unknown,
  options?: unknown,
): void {
  const call = find(ctx, callId, 'ADD_MEDIA')
  if (!call) return
  const req = parseMediaRequest({ video: true, videoOptions })
  if (!whyNot(call, 'ADD_MEDIA') && localVideo(ctx, call).length > 0) {
    return mediaRefused(ctx, call, 'ADD_MEDIA', 'call:7', 'The call already has a local video track')
  }
  addMediaTo(ctx, call, req, options)
}

/** `call.removeMedia` (sdk-api §5.3.11). */
export function removeMedia(ctx: CallContext, callId: unknown, tracks: unknown, options?: unknown): void {
  const call = find(ctx, callId, 'REMOVE_MEDIA')
  if (call) removeMediaFrom(ctx, call, tracks, options)
}

/** `call.stopVideo` (sdk-api §5.3.13): removes the call's only local video-kind track. */
export function stopVideo(ctx: CallContext, callId: unknown): void {
  const call = find(ctx, callId, 'REMOVE_MEDIA')
  if (!call) return
  const video = localVideo(ctx, call)
  if (!whyNot(call, 'REMOVE_MEDIA') && video.length !== 1) {
    const message =
      video.length === 0 ? 'The call has no local video track' : 'The call has several local video tracks'
    return mediaRefused(ctx, call, 'REMOVE_MEDIA', 'call:7', message)
  }
  removeMediaFrom(ctx, call, video, undefined)
}

/** Local video-kind tracks of the call (a screen share counts, sdk-api §5.3.12). */
function localVideo(ctx: CallContext, call: Call): string[] {
  return call.ownedLocalTracks.filter((id) => ctx.deps.tracks.get(id)?.track.kind === 'video')
}

/** A refused addMedia/removeMedia (sdk-api §5.6.2): the operation events, its media event, `call:error`. */
function mediaRefused(
  ctx: CallContext,
  call: Call,
  op: 'ADD_MEDIA' | 'REMOVE_MEDIA',
  code: string,
  message: string,
  started = false,
): void {
  const error = basicError(code, message)
  failOp(ctx, call, op, error, started, () =>
    ctx.deps.emit(op === 'ADD_MEDIA' ? 'call:newMedia' : 'call:removedMedia', {
      callId: call.id,
      local: true,
      tracks: [],
      error,
    }),
  )
}

function addMediaTo(ctx: CallContext, call: Call, req: MediaRequest, options: unknown): void {
  const op = 'ADD_MEDIA'
  const why = whyNot(call, op)
  if (why) return mediaRefused(ctx, call, op, 'call:6', why)
  if (!req.audio && !req.video && !req.screen) {
    return mediaRefused(ctx, call, op, 'call:7', 'addMedia needs at least one of audio, video or screen')
  }
  warnOptions(ctx, options)
  startOp(ctx, call, op)
  let streams: MediaStream[] | undefined
  const added = () => (streams ?? []).flatMap((s) => s.getTracks().map((track) => ({ track, stream: s })))
  renegotiate(
    ctx,
    call,
    op,
    async () => {
      // Acquired once: a retry after glare renegotiates the same tracks.
      streams ??= await acquireStreams(ctx, call, req)
      if (call.terminal) return
      const session = sessionOf(call)
      for (const { track, stream } of added()) session.addTrack(track, stream)
      await reoffer(ctx, call, { hold: false })
      if (call.terminal) return
      const ids = added().map((a) => a.track.id)
      call.ownedLocalTracks.push(...ids)
      call.localTracks.push(...ids)
      finishOp(ctx, call)
      tracksAdded(ctx, call, ids)
      ctx.deps.emit('call:newMedia', {
        callId: call.id,
        local: true,
        tracks: ids,
        mediaId: streams[0]?.id ?? '',
      })
    },
    (err) =>
      localOpFailed(ctx, call, err, (error) => {
        const tracks = added().map((a) => a.track)
        const session = call.session
        if (session && tracks.length > 0) {
          // Take the new senders off again, in turn with any negotiation (architecture §4).
          call.queue
            .run(async () => {
              for (const t of tracks) await session.detachTrack(t)
              session.setHold(call.localHold)
            })
            .catch((e: unknown) => ctx.deps.log.debug('addMedia cleanup skipped', e))
        }
        tracks.forEach((t) => ctx.deps.tracks.stop(t.id))
        mediaRefused(ctx, call, op, error.code, error.message, true)
      }),
  )
}

/** `removeMedia` on a call that was found (also used by autoRemoveEndedTracks, sdk-api §5.9). */
export function removeMediaFrom(ctx: CallContext, call: Call, tracks: unknown, options: unknown): void {
  const op = 'REMOVE_MEDIA'
  const why = whyNot(call, op)
  if (why) return mediaRefused(ctx, call, op, 'call:6', why)
  const ids = Array.isArray(tracks) ? [...new Set(tracks as unknown[])] : []
  if (ids.length === 0 || !ids.every((id) => typeof id === 'string' && call.ownedLocalTracks.includes(id))) {
    return mediaRefused(ctx, call, op, 'call:7', 'tracks must be IDs of local tracks of the call')
  }
  const entries = (ids as string[]).map((id) => ctx.deps.tracks.get(id)).filter((e) => !!e)
  warnOptions(ctx, options)
  startOp(ctx, call, op)
  renegotiate(
    ctx,
    call,
    op,
    async () => {
      const session = sessionOf(call)
      for (const e of entries) await session.detachTrack(e.track)
      // Directions are recomputed from the senders: the detached ones become recvonly (protocol.md §10.3).
      await reoffer(ctx, call, { hold: false })
      if (call.terminal) return
      const removed = entries.map((e) => e.track.id)
      call.ownedLocalTracks = call.ownedLocalTracks.filter((id) => !removed.includes(id))
      call.localTracks = call.localTracks.filter((id) => !removed.includes(id))
      removed.forEach((id) => ctx.deps.tracks.stop(id))
      finishOp(ctx, call)
      tracksRemoved(ctx, call, removed)
      ctx.deps.emit('call:removedMedia', { callId: call.id, local: true, tracks: removed })
      ctx.deps.defer(() => removed.forEach((id) => ctx.deps.renderer.removeTrack(id)))
    },
    (err) =>
      localOpFailed(ctx, call, err, (error) => {
        const session = call.session
        if (session) {
          call.queue
            .run(async () => {
              for (const e of entries) await session.reattachTrack(e.track)
              session.setHold(call.localHold)
            })
            .catch((e: unknown) => ctx.deps.log.debug('removeMedia restore skipped', e))
        }
        mediaRefused(ctx, call, op, error.code, error.message, true)
      }),
  )
}

/** `call.replaceTrack` (sdk-api §5.3.17): swap one local track for a new one of the same kind. */
export function replaceTrack(ctx: CallContext, callId: unknown, trackId: unknown, media: unknown = {}): void {
  const op = 'REPLACE_TRACK'
  const call = find(ctx, callId, op)
  if (!call) return
  const fail = (code: string, message: string, started: boolean) => {
    const error = basicError(code, message)
    if (!started) opEvent(ctx, call, op, 'START', {})
    opEvent(ctx, call, op, 'FINISH', { error })
    ctx.deps.emit('call:trackReplaced', { callId: call.id, error })
    ctx.deps.emit('call:error', { callId: call.id, operation: op, error })
  }
  const why = whyNot(call, op)
  if (why || !call.session)
    return fail('call:6', why ?? `Cannot replace a track in state ${call.state}`, false)
  const old = typeof trackId === 'string' ? ctx.deps.tracks.get(trackId) : undefined
  if (!old || !old.isLocal || !call.ownedLocalTracks.includes(old.track.id)) {
    return fail('call:7', `Track ${String(trackId)} is not a local track of this call`, false)
  }
  const req = parseMediaRequest(media)
  const kind = old.track.kind
  if (kind === 'audio' ? !req.audio : !(req.video || req.screen)) {
    return fail('call:7', `The new media must be of kind ${kind}`, false)
  }
  if (kind === 'audio') req.video = req.screen = false
  else req.audio = false
  if (req.video && req.screen) req.screen = false
  opEvent(ctx, call, op, 'START', {})
  const session = call.session
  void (async () => {
    let stream: MediaStream
    try {
      stream = req.screen
        ? await ctx.deps.engine.getDisplayMedia(displayMediaConstraints(req))
        : await ctx.deps.engine.getUserMedia(userMediaConstraints(req))
    } catch (err) {
      const error = mediaError(err)
      ctx.deps.emit('devices:error', { error })
      return fail(error.code, error.message, true)
    }
    const track = stream.getTracks().find((t) => t.kind === kind)
    if (!track || call.terminal) {
      stream.getTracks().forEach((t) => t.stop())
      if (!track) fail('call:4', `No ${kind} track was obtained`, true)
      return
    }
    try {
      await session.replaceTrack(old.track, track)
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop())
      return fail('call:3', toBasicError(err, 'call:3').message, true)
    }
    if (call.terminal) {
      track.stop()
      return
    }
    ctx.deps.tracks.add(track, { isLocal: true, streamId: stream.id, callId: call.id })
    const swap = (list: string[]) => list.map((id) => (id === old.track.id ? track.id : id))
    call.ownedLocalTracks = swap(call.ownedLocalTracks)
    call.localTracks = swap(call.localTracks)
    call.localStreams.push(stream)
    ctx.deps.tracks.stop(old.track.id)
    opEvent(ctx, call, op, 'FINISH', { previous: { operation: op, status: 'ONGOING' } })
    ctx.deps.emit('call:trackReplaced', {
      callId: call.id,
      newTrackId: track.id,
      oldTrack: ctx.deps.tracks.snapshot(old.track.id),
    })
  })()
}
