/**
 * Track events of a call (sdk-api §5.4.5): tracks becoming available on it or leaving it.
 */
import type { Call } from './call.js'
import type { CallContext } from './context.js'

/** added(X): `call:tracksAdded` once, then `call:newTrack` per track (sdk-api §5.4.5). */
export function tracksAdded(ctx: CallContext, call: Call, ids: string[]): void {
  emitTracks(ctx, call, ids, 'call:tracksAdded', 'call:newTrack')
}

/** removed(X): `call:tracksRemoved` once, then `call:trackEnded` per track. */
export function tracksRemoved(ctx: CallContext, call: Call, ids: string[]): void {
  emitTracks(ctx, call, ids, 'call:tracksRemoved', 'call:trackEnded')
}

/** The 5.x event for the whole change first, then the 4.x event per track, in the same order. */
function emitTracks(ctx: CallContext, call: Call, ids: string[], batch: string, each: string): void {
  if (ids.length === 0) return
  ctx.deps.emit(batch, { callId: call.id, trackIds: [...ids] })
  for (const id of ids) {
    const e = ctx.deps.tracks.get(id)
    ctx.deps.emit(each, {
      callId: call.id,
      mediaId: e?.streamId ?? '',
      trackId: id,
      local: e?.isLocal ?? false,
    })
  }
}
