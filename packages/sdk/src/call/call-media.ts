/**
 * A call's media resources: the local media of `make`/`answer`/`addMedia` (getUserMedia,
 * getDisplayMedia) and the peer connection, with the remote tracks it receives.
 */
import { cloneConfig } from '../core/config.js'
import { SdkError, basicError, toBasicError, type BasicError } from '../core/errors.js'
import type { PeerSession } from '../media/engine.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { mark } from './timing.js'
import { displayMediaConstraints, userMediaConstraints, type MediaRequest } from './media-request.js'

/** Longest wait for TURN credentials still being fetched when a call starts (4.35 clients hang forever). */
export const TURN_WAIT_MS = 2000

/** Gets the media of `make`/`answer` and makes its tracks the call's own. */
export async function acquire(ctx: CallContext, call: Call, req: MediaRequest): Promise<void> {
  for (const stream of await acquireStreams(ctx, call, req))
    for (const track of stream.getTracks()) call.ownedLocalTracks.push(track.id)
}

/**
 * Gets the requested media and registers its tracks with the call, so they are stopped with it;
 * `devices:error` on failure (sdk-api §6.8). Returns nothing once the call has ended meanwhile.
 */
export async function acquireStreams(
  ctx: CallContext,
  call: Call,
  req: MediaRequest,
): Promise<MediaStream[]> {
  const streams: MediaStream[] = []
  try {
    if (req.audio || req.video) streams.push(await userMedia(ctx, call, userMediaConstraints(req)))
    if (req.screen) streams.push(await ctx.deps.engine.getDisplayMedia(displayMediaConstraints(req)))
  } catch (err) {
    streams.forEach((s) => s.getTracks().forEach((t) => t.stop()))
    const error = mediaError(err)
    ctx.deps.emit('devices:error', { error })
    throw new SdkError(error.code, error.message)
  }
  if (call.terminal) {
    streams.forEach((s) => s.getTracks().forEach((t) => t.stop()))
    return []
  }
  for (const stream of streams) {
    call.localStreams.push(stream)
    for (const track of stream.getTracks())
      ctx.deps.tracks.add(track, { isLocal: true, streamId: stream.id, callId: call.id })
  }
  return streams
}

/**
 * getUserMedia for `call`: the stream started while the call rang (`prepareMedia`) when it was asked with
 * the same constraints and is still live, else a new one (the early one is then stopped).
 */
async function userMedia(
  ctx: CallContext,
  call: Call,
  constraints: MediaStreamConstraints,
): Promise<MediaStream> {
  const early = call.earlyMedia
  if (early) {
    call.earlyMedia = undefined
    const stream = await early.stream
    if (
      stream &&
      early.key === JSON.stringify(constraints) &&
      stream.getTracks().every((t) => t.readyState === 'live')
    ) {
      early.taken = true
      mark(ctx, call, 'early-gum:used')
      return stream
    }
    mark(ctx, call, 'early-gum:unused')
    if (stream && early.attached && call.session)
      for (const track of stream.getTracks()) await call.session.detachTrack(track)
    stream?.getTracks().forEach((t) => t.stop())
  }
  return ctx.deps.engine.getUserMedia(constraints)
}

/**
 * Starts the camera/microphone of an incoming call while it rings (issue 14, `call.prepareAnswerMedia`):
 * only for the offered kinds, and only when access is already granted, so no permission prompt appears
 * before the user chose to answer. Nothing is sent and no track is registered until an answer takes the stream
 * (`userMedia`; its tracks may already sit on the peer connection's senders, `attachEarly`); the call's end
 * stops it whenever it resolves.
 */
export function prepareMedia(ctx: CallContext, call: Call): void {
  const offered = call.mediaOffered
  if (!ctx.deps.config().call.prepareAnswerMedia || !offered || (!offered.audio && !offered.video)) return
  const constraints = userMediaConstraints({ audio: offered.audio, video: offered.video, screen: false })
  const kinds: ('camera' | 'microphone')[] = []
  if (offered.audio) kinds.push('microphone')
  if (offered.video) kinds.push('camera')
  const engine = ctx.deps.engine
  mark(ctx, call, 'early-gum:check')
  const early: NonNullable<Call['earlyMedia']> = {
    key: JSON.stringify(constraints),
    stream: Promise.resolve(undefined),
    taken: false,
    attached: false,
  }
  call.earlyMedia = early
  const start = async (granted: boolean): Promise<MediaStream | undefined> => {
    mark(ctx, call, granted ? 'early-gum:start' : 'early-gum:not-granted')
    if (!granted || call.terminal) return undefined
    const s = await engine.getUserMedia(constraints)
    mark(ctx, call, 'early-gum:done')
    attachEarly(ctx, call, early, s)
    return s
  }
  const permitted = engine.mediaPermitted(kinds)
  // Known at once (the usual case after the first call), the devices start in this task, before the offer
  // is applied: setRemoteDescription and the peer connection's creation hold the main thread for a few
  // milliseconds, and a start queued behind them came that much later (issue 14).
  const stream = (typeof permitted === 'boolean' ? start(permitted) : permitted.then(start)).catch(
    (err: unknown) => {
      // The answer asks again and reports a failure then (devices:error, call:4).
      ctx.deps.log.debug('early getUserMedia failed', err)
      return undefined
    },
  )
  early.stream = stream
  call.cleanups.push(() => {
    if (call.earlyMedia === early) call.earlyMedia = undefined
    if (!early.taken) void stream.then((s) => s?.getTracks().forEach((t) => t.stop()))
  })
}

/**
 * Puts the tracks started while the call rings on its peer connection's senders, in the call's queue, when
 * they arrive before the answer: attaching them (a blocking trip to the browser's signalling thread per track)
 * then happens while the call rings instead of after the answer (issue 14). Nothing is sent: there is no local
 * description and no transport until the answer is applied. An answer with other media detaches them.
 */
function attachEarly(
  ctx: CallContext,
  call: Call,
  early: NonNullable<Call['earlyMedia']>,
  stream: MediaStream,
): void {
  call.queue
    .run(async () => {
      const session = call.session
      const ringing = call.state === 'Initiated' || call.state === 'Ringing'
      if (call.terminal || call.earlyMedia !== early || !ringing || call.operation || !session) return
      if (session.signalingState !== 'have-remote-offer') return
      if (!stream.getTracks().every((t) => t.readyState === 'live')) return
      for (const track of stream.getTracks()) session.addTrack(track, stream)
      early.attached = true
      mark(ctx, call, 'early-gum:attached')
    })
    .catch((err: unknown) => ctx.deps.log.debug('early tracks not attached', err))
}

/** The `call:4` error of a failed getUserMedia/getDisplayMedia, naming the browser's error. */
export function mediaError(err: unknown): BasicError {
  const e = err as { name?: unknown; message?: unknown } | undefined
  const name = typeof e?.name === 'string' ? e.name : 'Error'
  const message =
    typeof e?.message === 'string' && e.message ? e.message : 'Local media could not be obtained'
  return basicError('call:4', `${name}: ${message}`)
}

/** A peer connection with the configured ICE servers, TURN credentials written into every entry (§7.2). */
export function createSession(ctx: CallContext, call: Call): PeerSession {
  const cfg = ctx.deps.config().call
  const peer = cloneConfig(cfg.defaultPeerConfig)
  const creds = cfg.serverTurnCredentials ? ctx.deps.turn.current : undefined
  if (creds)
    peer.iceServers = peer.iceServers.map((s) => ({
      ...s,
      username: creds.username,
      credential: creds.credential,
    }))
  let session: PeerSession
  try {
    session = ctx.deps.engine.createPeer(peer as unknown as RTCConfiguration, {
      excludeCodecs: cfg.removeH264Codecs ? ['H264'] : [],
    })
  } catch (err) {
    throw new SdkError(
      'call:3',
      `The peer connection could not be created: ${toBasicError(err, 'call:3').message}`,
    )
  }
  call.session = session
  session.events.on('remoteTrack', ({ track, streamId }) => {
    ctx.deps.tracks.add(track, {
      isLocal: false,
      streamId: streamId ?? `remote-${call.id}`,
      callId: call.id,
    })
  })
  session.events.on('iceConnectionState', ({ state }) => {
    if (call.terminal || call.mediaConnectionState === state) return
    const prev = call.mediaConnectionState
    call.mediaConnectionState = state
    mark(ctx, call, `ice:${state}`)
    ctx.deps.emit('call:mediaConnectionChange', { callId: call.id, previous: { state: prev } })
  })
  return session
}

/** Remote tracks being received now, registered, by id. */
export function receivingIds(ctx: CallContext, call: Call): string[] {
  const session = call.session
  if (!session) return []
  const ids: string[] = []
  for (const info of session.receivingTracks()) {
    if (info.track.readyState === 'ended') continue
    ctx.deps.tracks.add(info.track, {
      isLocal: false,
      streamId: info.streamId ?? `remote-${call.id}`,
      callId: call.id,
    })
    if (!ids.includes(info.track.id)) ids.push(info.track.id)
  }
  return ids
}

/** The call's peer connection; `call:3` when it has none. */
export function sessionOf(call: Call): PeerSession {
  if (!call.session) throw new SdkError('call:3', 'The call has no media session')
  return call.session
}

/** Replaces the call's peer connection by a new one; the call keeps its local tracks. */
export function rebuildSession(ctx: CallContext, call: Call): PeerSession {
  const old = call.session
  call.session = undefined
  old?.close()
  return createSession(ctx, call)
}

/** Sends the call's own local tracks on `session` (after a rebuild). */
export function attachLocalTracks(call: Call, session: PeerSession): void {
  for (const stream of call.localStreams)
    for (const t of stream.getTracks())
      if (call.ownedLocalTracks.includes(t.id) && t.readyState !== 'ended') session.addTrack(t, stream)
}
