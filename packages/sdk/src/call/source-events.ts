/**
 * Reactions to the call's tracks changing under it (sdk-api §6.8, §5.9): a source muted or unmuted,
 * a local track ended by the browser or the device.
 */
import type { TrackEntry } from '../media/track-registry.js'
import type { CallContext } from './context.js'
import { removeMediaFrom } from './media-ops.js'
import { whyNot } from './operations.js'

/**
 * `media:sourceMuted` / `media:sourceUnmuted` (sdk-api §6.8): only for tracks listed on a live
 * call, never while a negotiation runs (hold and removal are reported by track events), and an
 * unmute only after an announced mute.
 */
export function onSourceMute(ctx: CallContext, entry: TrackEntry, muted: boolean): void {
  const call = entry.callId ? ctx.calls.get(entry.callId) : undefined
  const id = entry.track.id
  const listed =
    !!call && !call.terminal && (entry.isLocal ? call.localTracks : call.remoteTracks).includes(id)
  const payload = { trackId: id, trackIds: [id], isLocal: entry.isLocal, id: entry.streamId }
  if (muted) {
    if (!listed || call.queue.size > 0) return
    entry.sourceMuted = true
    entry.announcedMute = true
    ctx.deps.emit('media:sourceMuted', payload)
    return
  }
  entry.sourceMuted = false
  if (!entry.announcedMute) return
  entry.announcedMute = false
  if (listed) ctx.deps.emit('media:sourceUnmuted', payload)
}

/** A local track ended by itself (device unplugged, screen share stopped in the browser UI). */
export function onTrackEnded(ctx: CallContext, entry: TrackEntry): void {
  if (entry.stoppedBySdk || !entry.isLocal) return
  const call = entry.callId ? ctx.calls.get(entry.callId) : undefined
  if (!call || call.terminal) return
  ctx.deps.emit('media:trackEnded', { trackId: entry.track.id, callId: call.id, isLocal: true })
  if (ctx.deps.config().call.autoRemoveEndedTracks) {
    // sdk-api §5.9: with autoRemoveEndedTracks the ended track is taken off the call (removeMedia).
    if (whyNot(call, 'REMOVE_MEDIA'))
      ctx.deps.log.info('autoRemoveEndedTracks: the call cannot remove media now; the track stays listed')
    else removeMediaFrom(ctx, call, [entry.track.id], undefined)
  }
}
