/**
 * The call registry and every call operation (sdk-api §5, protocol.md §8, §9, §11). This is the
 * only module that joins media (the peer connection) and signalling (REST requests, notifications).
 *
 * Per call, everything that touches the peer connection's negotiation — outgoing set-up, incoming
 * set-up, answer, acceptance, local re-offers and remote re-offers — runs through the call's own
 * AsyncQueue, so offers and answers never interleave (architecture §4). `end` never waits: it
 * closes the queue, releases the media at once and tells the server.
 */
import { EVENT_REASONS } from '@parley/protocol/notifications'
import { legIdFromUrl } from '@parley/protocol/paths'
import { cloneConfig, type Config } from '../core/config.js'
import { SdkError, basicError, toBasicError, type BasicError } from '../core/errors.js'
import { randomId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import type { Tokens } from '../core/tokens.js'
import type {
  IceCollectionCheckResult,
  IceCollectionInfo,
  SdpHandlerFunction,
  SdpHandlerInfo,
} from '../core/types.js'
import type { MediaEngine, PeerSession } from '../media/engine.js'
import { defaultIceCheck, legacyIceCheck } from '../media/ice-check.js'
import type { Renderer } from '../media/renderer.js'
import type { TrackEntry, TrackRegistry } from '../media/track-registry.js'
import type { RestClient } from '../signalling/rest.js'
import type { TurnCredentialsManager } from '../signalling/turn.js'
import { signalingPath } from '../signalling/urls.js'
import { Call, type CallObject, type PreviousState } from './call.js'
import { normalizeDestination, stripScheme } from './destination.js'
import {
  displayMediaConstraints,
  parseMediaRequest,
  userMediaConstraints,
  type MediaRequest,
} from './media-request.js'
import { refusalOf, type OperationName } from './rules.js'
import { isHoldSdp, mediaOfferedFrom, runSdpPipeline, sessionIdOf, stripTrickle } from './sdp.js'
import type { CallState } from './states.js'

export interface CallManagerDeps {
  rest: RestClient
  engine: MediaEngine
  tracks: TrackRegistry
  renderer: Renderer
  turn: TurnCredentialsManager
  config: () => Config
  tokens: () => Tokens | undefined
  /** The `call` service is subscribed (sdk-api §5.3.1 requirement of `make`). */
  isSubscribed: () => boolean
  /** Public events (queued by the event bus). */
  emit: (type: string, payload: object) => void
  /** Runs `fn` after the listeners of everything emitted so far. */
  defer: (fn: () => void) => void
  log: Logger
  version: string
  platform: () => string
}

/** Longest wait for TURN credentials still being fetched when a call starts (4.35 clients hang forever). */
const TURN_WAIT_MS = 2000
const AUDIT_FAILURE = 'Call has ended due to call audit failure.'
/** Longest wait, after a glare refusal, for the peer's offer before running the operation again. */
const GLARE_WAIT_MS = 1000

interface Transition {
  statusCode?: number
  reasonText?: string
}

/** A failure after which the call cannot continue (e.g. the peer applied our offer but its answer failed). */
class FatalCallError extends SdkError {}

/** The server refused our `/update` because an offer is already pending on the call (protocol.md §11.12). */
const isGlare = (err: unknown): boolean =>
  err instanceof SdkError && !(err instanceof FatalCallError) && err.status === 409

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

function legOf(body: Record<string, unknown>): string | undefined {
  const link = body.link
  const href = Array.isArray(link) ? (link[0] as { href?: unknown } | undefined)?.href : undefined
  return typeof href === 'string' ? legIdFromUrl(href) : undefined
}

function transitionOf(body: Record<string, unknown>): Transition | undefined {
  const t: Transition = {}
  if (typeof body.statusCode === 'number') t.statusCode = body.statusCode
  if (typeof body.reasonText === 'string') t.reasonText = body.reasonText
  return t.statusCode === undefined && t.reasonText === undefined ? undefined : t
}

export class CallManager {
  readonly #deps: CallManagerDeps
  readonly #calls = new Map<string, Call>()
  readonly #byLeg = new Map<string, Call>()
  #destroyed = false

  constructor(deps: CallManagerDeps) {
    this.#deps = deps
    deps.tracks.events.on('mute', (e) => this.#onSourceMute(e, true))
    deps.tracks.events.on('unmute', (e) => this.#onSourceMute(e, false))
    deps.tracks.events.on('ended', (e) => this.#onTrackEnded(e))
  }

  // ─── queries ────────────────────────────────────────────────────────────────────────────────

  getById(callId: string): CallObject | undefined {
    return this.#calls.get(callId)?.snapshot()
  }

  getAll(): CallObject[] {
    return [...this.#calls.values()].map((c) => c.snapshot())
  }

  /** Calls that are not Ended/Cancelled. */
  liveCount(): number {
    return [...this.#calls.values()].filter((c) => !c.terminal).length
  }

  // ─── outgoing call ──────────────────────────────────────────────────────────────────────────

  /** `call.make` (sdk-api §5.3.1): returns the id at once; the set-up continues asynchronously. */
  make(destination: unknown, media: unknown, options?: unknown): string {
    if (typeof destination !== 'string') throw new TypeError('call.make: "destination" must be a string')
    if (typeof media !== 'object' || media === null)
      throw new TypeError('call.make: "media" must be an object')
    this.#warnOptions(options)
    const call = new Call(randomId(), 'outgoing')
    const tokens = this.#deps.tokens()
    call.from = tokens?.identity ?? tokens?.username ?? ''
    const address = this.#address(destination)
    call.to = stripScheme(address ?? destination)
    call.remoteParticipant = { displayNumber: call.to }
    this.#register(call)
    this.#startOp(call, 'MAKE')
    const req = parseMediaRequest(media)
    call.queue
      .run(() => this.#runMake(call, address, req))
      .catch((err: unknown) => this.#makeFailed(call, err))
    return call.id
  }

  async #runMake(call: Call, address: string | undefined, req: MediaRequest): Promise<void> {
    if (!this.#deps.isSubscribed()) throw new SdkError('call:2', 'Not subscribed to the call service')
    if (!address) throw new SdkError('call:7', 'Invalid destination')
    if (!req.audio && !req.video && !req.screen) {
      throw new SdkError('call:7', 'At least one of audio, video or screen must be requested')
    }
    const base = this.#basePath()
    await this.#deps.turn.ready(TURN_WAIT_MS)
    await this.#acquire(call, req)
    if (call.terminal) return
    const session = this.#createSession(call)
    for (const stream of call.localStreams) for (const t of stream.getTracks()) session.addTrack(t, stream)
    const sdp = await this.#negotiateLocal(call, session, 'offer', 'MAKE')
    if (call.terminal) return
    const reply = await this.#deps.rest.request<{ wrtcsSession?: { resourceURL?: unknown } }>(
      'POST',
      `${base}/sessions`,
      {
        wrtcsSession: { clientCorrelator: this.#correlator(), tParticipantAddress: address, offer: { sdp } },
      },
    )
    const url = reply.wrtcsSession?.resourceURL
    const legId = typeof url === 'string' ? legIdFromUrl(url) : undefined
    if (!legId) throw new SdkError('call:2', 'The create-session reply has no resourceURL')
    call.legId = legId
    this.#byLeg.set(legId, call)
    if (call.terminal) {
      // Ended while the request was in flight: tell the server now that the leg is known.
      this.#sendDelete(call)
      return
    }
    this.#deps.emit('call:start', { callId: call.id })
    this.#updateOp(call)
    call.localTracks = [...call.ownedLocalTracks]
    this.#tracksAdded(call, call.localTracks)
    this.#setState(call, 'Initiated', {})
    this.#startAudit(call)
  }

  #makeFailed(call: Call, err: unknown): void {
    if (call.terminal) return
    const error = this.#errorOf(err, 'call:2')
    this.#finishOp(call, error)
    this.#deps.emit('call:start', { callId: call.id, error })
    this.#terminate(call, 'Ended', { error }, 'MAKE')
  }

  // ─── incoming call ──────────────────────────────────────────────────────────────────────────

  #onInvitation(body: Record<string, unknown>): void {
    const legId = legOf(body)
    if (!legId) return this.#deps.log.warn('invitation without a session link ignored')
    if (this.#byLeg.has(legId)) return this.#deps.log.debug(`invitation for known leg ${legId} ignored`)
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
        this.#deps.log.warn('offer could not be parsed', err)
      }
    }
    this.#register(call)
    this.#byLeg.set(legId, call)
    call.queue
      .run(() => this.#setupIncoming(call, sdp))
      .catch((err: unknown) => this.#incomingFailed(call, err))
  }

  async #setupIncoming(call: Call, sdp: string | undefined): Promise<void> {
    if (!sdp) throw new SdkError('call:5', 'Invitations without an SDP offer (slow start) are not supported')
    await this.#deps.turn.ready(TURN_WAIT_MS)
    const session = this.#createSession(call)
    const remote = this.#sdp(call, sdp, { type: 'offer', step: 'set', endpoint: 'remote' })
    await this.#step('call:3', () => session.setRemoteDescription('offer', remote))
    call.remoteSdp = remote
    if (call.terminal) return
    let ringing = false
    if (this.#deps.config().call.ringingFeedbackMode === 'auto') {
      try {
        await this.#sendStatus(call, 'Ringing')
        ringing = true
      } catch (err) {
        this.#deps.log.warn('automatic ringing feedback failed; the call stays Initiated', err)
      }
    }
    // A late reply never takes a call out of a terminal state (protocol.md §14.6, quirk Q1).
    if (call.terminal) return
    this.#emitReceive(call)
    this.#setState(call, ringing ? 'Ringing' : 'Initiated', {})
    this.#startAudit(call)
  }

  #incomingFailed(call: Call, err: unknown): void {
    if (call.terminal) return
    const error = this.#errorOf(err, 'call:3')
    this.#emitReceive(call, error)
    // protocol.md §9.1: the server is told nothing; its no-answer timer ends the caller's call.
    this.#terminate(call, 'Ended', { error })
  }

  #emitReceive(call: Call, error?: BasicError): void {
    if (call.direction !== 'incoming' || call.receiveEmitted) return
    call.receiveEmitted = true
    const payload: Record<string, unknown> = { callId: call.id }
    if (call.mediaOffered) payload.mediaOffered = { ...call.mediaOffered }
    if (error) payload.error = error
    this.#deps.emit('call:receive', payload)
  }

  /** `call.answer` (sdk-api §5.3.2). */
  answer(callId: unknown, media: unknown, options?: unknown): void {
    const call = this.#find(callId, 'ANSWER')
    if (!call) return
    if (call.direction !== 'incoming')
      return this.#refuse(call, 'ANSWER', 'call:6', 'Only incoming calls can be answered')
    if ((call.state !== 'Initiated' && call.state !== 'Ringing') || call.operation) {
      return this.#refuse(call, 'ANSWER', 'call:6', `Cannot answer a call in state ${call.state}`)
    }
    this.#warnOptions(options)
    this.#startOp(call, 'ANSWER')
    const req = parseMediaRequest(media)
    call.queue.run(() => this.#runAnswer(call, req)).catch((err: unknown) => this.#answerFailed(call, err))
  }

  async #runAnswer(call: Call, req: MediaRequest): Promise<void> {
    const offered = call.mediaOffered ?? { audio: true, video: true }
    const requested = req.audio || req.video || req.screen
    if (req.audio && !offered.audio) {
      this.#deps.log.warn('answer: audio was not offered by the caller; answering without it')
      req.audio = false
    }
    if ((req.video || req.screen) && !offered.video) {
      this.#deps.log.warn('answer: video was not offered by the caller; answering without it')
      req.video = false
      req.screen = false
    }
    if (requested && !req.audio && !req.video && !req.screen) {
      throw new SdkError('call:11', 'None of the requested media kinds was offered by the caller')
    }
    const session = call.session
    if (!session) throw new SdkError('call:3', 'The incoming call has no media session')
    await this.#acquire(call, req)
    if (call.terminal) return
    for (const stream of call.localStreams) for (const t of stream.getTracks()) session.addTrack(t, stream)
    const sdp = await this.#negotiateLocal(call, session, 'answer', 'ANSWER')
    if (call.terminal) return
    await this.#deps.rest.request('PUT', `${this.#legPath(call)}/answer`, {
      wrtcsAnswer: { clientCorrelator: this.#correlator(), sdp },
    })
    if (call.terminal) return
    this.#finishOp(call)
    call.localTracks = [...call.ownedLocalTracks]
    call.remoteTracks = this.#receiving(call)
    this.#tracksAdded(call, [...call.localTracks, ...call.remoteTracks])
    this.#setState(call, 'Connected', {})
  }

  #answerFailed(call: Call, err: unknown): void {
    if (call.terminal) return
    const error = this.#errorOf(err, 'call:3')
    this.#finishOp(call, error)
    // sdk-api §5.3.2: a failed answer ends the call and the caller sees Ended.
    this.#sendDelete(call)
    this.#terminate(call, 'Ended', { error }, 'ANSWER')
  }

  /** `call.reject` (sdk-api §5.3.3). */
  reject(callId: unknown): void {
    const call = this.#find(callId, 'REJECT')
    if (!call) return
    if (call.direction !== 'incoming')
      return this.#refuse(call, 'REJECT', 'call:6', 'Only incoming calls can be rejected')
    if ((call.state !== 'Initiated' && call.state !== 'Ringing') || call.operation) {
      return this.#refuse(call, 'REJECT', 'call:6', `Cannot reject a call in state ${call.state}`)
    }
    this.#startOp(call, 'REJECT')
    this.#sendDelete(call)
    this.#finishOp(call)
    this.#terminate(call, 'Ended', {})
  }

  /** `call.ignore` (sdk-api §5.3.4): ends the call here only; the server is told nothing. */
  ignore(callId: unknown): void {
    const call = this.#find(callId, 'IGNORE')
    if (!call) return
    if (call.direction !== 'incoming')
      return this.#refuse(call, 'IGNORE', 'call:6', 'Only incoming calls can be ignored')
    if ((call.state !== 'Initiated' && call.state !== 'Ringing') || call.operation) {
      return this.#refuse(call, 'IGNORE', 'call:6', `Cannot ignore a call in state ${call.state}`)
    }
    this.#startOp(call, 'IGNORE')
    this.#finishOp(call)
    this.#terminate(call, 'Ended', {})
  }

  /** `call.sendRingingFeedback` (sdk-api §5.3.5). */
  sendRingingFeedback(callId: unknown): void {
    const call = this.#find(callId, 'SEND_RINGING_FEEDBACK')
    if (!call) return
    const op = 'SEND_RINGING_FEEDBACK'
    if (this.#deps.config().call.ringingFeedbackMode !== 'manual') {
      return this.#refuse(
        call,
        op,
        'call:5',
        "Ringing feedback is sent automatically (ringingFeedbackMode 'auto')",
      )
    }
    if (call.direction !== 'incoming' || call.state !== 'Initiated' || call.operation) {
      return this.#refuse(call, op, 'call:6', `Cannot send ringing feedback in state ${call.state}`)
    }
    this.#startOp(call, op)
    call.queue
      .run(async () => {
        await this.#sendStatus(call, 'Ringing')
        if (call.terminal) return
        this.#finishOp(call)
        this.#setState(call, 'Ringing', {})
      })
      .catch((err: unknown) => {
        if (call.terminal) return
        this.#failInPlace(call, op, this.#errorOf(err, 'call:2'))
      })
  }

  /** `call.end` (sdk-api §5.3.8): from any non-terminal state; never waits for anything. */
  end(callId: unknown): void {
    const call = this.#find(callId, 'END')
    if (!call) return
    if (call.terminal) return this.#refuse(call, 'END', 'call:6', `The call is already ${call.state}`)
    this.#opEvent(call, 'END', 'START', {})
    this.#abortOperation(call, 'The call was ended')
    this.#sendDelete(call)
    this.#opEvent(call, 'END', 'FINISH', { previous: { operation: 'END', status: 'ONGOING' } })
    this.#terminate(call, 'Ended', {})
  }

  // ─── mid-call: hold, unhold, media changes, media restart ────────────────────────────────────

  /** `call.hold` (sdk-api §5.3.6): a re-offer with every m-line inactive (protocol.md §10.3). */
  hold(callId: unknown): void {
    this.#holdOrUnhold(callId, 'HOLD', true)
  }

  /** `call.unhold` (sdk-api §5.3.7): each kind `sendrecv` with a local track, else `recvonly`. */
  unhold(callId: unknown): void {
    this.#holdOrUnhold(callId, 'UNHOLD', false)
  }

  #holdOrUnhold(callId: unknown, op: 'HOLD' | 'UNHOLD', hold: boolean): void {
    const call = this.#find(callId, op)
    if (!call) return
    const why = this.#why(call, op)
    if (why) return this.#refuse(call, op, 'call:6', why)
    this.#startOp(call, op)
    this.#renegotiate(
      call,
      op,
      async () => {
        await this.#reoffer(call, { hold })
        if (call.terminal) return
        this.#finishOp(call)
        this.#applyHold(call, hold, call.remoteHold)
      },
      (err) => this.#localOpFailed(call, err, (error) => this.#failInPlace(call, op, error)),
    )
  }

  /** `call.restartMedia` (sdk-api §5.3.20): an ICE-restart re-offer keeping the hold directions. */
  restartMedia(callId: unknown): void {
    const op = 'MEDIA_RESTART'
    const call = this.#find(callId, op)
    if (!call) return
    const report = (error: BasicError, started: boolean) =>
      this.#failOp(call, op, error, started, () =>
        this.#deps.emit('call:mediaRestart', { callId: call.id, error }),
      )
    const why = this.#why(call, op)
    if (why) return report(basicError('call:6', why), false)
    this.#startOp(call, op)
    this.#renegotiate(
      call,
      op,
      async () => {
        await this.#reoffer(call, { hold: call.localHold, iceRestart: true })
        if (call.terminal) return
        this.#finishOp(call)
        this.#deps.emit('call:mediaRestart', { callId: call.id })
      },
      (err) => this.#localOpFailed(call, err, (error) => report(error, true)),
    )
  }

  /** `call.addMedia` (sdk-api §5.3.10); also screen sharing with `{ screen: true }` (§5.3.14). */
  addMedia(callId: unknown, media: unknown = {}, options?: unknown): void {
    const call = this.#find(callId, 'ADD_MEDIA')
    if (call) this.#addMedia(call, parseMediaRequest(media), options)
  }

  /** `call.startVideo` (sdk-api §5.3.12): one camera track, unless the call already sends video. */
  startVideo(callId: unknown, videoOptions?: unknown, options?: unknown): void {
    const call = this.#find(callId, 'ADD_MEDIA')
    if (!call) return
    const req = parseMediaRequest({ video: true, videoOptions })
    if (!this.#why(call, 'ADD_MEDIA') && this.#localVideo(call).length > 0) {
      return this.#mediaRefused(call, 'ADD_MEDIA', 'call:7', 'The call already has a local video track')
    }
    this.#addMedia(call, req, options)
  }

  /** `call.removeMedia` (sdk-api §5.3.11). */
  removeMedia(callId: unknown, tracks: unknown, options?: unknown): void {
    const call = this.#find(callId, 'REMOVE_MEDIA')
    if (call) this.#removeMedia(call, tracks, options)
  }

  /** `call.stopVideo` (sdk-api §5.3.13): removes the call's only local video-kind track. */
  stopVideo(callId: unknown): void {
    const call = this.#find(callId, 'REMOVE_MEDIA')
    if (!call) return
    const video = this.#localVideo(call)
    if (!this.#why(call, 'REMOVE_MEDIA') && video.length !== 1) {
      const message =
        video.length === 0 ? 'The call has no local video track' : 'The call has several local video tracks'
      return this.#mediaRefused(call, 'REMOVE_MEDIA', 'call:7', message)
    }
    this.#removeMedia(call, video, undefined)
  }

  /** Local video-kind tracks of the call (a screen share counts, sdk-api §5.3.12). */
  #localVideo(call: Call): string[] {
    return call.ownedLocalTracks.filter((id) => this.#deps.tracks.get(id)?.track.kind === 'video')
  }

  /** A refused addMedia/removeMedia (sdk-api §5.6.2): the operation events, its media event, `call:error`. */
  #mediaRefused(
    call: Call,
    op: 'ADD_MEDIA' | 'REMOVE_MEDIA',
    code: string,
    message: string,
    started = false,
  ): void {
    const error = basicError(code, message)
    this.#failOp(call, op, error, started, () =>
      this.#deps.emit(op === 'ADD_MEDIA' ? 'call:newMedia' : 'call:removedMedia', {
        callId: call.id,
        local: true,
        tracks: [],
        error,
      }),
    )
  }

  #addMedia(call: Call, req: MediaRequest, options: unknown): void {
    const op = 'ADD_MEDIA'
    const why = this.#why(call, op)
    if (why) return this.#mediaRefused(call, op, 'call:6', why)
    if (!req.audio && !req.video && !req.screen) {
      return this.#mediaRefused(call, op, 'call:7', 'addMedia needs at least one of audio, video or screen')
    }
    this.#warnOptions(options)
    this.#startOp(call, op)
    let streams: MediaStream[] | undefined
    const added = () => (streams ?? []).flatMap((s) => s.getTracks().map((track) => ({ track, stream: s })))
    this.#renegotiate(
      call,
      op,
      async () => {
        // Acquired once: a retry after glare renegotiates the same tracks.
        streams ??= await this.#acquireStreams(call, req)
        if (call.terminal) return
        const session = this.#sessionOf(call)
        for (const { track, stream } of added()) session.addTrack(track, stream)
        await this.#reoffer(call, { hold: false })
        if (call.terminal) return
        const ids = added().map((a) => a.track.id)
        call.ownedLocalTracks.push(...ids)
        call.localTracks.push(...ids)
        this.#finishOp(call)
        this.#tracksAdded(call, ids)
        this.#deps.emit('call:newMedia', {
          callId: call.id,
          local: true,
          tracks: ids,
          mediaId: streams[0]?.id ?? '',
        })
      },
      (err) =>
        this.#localOpFailed(call, err, (error) => {
          const tracks = added().map((a) => a.track)
          const session = call.session
          if (session && tracks.length > 0) {
            // Take the new senders off again, in turn with any negotiation (architecture §4).
            call.queue
              .run(async () => {
                for (const t of tracks) await session.detachTrack(t)
                session.setHold(call.localHold)
              })
              .catch((e: unknown) => this.#deps.log.debug('addMedia cleanup skipped', e))
          }
          tracks.forEach((t) => this.#deps.tracks.stop(t.id))
          this.#mediaRefused(call, op, error.code, error.message, true)
        }),
    )
  }

  #removeMedia(call: Call, tracks: unknown, options: unknown): void {
    const op = 'REMOVE_MEDIA'
    const why = this.#why(call, op)
    if (why) return this.#mediaRefused(call, op, 'call:6', why)
    const ids = Array.isArray(tracks) ? [...new Set(tracks as unknown[])] : []
    if (
      ids.length === 0 ||
      !ids.every((id) => typeof id === 'string' && call.ownedLocalTracks.includes(id))
    ) {
      return this.#mediaRefused(call, op, 'call:7', 'tracks must be IDs of local tracks of the call')
    }
    const entries = (ids as string[]).map((id) => this.#deps.tracks.get(id)).filter((e) => !!e)
    this.#warnOptions(options)
    this.#startOp(call, op)
    this.#renegotiate(
      call,
      op,
      async () => {
        const session = this.#sessionOf(call)
        for (const e of entries) await session.detachTrack(e.track)
        // Directions are recomputed from the senders: the detached ones become recvonly (protocol.md §10.3).
        await this.#reoffer(call, { hold: false })
        if (call.terminal) return
        const removed = entries.map((e) => e.track.id)
        call.ownedLocalTracks = call.ownedLocalTracks.filter((id) => !removed.includes(id))
        call.localTracks = call.localTracks.filter((id) => !removed.includes(id))
        removed.forEach((id) => this.#deps.tracks.stop(id))
        this.#finishOp(call)
        this.#tracksRemoved(call, removed)
        this.#deps.emit('call:removedMedia', { callId: call.id, local: true, tracks: removed })
        this.#deps.defer(() => removed.forEach((id) => this.#deps.renderer.removeTrack(id)))
      },
      (err) =>
        this.#localOpFailed(call, err, (error) => {
          const session = call.session
          if (session) {
            call.queue
              .run(async () => {
                for (const e of entries) await session.reattachTrack(e.track)
                session.setHold(call.localHold)
              })
              .catch((e: unknown) => this.#deps.log.debug('removeMedia restore skipped', e))
          }
          this.#mediaRefused(call, op, error.code, error.message, true)
        }),
    )
  }

  /**
   * Runs a local renegotiation through the call's queue (architecture §4), checking the operation's
   * preconditions again when its turn comes (a remote operation may have run first, sdk-api §5.6.1).
   *
   * The glare rule (protocol.md §11.12): one offer may be pending per call, and the server refuses
   * the later `/update` with 409. The side refused has already rolled its offer back (`#reoffer`);
   * it lets the peer's offer — on its way as a notification, queued behind us — be answered, then
   * runs its operation once more. A second refusal is reported as the operation's failure and the
   * call stays up (protocol.md §14.6): no retry loop, and both sides converge.
   */
  #renegotiate(
    call: Call,
    op: OperationName,
    task: () => Promise<void>,
    failed: (err: unknown) => void,
  ): void {
    const attempt = (retry: boolean): void => {
      const seen = call.remoteOffers
      call.queue
        .run(async () => {
          if (call.terminal) return
          const why = this.#why(call, op, true)
          if (why) throw new SdkError('call:6', why)
          await task()
        })
        .catch(async (err: unknown) => {
          if (call.terminal) return
          if (!retry && isGlare(err)) {
            this.#deps.log.info(`${op}: offer refused (glare); running again after the peer's offer`)
            await call.offerSince(seen, GLARE_WAIT_MS)
            if (!call.terminal) attempt(true)
            return
          }
          failed(err)
        })
    }
    attempt(false)
  }

  /**
   * One local re-offer (protocol.md §8.4, §11.11): offer with the hold directions, `PUT …/update`,
   * then the `wrtcsAnswerNotification` (§9.3) applied. A failure before the peer saw the offer rolls
   * it back; a failure after it is fatal for the call.
   */
  async #reoffer(call: Call, opts: { hold: boolean; iceRestart?: boolean }): Promise<void> {
    const session = this.#sessionOf(call)
    const op = call.operation?.name ?? 'UPDATE'
    session.setHold(opts.hold)
    let sdp: string
    try {
      sdp = await this.#negotiateLocal(call, session, 'offer', op, { iceRestart: opts.iceRestart === true })
    } catch (err) {
      await this.#rollback(call, session)
      throw err
    }
    if (call.terminal) return
    const answered = call.expectAnswer()
    try {
      await this.#deps.rest.request('PUT', `${this.#legPath(call)}/update`, {
        wrtcsOffer: { clientCorrelator: this.#correlator(), sdp },
      })
    } catch (err) {
      call.answerWaiter = undefined
      answered.catch(() => undefined)
      // protocol.md §14.6: roll back and report instead of ending the call (quirk Q20).
      await this.#rollback(call, session)
      throw err
    }
    if (call.terminal) return
    this.#updateOp(call)
    const answer = await answered
    if (call.terminal) return
    const remote = this.#sdp(call, answer, { type: 'answer', step: 'set', endpoint: 'remote' })
    try {
      await session.setRemoteDescription('answer', remote)
    } catch (err) {
      // The peer already applied our offer; there is nothing to roll back to.
      throw new FatalCallError(
        'call:11',
        `The answer could not be applied: ${toBasicError(err, 'call:11').message}`,
      )
    }
    call.remoteSdp = remote
  }

  async #rollback(call: Call, session: PeerSession): Promise<void> {
    session.setHold(call.localHold)
    try {
      await session.rollback()
    } catch (err) {
      throw new FatalCallError('call:3', `Rollback failed: ${toBasicError(err, 'call:3').message}`)
    }
  }

  /** A started local operation failed: fatal failures end the call, others are reported by `report`. */
  #localOpFailed(call: Call, err: unknown, report: (error: BasicError) => void): void {
    if (call.terminal) return
    const error = this.#errorOf(err, 'call:2')
    if (err instanceof FatalCallError) {
      const op = call.operation?.name
      this.#finishOp(call, error)
      this.#sendDelete(call)
      this.#terminate(call, 'Ended', { error }, op)
      return
    }
    report(error)
  }

  /**
   * Moves the hold flags and derives the state from them (architecture §4: hold is two flags, the
   * `On Hold` state is derived). Emits track events and the state change (sdk-api §5.5.3).
   */
  #applyHold(call: Call, localHold: boolean, remoteHold: boolean): void {
    const previous = call.previous()
    const wasHeld = call.localHold || call.remoteHold
    const nowHeld = localHold || remoteHold
    if (previous.localHold === localHold && previous.remoteHold === remoteHold) return
    call.localHold = localHold
    call.remoteHold = remoteHold
    if (!wasHeld && nowHeld) {
      const removed = [...call.localTracks, ...call.remoteTracks]
      call.localTracks = []
      call.remoteTracks = []
      this.#tracksRemoved(call, removed)
      call.transition('On Hold', 'hold')
    } else if (wasHeld && !nowHeld) {
      call.localTracks = [...call.ownedLocalTracks]
      call.remoteTracks = this.#receiving(call)
      this.#tracksAdded(call, [...call.localTracks, ...call.remoteTracks])
      call.transition('Connected', 'unhold')
    } else {
      call.transition('On Hold', 'hold flags changed')
    }
    this.#deps.emit('call:stateChange', { callId: call.id, previous })
  }

  // ─── forward and transfers ──────────────────────────────────────────────────────────────────

  /** `call.forward` (sdk-api §5.3.23, protocol.md §8.6, §11.15): redirect an unanswered incoming call. */
  forward(callId: unknown, destination: unknown): void {
    const op = 'FORWARD_CALL'
    const call = this.#find(callId, op)
    if (!call) return
    const why = this.#why(call, op)
    if (why) return this.#failOp(call, op, basicError('call:6', why), false)
    const address = this.#address(destination)
    if (!address) return this.#failOp(call, op, basicError('call:7', 'Invalid destination'), false)
    this.#startOp(call, op)
    call.queue
      .run(async () => {
        await this.#deps.rest.request('PUT', `${this.#legPath(call)}/forward`, {
          wrtcsForward: { clientCorrelator: this.#correlator(), address },
        })
        if (call.terminal) return
        this.#finishOp(call)
        // protocol.md §8.6: on a 2xx this side's call ends; the server sends it nothing more.
        call.deleteSent = true
        this.#terminate(call, 'Ended', {})
      })
      .catch((err: unknown) => {
        // §8.6: after an error the call keeps ringing.
        if (!call.terminal) this.#failOp(call, op, this.#errorOf(err, 'call:2'), true)
      })
  }

  /** `call.directTransfer` (sdk-api §5.3.23, protocol.md §8.7, §11.16): blind transfer of a held call. */
  directTransfer(callId: unknown, destination: unknown): void {
    const op = 'DIRECT_TRANSFER'
    const call = this.#find(callId, op)
    if (!call) return
    const why = this.#why(call, op)
    if (why) return this.#failOp(call, op, basicError('call:6', why), false)
    const address = this.#address(destination)
    if (!address) return this.#failOp(call, op, basicError('call:7', 'Invalid destination'), false)
    this.#transfer(op, [call], { address })
  }

  /** `call.consultativeTransfer` (sdk-api §5.3.23, protocol.md §8.7, §11.17): joins the parties of two held calls. */
  consultativeTransfer(callId: unknown, otherCallId: unknown): void {
    const op = 'CONSULTATIVE_TRANSFER'
    const call = this.#find(callId, op)
    if (!call) return
    const other = typeof otherCallId === 'string' ? this.#calls.get(otherCallId) : undefined
    if (!other || other === call || !other.legId) {
      return this.#failOp(
        call,
        op,
        basicError('call:7', `No other call with id ${String(otherCallId)}`),
        false,
      )
    }
    const why = this.#why(call, op) ?? this.#why(other, op)
    if (why) return this.#failOp(call, op, basicError('call:6', why), false)
    // §8.7: `address` is the second call's remote party, `sessionId` its leg (same user).
    const party = other.direction === 'outgoing' ? other.to : other.from
    this.#transfer(op, [call, other], { address: `sip:${party}`, sessionId: other.legId })
  }

  /**
   * `PUT …/transfer` on the first call's leg. Kandy clients have no notification that completes a
   * transfer (§8.7): each call stays PENDING until the server's `SessionEnded` ends it (§11.16 step 7).
   */
  #transfer(op: OperationName, calls: Call[], body: { address: string; sessionId?: string }): void {
    const first = calls[0]!
    for (const c of calls) this.#startOp(c, op)
    first.queue
      .run(async () => {
        await this.#deps.rest.request('PUT', `${this.#legPath(first)}/transfer`, {
          wrtcsTransfer: { clientCorrelator: this.#correlator(), ...body },
        })
        for (const c of calls) if (!c.terminal) this.#updateOp(c)
      })
      .catch((err: unknown) => {
        // §8.7: after an error the calls stay on hold.
        const error = this.#errorOf(err, 'call:2')
        for (const c of calls) if (!c.terminal && c.operation?.name === op) this.#finishOp(c, error)
        if (!first.terminal) this.#deps.emit('call:error', { callId: first.id, operation: op, error })
      })
  }

  // ─── stats, DTMF, codecs, track replacement ─────────────────────────────────────────────────

  /** `call.getStats` (sdk-api §5.3.16). */
  getStats(callId: unknown, trackId?: unknown): Promise<Map<string, unknown>> {
    const op = 'GET_STATS'
    const fail = (call: Call | undefined, id: string, error: BasicError) => {
      this.#opEvent(call, op, 'START', {}, id)
      this.#opEvent(call, op, 'FINISH', { error }, id)
      const payload: Record<string, unknown> = { callId: id, error }
      if (typeof trackId === 'string') payload.trackId = trackId
      if (call) this.#deps.emit('call:statsReceived', payload)
      this.#deps.emit('call:error', { callId: id, operation: op, error })
      const rejection: Record<string, unknown> = { error }
      if (typeof trackId === 'string') rejection.trackId = trackId
      return Promise.reject(rejection)
    }
    if (typeof callId !== 'string') throw new TypeError('call.getStats: "callId" must be a string')
    const call = this.#calls.get(callId)
    if (!call) return fail(undefined, callId, basicError('call:7', `No call with id ${callId}`))
    if (call.state === 'Initiating' || call.terminal || !call.session) {
      return fail(call, callId, basicError('call:6', `Cannot get stats in state ${call.state}`))
    }
    let track: MediaStreamTrack | undefined
    if (trackId !== undefined) {
      const entry = typeof trackId === 'string' ? this.#deps.tracks.get(trackId) : undefined
      if (!entry || entry.callId !== call.id)
        return fail(call, callId, basicError('call:7', `Unknown track ${String(trackId)}`))
      track = entry.track
    }
    this.#opEvent(call, op, 'START', {})
    const session = call.session
    return session.getStats(track).then(
      (report) => {
        const result = new Map<string, unknown>()
        report.forEach((value: unknown, key: string) => result.set(key, value))
        result.set('parley_sdk_info', {
          id: 'parley_sdk_info',
          type: 'parley_sdk_info',
          timestamp: Date.now(),
          sdk: 'parley',
          version: this.#deps.version,
          callId: call.id,
          platform: this.#deps.platform(),
        })
        this.#opEvent(call, op, 'FINISH', { previous: { operation: op, status: 'ONGOING' } })
        const payload: Record<string, unknown> = { callId: call.id, result }
        if (typeof trackId === 'string') payload.trackId = trackId
        this.#deps.emit('call:statsReceived', payload)
        return result
      },
      (err: unknown) => {
        const error = toBasicError(err, 'call:2')
        this.#opEvent(call, op, 'FINISH', { error, previous: { operation: op, status: 'ONGOING' } })
        const payload: Record<string, unknown> = { callId: call.id, error }
        if (typeof trackId === 'string') payload.trackId = trackId
        this.#deps.emit('call:statsReceived', payload)
        this.#deps.emit('call:error', { callId: call.id, operation: op, error })
        return Promise.reject({ error, ...(typeof trackId === 'string' ? { trackId } : {}) })
      },
    )
  }

  /** `call.sendDTMF` (sdk-api §5.3.15): RFC 4733 telephone-event through the audio sender. */
  sendDTMF(callId: unknown, tone: unknown, duration: unknown = 100, intertoneGap: unknown = 70): void {
    const op = 'SEND_DTMF'
    const call = this.#find(callId, op)
    if (!call) return
    const fail = (code: string, message: string) => {
      const error = basicError(code, message)
      this.#opEvent(call, op, 'START', {})
      this.#opEvent(call, op, 'FINISH', { error })
      this.#deps.emit('call:error', { callId: call.id, operation: op, error })
    }
    if (typeof tone !== 'string' || !/^[0-9*#,]+$/.test(tone)) return fail('call:7', 'Invalid DTMF tone')
    const why = refusalOf(op, call)
    if (why || !call.session) return fail('call:6', why ?? `Cannot send DTMF in state ${call.state}`)
    const d = typeof duration === 'number' && duration > 0 ? duration : 100
    const g = typeof intertoneGap === 'number' && intertoneGap > 0 ? intertoneGap : 70
    let sent = false
    try {
      sent = call.session.insertDTMF(tone, d, g)
    } catch (err) {
      this.#deps.log.warn('insertDTMF failed', err)
    }
    if (!sent) return fail('call:5', 'DTMF is not available on this call (no telephone-event negotiated)')
    this.#opEvent(call, op, 'START', {})
    this.#opEvent(call, op, 'FINISH', { previous: { operation: op, status: 'ONGOING' } })
  }

  /** `call.getAvailableCodecs` (sdk-api §5.3.18). */
  getAvailableCodecs(kind: unknown): Promise<RTCRtpCodec[]> {
    const fail = (code: string, message: string) => {
      const error = basicError(code, message)
      this.#deps.emit('call:error', { error })
      return Promise.reject({ error })
    }
    if (kind !== 'audio' && kind !== 'video') return fail('call:7', 'kind must be "audio" or "video"')
    const codecs = this.#deps.engine.codecCapabilities(kind)
    if (!codecs) return fail('call:5', 'This browser cannot list its codecs')
    this.#deps.emit('call:availableCodecs', { kind, codecs })
    return Promise.resolve(codecs)
  }

  /** `call.replaceTrack` (sdk-api §5.3.17): swap one local track for a new one of the same kind. */
  replaceTrack(callId: unknown, trackId: unknown, media: unknown = {}): void {
    const op = 'REPLACE_TRACK'
    const call = this.#find(callId, op)
    if (!call) return
    const fail = (code: string, message: string, started: boolean) => {
      const error = basicError(code, message)
      if (!started) this.#opEvent(call, op, 'START', {})
      this.#opEvent(call, op, 'FINISH', { error })
      this.#deps.emit('call:trackReplaced', { callId: call.id, error })
      this.#deps.emit('call:error', { callId: call.id, operation: op, error })
    }
    const why = this.#why(call, op)
    if (why || !call.session)
      return fail('call:6', why ?? `Cannot replace a track in state ${call.state}`, false)
    const old = typeof trackId === 'string' ? this.#deps.tracks.get(trackId) : undefined
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
    this.#opEvent(call, op, 'START', {})
    const session = call.session
    void (async () => {
      let stream: MediaStream
      try {
        stream = req.screen
          ? await this.#deps.engine.getDisplayMedia(displayMediaConstraints(req))
          : await this.#deps.engine.getUserMedia(userMediaConstraints(req))
      } catch (err) {
        const error = this.#mediaError(err)
        this.#deps.emit('devices:error', { error })
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
      this.#deps.tracks.add(track, { isLocal: true, streamId: stream.id, callId: call.id })
      const swap = (list: string[]) => list.map((id) => (id === old.track.id ? track.id : id))
      call.ownedLocalTracks = swap(call.ownedLocalTracks)
      call.localTracks = swap(call.localTracks)
      call.localStreams.push(stream)
      this.#deps.tracks.stop(old.track.id)
      this.#opEvent(call, op, 'FINISH', { previous: { operation: op, status: 'ONGOING' } })
      this.#deps.emit('call:trackReplaced', {
        callId: call.id,
        newTrackId: track.id,
        oldTrack: this.#deps.tracks.snapshot(old.track.id),
      })
    })()
  }

  // ─── notifications ──────────────────────────────────────────────────────────────────────────

  /** Routes one notification (protocol.md §9) to its call by the leg id in `link[0].href`. */
  handleNotification(kind: string, body: Record<string, unknown>): void {
    if (this.#destroyed) return
    if (kind === 'wrtcsSessionInvitationNotification') return this.#onInvitation(body)
    const legId = legOf(body)
    const call = legId ? this.#byLeg.get(legId) : undefined
    if (!call) return this.#deps.log.debug(`${kind} for unknown leg ${String(legId)} ignored`)
    switch (kind) {
      case 'wrtcsEventNotification':
        return this.#onEvent(call, body)
      case 'wrtcsAcceptanceNotification':
        return this.#onAcceptance(call, body)
      case 'wrtcsAnswerNotification':
        return this.#onAnswer(call, body)
      case 'wrtcsOfferNotification':
        return this.#onOffer(call, body)
      default:
        this.#deps.log.debug(`notification ${kind} not understood; ignored`)
    }
  }

  #onEvent(call: Call, body: Record<string, unknown>): void {
    const transition = transitionOf(body)
    switch (body.eventType) {
      case 'Ringing':
        // Only a caller still Initiated moves (protocol.md §9.5); a late event changes nothing.
        if (call.direction === 'outgoing' && call.state === 'Initiated') {
          this.#setState(call, 'Ringing', {
            transition: transition ?? { statusCode: 180, reasonText: 'Ringing' },
          })
        }
        return
      case 'SessionEnded':
        if (!call.terminal) this.#remoteEnd(call, 'Ended', transition)
        return
      case 'Cancelled': {
        if (call.terminal) return
        // Cancelled is for unanswered callees; on anything else Parley ends the call instead (Q16).
        const unanswered =
          call.direction === 'incoming' && ['Initiating', 'Initiated', 'Ringing'].includes(call.state)
        this.#remoteEnd(call, unanswered ? 'Cancelled' : 'Ended', transition)
        return
      }
      default:
        return
    }
  }

  #remoteEnd(call: Call, to: 'Ended' | 'Cancelled', transition: Transition | undefined): void {
    this.#emitReceive(call)
    const op = call.operation
    if (op?.status === 'PENDING' && (op.name === 'DIRECT_TRANSFER' || op.name === 'CONSULTATIVE_TRANSFER')) {
      // protocol.md §8.7, §11.16 step 7: the server's SessionEnded is how a transfer completes.
      const failed = transition?.reasonText === EVENT_REASONS.transferFailed.reasonText
      const error = failed ? basicError('call:2', 'The transfer failed') : undefined
      this.#finishOp(call, error)
      this.#opEvent(call, 'END', 'FINISH', { isLocal: false })
      this.#terminate(
        call,
        to,
        { ...(transition ? { transition } : {}), ...(error ? { error } : {}) },
        op.name,
      )
      return
    }
    this.#abortOperation(call, 'The call was ended by the remote party')
    this.#opEvent(call, 'END', 'FINISH', { isLocal: false })
    this.#terminate(call, to, transition ? { transition } : {})
  }

  #onAcceptance(call: Call, body: Record<string, unknown>): void {
    if (call.direction !== 'outgoing' || call.terminal) return
    const sdp = (body.answer as { sdp?: unknown } | undefined)?.sdp
    call.queue
      .run(async () => {
        if (call.terminal) return
        if (!['Initiated', 'Ringing', 'Early Media'].includes(call.state)) {
          return this.#deps.log.debug(`acceptance in state ${call.state} ignored`)
        }
        if (typeof sdp !== 'string' || !sdp)
          throw new SdkError('call:11', 'The acceptance carries no SDP answer')
        const session = call.session
        if (!session) throw new SdkError('call:3', 'The call has no media session')
        const remote = this.#sdp(call, sdp, { type: 'answer', step: 'set', endpoint: 'remote' })
        await this.#step('call:11', () => session.setRemoteDescription('answer', remote))
        if (call.terminal) return
        call.remoteSdp = remote
        this.#finishOp(call)
        const added = this.#receiving(call).filter((id) => !call.remoteTracks.includes(id))
        call.remoteTracks.push(...added)
        this.#tracksAdded(call, added)
        this.#setState(call, 'Connected', { transition: { statusCode: 200, reasonText: 'OK' } })
      })
      .catch((err: unknown) => {
        if (call.terminal) return
        const error = this.#errorOf(err, 'call:11')
        this.#finishOp(call, error)
        this.#sendDelete(call)
        this.#terminate(call, 'Ended', { error }, 'MAKE')
      })
  }

  #onAnswer(call: Call, body: Record<string, unknown>): void {
    const sdp = (body.answer as { sdp?: unknown } | undefined)?.sdp
    if (!call.answerWaiter) return this.#deps.log.warn('answer notification without a pending offer ignored')
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
  #onOffer(call: Call, body: Record<string, unknown>): void {
    if (call.terminal) return
    call.offerArrived()
    call.queue
      .run(() => this.#remoteOffer(call, body))
      .catch((err: unknown) => {
        if (call.terminal) return
        const error = this.#errorOf(err, 'call:11')
        this.#deps.log.error('remote re-offer failed; ending the call', err)
        this.#sendDelete(call)
        this.#terminate(call, 'Ended', { error })
      })
  }

  async #remoteOffer(call: Call, body: Record<string, unknown>): Promise<void> {
    if (call.terminal) return
    if (call.state !== 'Connected' && call.state !== 'On Hold') {
      return this.#deps.log.warn(`re-offer in state ${call.state} ignored`)
    }
    const sdp = (body.offer as { sdp?: unknown } | undefined)?.sdp
    if (typeof sdp !== 'string' || !sdp) return this.#slowStart(call)
    let session = this.#sessionOf(call)
    const remote = this.#sdp(call, sdp, { type: 'offer', step: 'set', endpoint: 'remote' })
    // protocol.md §10.1, §11.17: a new o= session id is a new peer connection at the other end
    // (a transfer joined us to another party); its transport and m-lines are new, so rebuild ours.
    const rebuild =
      !this.#deps.config().call.mediaBrokerOnly &&
      call.remoteSdp !== undefined &&
      sessionIdOf(remote) !== sessionIdOf(call.remoteSdp)
    if (rebuild) session = this.#rebuildSession(call)
    const remoteHold = isHoldSdp(remote)
    const holdOp =
      !call.remoteHold && remoteHold ? 'HOLD' : call.remoteHold && !remoteHold ? 'UNHOLD' : undefined
    const target = session
    await this.#step('call:11', () => target.setRemoteDescription('offer', remote))
    if (rebuild) this.#attachLocalTracks(call, session)
    // A client that holds locally answers every offer with inactive (protocol.md §10.3).
    if (call.localHold) session.setHold(true)
    const answer = await this.#negotiateLocal(call, session, 'answer', holdOp ?? 'UPDATE', {
      freshTransport: rebuild,
    })
    if (call.terminal) return
    await this.#deps.rest.request('PUT', `${this.#legPath(call)}/answer`, {
      wrtcsAnswer: { clientCorrelator: this.#correlator(), sdp: answer },
    })
    if (call.terminal) return
    call.remoteSdp = remote
    this.#remoteChanged(call, holdOp, remoteHold)
  }

  /**
   * An offer without SDP ("slow start", protocol.md §9.4; Parley's server sends it only to the party
   * being transferred, §11.16, §11.17): rebuild the peer connection (unless `mediaBrokerOnly`), send a
   * fresh offer as the `sdp` of `PUT …/answer`, and take the `wrtcsAnswerNotification` that follows
   * as its answer. The new party answers, so the call is unheld as by the remote side (sdk-api §5.3.23).
   */
  async #slowStart(call: Call): Promise<void> {
    let session = this.#sessionOf(call)
    const fresh = !this.#deps.config().call.mediaBrokerOnly
    if (fresh) {
      const before = call.remoteSdp ? mediaOfferedFrom(call.remoteSdp) : { audio: true, video: false }
      session = this.#rebuildSession(call)
      this.#attachLocalTracks(call, session)
      // Still ask for each kind received before, also without a local track of that kind.
      const sending = new Set(call.ownedLocalTracks.map((id) => this.#deps.tracks.get(id)?.track.kind))
      for (const kind of ['audio', 'video'] as const)
        if (before[kind] && !sending.has(kind)) session.addReceiver(kind)
    }
    // §9.4: `sendrecv`, or `inactive` if this side holds the call.
    session.setHold(call.localHold)
    const offer = await this.#negotiateLocal(call, session, 'offer', 'UPDATE', { freshTransport: fresh })
    if (call.terminal) return
    const answered = call.expectAnswer()
    try {
      await this.#deps.rest.request('PUT', `${this.#legPath(call)}/answer`, {
        wrtcsAnswer: { clientCorrelator: this.#correlator(), sdp: offer },
      })
    } catch (err) {
      call.answerWaiter = undefined
      answered.catch(() => undefined)
      throw err
    }
    const answer = await answered
    if (call.terminal) return
    const remote = this.#sdp(call, answer, { type: 'answer', step: 'set', endpoint: 'remote' })
    const target = session
    await this.#step('call:11', () => target.setRemoteDescription('answer', remote))
    if (call.terminal) return
    call.remoteSdp = remote
    // An answer to our inactive offer says nothing about the other side's hold.
    const remoteHold = !call.localHold && isHoldSdp(remote)
    const holdOp =
      !call.remoteHold && remoteHold ? 'HOLD' : call.remoteHold && !remoteHold ? 'UNHOLD' : undefined
    this.#remoteChanged(call, holdOp, remoteHold)
  }

  /** Replaces the call's peer connection by a new one; the call keeps its local tracks. */
  #rebuildSession(call: Call): PeerSession {
    const old = call.session
    call.session = undefined
    old?.close()
    return this.#createSession(call)
  }

  /** Sends the call's own local tracks on `session` (after a rebuild). */
  #attachLocalTracks(call: Call, session: PeerSession): void {
    for (const stream of call.localStreams)
      for (const t of stream.getTracks())
        if (call.ownedLocalTracks.includes(t.id) && t.readyState !== 'ended') session.addTrack(t, stream)
  }

  /**
   * The outcome of a negotiation the other side started: a hold change (sdk-api §5.5.3 M2–M8) or
   * remote media added or removed (§5.8.7), each with its remote `call:operation`.
   */
  #remoteChanged(call: Call, holdOp: 'HOLD' | 'UNHOLD' | undefined, remoteHold: boolean): void {
    if (holdOp) {
      this.#opEvent(call, holdOp, 'FINISH', { isLocal: false })
      this.#applyHold(call, call.localHold, remoteHold)
      return
    }
    if (call.localHold || call.remoteHold) return
    const receiving = this.#receiving(call)
    const added = receiving.filter((id) => !call.remoteTracks.includes(id))
    const removed = call.remoteTracks.filter((id) => !receiving.includes(id))
    if (added.length > 0) {
      this.#opEvent(call, 'ADD_MEDIA', 'FINISH', { isLocal: false })
      call.remoteTracks.push(...added)
      this.#tracksAdded(call, added)
      const mediaId = this.#deps.tracks.get(added[0]!)?.streamId ?? ''
      this.#deps.emit('call:newMedia', { callId: call.id, local: false, tracks: added, mediaId })
    }
    if (removed.length > 0) {
      this.#opEvent(call, 'REMOVE_MEDIA', 'FINISH', { isLocal: false })
      call.remoteTracks = call.remoteTracks.filter((id) => !removed.includes(id))
      this.#tracksRemoved(call, removed)
      this.#deps.emit('call:removedMedia', { callId: call.id, local: false, tracks: removed })
    }
  }

  // ─── audit ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Call audit (protocol.md §8.2): `PUT …/status` `Connected` at once, then 25 s after a success
   * (max(10 s, callAuditTimer)), 5 s after an error (min(5 s, 0.45 × callAuditTimer)), 1 s after a
   * request slower than 4 s. A 404 means the server no longer knows the call: it ends (9909).
   */
  #startAudit(call: Call): void {
    if (call.auditing || call.terminal) return
    call.auditing = true
    const tick = async (): Promise<void> => {
      call.auditTimer = undefined
      if (call.terminal || !call.legId || this.#destroyed) return
      const started = Date.now()
      const period = this.#deps.config().call.callAuditTimer
      let next: number
      try {
        await this.#sendStatus(call, 'Connected')
        next = Math.max(10_000, period)
      } catch (err) {
        if (call.terminal) return
        if (err instanceof SdkError && err.status === 404) return this.#auditFailed(call)
        next = Math.min(5000, 0.45 * period)
      }
      if (Date.now() - started > 4000) next = 1000
      if (!call.terminal && !this.#destroyed) call.auditTimer = setTimeout(() => void tick(), next)
    }
    void tick()
  }

  #auditFailed(call: Call): void {
    if (call.terminal) return
    const error = basicError('call:8', AUDIT_FAILURE)
    this.#abortOperation(call, AUDIT_FAILURE)
    this.#terminate(call, 'Ended', { transition: { statusCode: 9909, reasonText: AUDIT_FAILURE }, error })
  }

  #stopAudit(call: Call): void {
    clearTimeout(call.auditTimer)
    call.auditTimer = undefined
  }

  // ─── source mute / track end ────────────────────────────────────────────────────────────────

  /**
   * `media:sourceMuted` / `media:sourceUnmuted` (sdk-api §6.8): only for tracks listed on a live
   * call, never while a negotiation runs (hold and removal are reported by track events), and an
   * unmute only after an announced mute.
   */
  #onSourceMute(entry: TrackEntry, muted: boolean): void {
    const call = entry.callId ? this.#calls.get(entry.callId) : undefined
    const id = entry.track.id
    const listed =
      !!call && !call.terminal && (entry.isLocal ? call.localTracks : call.remoteTracks).includes(id)
    const payload = { trackId: id, trackIds: [id], isLocal: entry.isLocal, id: entry.streamId }
    if (muted) {
      if (!listed || call.queue.size > 0) return
      entry.sourceMuted = true
      entry.announcedMute = true
      this.#deps.emit('media:sourceMuted', payload)
      return
    }
    entry.sourceMuted = false
    if (!entry.announcedMute) return
    entry.announcedMute = false
    if (listed) this.#deps.emit('media:sourceUnmuted', payload)
  }

  /** A local track ended by itself (device unplugged, screen share stopped in the browser UI). */
  #onTrackEnded(entry: TrackEntry): void {
    if (entry.stoppedBySdk || !entry.isLocal) return
    const call = entry.callId ? this.#calls.get(entry.callId) : undefined
    if (!call || call.terminal) return
    this.#deps.emit('media:trackEnded', { trackId: entry.track.id, callId: call.id, isLocal: true })
    if (this.#deps.config().call.autoRemoveEndedTracks) {
      // sdk-api §5.9: with autoRemoveEndedTracks the ended track is taken off the call (removeMedia).
      if (this.#why(call, 'REMOVE_MEDIA'))
        this.#deps.log.info('autoRemoveEndedTracks: the call cannot remove media now; the track stays listed')
      else this.#removeMedia(call, [entry.track.id], undefined)
    }
  }

  // ─── teardown ───────────────────────────────────────────────────────────────────────────────

  /** Best-effort DELETE for every live call, e.g. on `pagehide` (protocol.md §14.7). */
  goodbye(): void {
    for (const call of this.#calls.values()) if (!call.terminal) this.#sendDelete(call, true)
  }

  /** Ends everything without events (the bus is already closed): goodbye, media released. */
  destroy(): void {
    if (this.#destroyed) return
    this.goodbye()
    this.#destroyed = true
    for (const call of this.#calls.values()) {
      this.#stopAudit(call)
      call.queue.close()
      call.answerWaiter?.reject(new SdkError('call:6', 'The SDK was destroyed'))
      this.#releaseMedia(call, false)
    }
  }

  // ─── helpers: state, events ─────────────────────────────────────────────────────────────────

  #register(call: Call): void {
    this.#calls.set(call.id, call)
  }

  /** Looks up a call for an API function; reports an unknown id (sdk-api §5.6.3). */
  #find(callId: unknown, operation: string): Call | undefined {
    // A missing or non-string id is just an id that matches no call (sdk-api §5.6.3): the seed's
    // "End Call" button passes null when no call is up, and must not get an exception.
    const call = typeof callId === 'string' ? this.#calls.get(callId) : undefined
    if (call) return call
    const error = basicError('call:7', `No call with id ${String(callId)}`)
    this.#opEvent(undefined, operation, 'START', {}, callId as string)
    this.#opEvent(undefined, operation, 'FINISH', { error }, callId as string)
    this.#deps.emit('call:error', { callId, operation, error })
    return undefined
  }

  /** A wrong-state operation (sdk-api §5.6.2): nothing changes, four events say why. */
  #refuse(call: Call, operation: string, code: string, message: string): void {
    const error = basicError(code, message)
    this.#opEvent(call, operation, 'START', {})
    this.#opEvent(call, operation, 'FINISH', { error })
    this.#deps.emit('call:stateChange', { callId: call.id, previous: call.previous(), error })
    this.#deps.emit('call:error', { callId: call.id, operation, error })
  }

  /** Why `op` cannot run on `call` now (sdk-api §5.6.1, incl. one local renegotiation at a time), if so. */
  #why(call: Call, op: OperationName, running = false): string | undefined {
    const refusal = refusalOf(op, call)
    if (refusal) return refusal
    if (!running && call.operation) return `Another operation (${call.operation.name}) is in progress`
    return undefined
  }

  /**
   * A refused (`started` false) or failed operation, reported the sdk-api §5.6.2 way: START unless
   * already emitted, FINISH with the error, the operation's own event, then `call:error`.
   */
  #failOp(call: Call, op: string, error: BasicError, started: boolean, ownEvent?: () => void): void {
    if (started) this.#finishOp(call, error)
    else {
      this.#opEvent(call, op, 'START', {})
      this.#opEvent(call, op, 'FINISH', { error })
    }
    ownEvent?.()
    this.#deps.emit('call:error', { callId: call.id, operation: op, error })
  }

  /** A started operation failed and left the call as it was. */
  #failInPlace(call: Call, operation: string, error: BasicError): void {
    this.#finishOp(call, error)
    this.#deps.emit('call:stateChange', { callId: call.id, previous: call.previous(), error })
    this.#deps.emit('call:error', { callId: call.id, operation, error })
  }

  #opEvent(
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
    this.#deps.emit('call:operation', payload)
  }

  #startOp(call: Call, name: string): void {
    call.operation = { name, status: 'ONGOING' }
    this.#opEvent(call, name, 'START', {})
  }

  #updateOp(call: Call): void {
    const op = call.operation
    if (!op) return
    this.#opEvent(call, op.name, 'UPDATE', { previous: { operation: op.name, status: op.status } })
    op.status = 'PENDING'
  }

  #finishOp(call: Call, error?: BasicError): void {
    const op = call.operation
    if (!op) return
    call.operation = undefined
    const extra: { error?: BasicError; previous: { operation: string; status: string } } = {
      previous: { operation: op.name, status: op.status },
    }
    if (error) extra.error = error
    this.#opEvent(call, op.name, 'FINISH', extra)
  }

  /** Ends the running local operation because the call ends under it. */
  #abortOperation(call: Call, message: string): void {
    const op = call.operation
    if (!op) return
    if (op.name === 'MAKE' && op.status === 'PENDING') {
      // call:start was already reported; the pending answer simply never comes.
      call.operation = undefined
      return
    }
    const error = basicError('call:6', message)
    this.#finishOp(call, error)
    if (op.name === 'MAKE') this.#deps.emit('call:start', { callId: call.id, error })
  }

  #setState(call: Call, to: CallState, extra: { transition?: Transition; error?: BasicError }): void {
    const previous: PreviousState = call.previous()
    call.transition(to, extra.transition?.reasonText ?? 'operation')
    const payload: Record<string, unknown> = { callId: call.id, previous }
    if (extra.transition) payload.transition = extra.transition
    if (extra.error) payload.error = extra.error
    this.#deps.emit('call:stateChange', payload)
  }

  /**
   * The one way a call ends (sdk-api §5.8.4–5.8.6): media released, remaining tracks reported
   * removed, the terminal state change, then `call:error` when it ended because of an error.
   * Rendered elements are removed after the listeners of these events have run.
   */
  #terminate(
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
    this.#releaseMedia(call, true)
    call.transition(to, info.transition?.reasonText ?? 'end')
    this.#tracksRemoved(call, removed)
    const payload: Record<string, unknown> = { callId: call.id, previous }
    if (info.transition) payload.transition = info.transition
    if (info.error) payload.error = info.error
    this.#deps.emit('call:stateChange', payload)
    if (info.error) {
      const errPayload: Record<string, unknown> = { callId: call.id, error: info.error }
      if (operation) errPayload.operation = operation
      this.#deps.emit('call:error', errPayload)
    }
    const ids = this.#deps.tracks
      .all()
      .filter((e) => e.callId === call.id)
      .map((e) => e.track.id)
    this.#deps.defer(() => ids.forEach((id) => this.#deps.renderer.removeTrack(id)))
  }

  /** Stops the call's local tracks, closes its peer connection, stops its timers. Idempotent. */
  #releaseMedia(call: Call, report: boolean): void {
    this.#stopAudit(call)
    call.queue.close()
    if (call.answerWaiter) call.answerWaiter.reject(new SdkError('call:6', 'The call ended'))
    for (const entry of this.#deps.tracks.all()) {
      if (entry.callId !== call.id) continue
      if (entry.isLocal) this.#deps.tracks.stop(entry.track.id)
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
        this.#deps.emit('call:mediaConnectionChange', { callId: call.id, previous: { state: prev } })
      }
    }
    for (const fn of call.cleanups.splice(0)) fn()
  }

  /** added(X): `call:tracksAdded` once, then `call:newTrack` per track (sdk-api §5.4.5). */
  #tracksAdded(call: Call, ids: string[]): void {
    if (ids.length === 0) return
    this.#deps.emit('call:tracksAdded', { callId: call.id, trackIds: [...ids] })
    for (const id of ids) {
      const e = this.#deps.tracks.get(id)
      this.#deps.emit('call:newTrack', {
        callId: call.id,
        mediaId: e?.streamId ?? '',
        trackId: id,
        local: e?.isLocal ?? false,
      })
    }
  }

  /** removed(X): `call:tracksRemoved` once, then `call:trackEnded` per track. */
  #tracksRemoved(call: Call, ids: string[]): void {
    if (ids.length === 0) return
    this.#deps.emit('call:tracksRemoved', { callId: call.id, trackIds: [...ids] })
    for (const id of ids) {
      const e = this.#deps.tracks.get(id)
      this.#deps.emit('call:trackEnded', {
        callId: call.id,
        mediaId: e?.streamId ?? '',
        trackId: id,
        local: e?.isLocal ?? false,
      })
    }
  }

  // ─── helpers: media ─────────────────────────────────────────────────────────────────────────

  /** Gets the media of `make`/`answer` and makes its tracks the call's own. */
  async #acquire(call: Call, req: MediaRequest): Promise<void> {
    for (const stream of await this.#acquireStreams(call, req))
      for (const track of stream.getTracks()) call.ownedLocalTracks.push(track.id)
  }

  /**
   * Gets the requested media and registers its tracks with the call, so they are stopped with it;
   * `devices:error` on failure (sdk-api §6.8). Returns nothing once the call has ended meanwhile.
   */
  async #acquireStreams(call: Call, req: MediaRequest): Promise<MediaStream[]> {
    const streams: MediaStream[] = []
    try {
      if (req.audio || req.video)
        streams.push(await this.#deps.engine.getUserMedia(userMediaConstraints(req)))
      if (req.screen) streams.push(await this.#deps.engine.getDisplayMedia(displayMediaConstraints(req)))
    } catch (err) {
      streams.forEach((s) => s.getTracks().forEach((t) => t.stop()))
      const error = this.#mediaError(err)
      this.#deps.emit('devices:error', { error })
      throw new SdkError(error.code, error.message)
    }
    if (call.terminal) {
      streams.forEach((s) => s.getTracks().forEach((t) => t.stop()))
      return []
    }
    for (const stream of streams) {
      call.localStreams.push(stream)
      for (const track of stream.getTracks())
        this.#deps.tracks.add(track, { isLocal: true, streamId: stream.id, callId: call.id })
    }
    return streams
  }

  #mediaError(err: unknown): BasicError {
    const e = err as { name?: unknown; message?: unknown } | undefined
    const name = typeof e?.name === 'string' ? e.name : 'Error'
    const message =
      typeof e?.message === 'string' && e.message ? e.message : 'Local media could not be obtained'
    return basicError('call:4', `${name}: ${message}`)
  }

  /** A peer connection with the configured ICE servers, TURN credentials written into every entry (§7.2). */
  #createSession(call: Call): PeerSession {
    const cfg = this.#deps.config().call
    const peer = cloneConfig(cfg.defaultPeerConfig)
    const creds = cfg.serverTurnCredentials ? this.#deps.turn.current : undefined
    if (creds)
      peer.iceServers = peer.iceServers.map((s) => ({
        ...s,
        username: creds.username,
        credential: creds.credential,
      }))
    let session: PeerSession
    try {
      session = this.#deps.engine.createPeer(peer as unknown as RTCConfiguration, {
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
      this.#deps.tracks.add(track, {
        isLocal: false,
        streamId: streamId ?? `remote-${call.id}`,
        callId: call.id,
      })
    })
    session.events.on('iceConnectionState', ({ state }) => {
      if (call.terminal || call.mediaConnectionState === state) return
      const prev = call.mediaConnectionState
      call.mediaConnectionState = state
      this.#deps.emit('call:mediaConnectionChange', { callId: call.id, previous: { state: prev } })
    })
    return session
  }

  /** Remote tracks being received now, registered, by id. */
  #receiving(call: Call): string[] {
    const session = call.session
    if (!session) return []
    const ids: string[] = []
    for (const info of session.receivingTracks()) {
      if (info.track.readyState === 'ended') continue
      this.#deps.tracks.add(info.track, {
        isLocal: false,
        streamId: info.streamId ?? `remote-${call.id}`,
        callId: call.id,
      })
      if (!ids.includes(info.track.id)) ids.push(info.track.id)
    }
    return ids
  }

  /**
   * Creates an offer or answer, applies it locally, waits for ICE and returns the SDP to send:
   * handlers run before it is applied ("set") and again before it is sent ("send"), and the
   * trickle option is removed (protocol.md §10.2).
   */
  async #negotiateLocal(
    call: Call,
    session: PeerSession,
    type: 'offer' | 'answer',
    operation: string,
    opts: { iceRestart?: boolean; freshTransport?: boolean } = {},
  ): Promise<string> {
    const created = await this.#step(type === 'offer' ? 'call:9' : 'call:11', () =>
      type === 'offer'
        ? session.createOffer({ iceRestart: opts.iceRestart === true })
        : session.createAnswer(),
    )
    const local = this.#sdp(call, created, { type, step: 'set', endpoint: 'local' })
    await this.#step(type === 'offer' ? 'call:3' : 'call:11', () => session.setLocalDescription(type, local))
    const gathered = await this.#gather(call, session, operation, opts.freshTransport === true)
    return stripTrickle(this.#sdp(call, gathered, { type, step: 'send', endpoint: 'local' }))
  }

  #gather(call: Call, session: PeerSession, operation: string, freshTransport: boolean): Promise<string> {
    const c = this.#deps.config().call
    const timeouts = () => {
      const now = this.#deps.config().call
      return {
        iceCollectionIdealTimeout: now.iceCollectionIdealTimeout,
        iceCollectionMaxTimeout: now.iceCollectionMaxTimeout,
      }
    }
    let check: (info: IceCollectionInfo) => IceCollectionCheckResult
    let hardTimeout = Math.max(10_000, c.iceCollectionMaxTimeout * 2)
    const custom = c.iceCollectionCheckFunction
    const legacy = c.iceCollectionCheck
    if (custom) {
      check = (info) => custom(info, timeouts())
      hardTimeout = Math.max(30_000, hardTimeout)
    } else if (legacy) {
      check = legacyIceCheck(legacy, {
        iceCollectionDelay: c.iceCollectionDelay,
        maxIceTimeout: c.iceCollectionMaxTimeout,
      })
    } else {
      check = (info) => defaultIceCheck(info, timeouts())
    }
    // Only the initial offer and answer must carry candidates (protocol.md §10.2) — and the first
    // description of a rebuilt peer connection, which has no transport yet.
    const allowNoCandidates = !freshTransport && operation !== 'MAKE' && operation !== 'ANSWER'
    return session
      .gatherIce({
        check: (info) => check({ ...info, callId: call.id, callOperation: operation }),
        hardTimeout,
        allowNoCandidates,
      })
      .catch((err: unknown) => {
        throw new SdkError('call:10', err instanceof Error ? err.message : 'ICE collection failed')
      })
  }

  #sdp(call: Call, sdp: string, info: Omit<SdpHandlerInfo, 'callId'>): string {
    const cfg = this.#deps.config().call
    const handlers: SdpHandlerFunction[] = cfg.sdpHandlers
    return runSdpPipeline(
      sdp,
      { callId: call.id, ...info },
      {
        removeH264Codecs: cfg.removeH264Codecs,
        removeBundling: cfg.removeBundling,
        handlers,
        log: this.#deps.log,
      },
    )
  }

  /** Runs a media step; a foreign exception becomes an SdkError with `code`. */
  async #step<T>(code: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof SdkError) throw err
      const e = err as { name?: unknown; message?: unknown }
      throw new SdkError(
        code,
        `${typeof e?.name === 'string' ? e.name : 'Error'}: ${typeof e?.message === 'string' ? e.message : String(err)}`,
      )
    }
  }

  #errorOf(err: unknown, fallback: string): BasicError {
    if (!(err instanceof SdkError)) this.#deps.log.error('unexpected failure', err)
    return toBasicError(err, fallback)
  }

  // ─── helpers: signalling ────────────────────────────────────────────────────────────────────

  /** A destination (make, forward, transfer) as the wire wants it (protocol.md §8.1), or undefined when empty. */
  #address(destination: unknown): string | undefined {
    if (typeof destination !== 'string') return undefined
    const tokens = this.#deps.tokens()
    const own = tokens?.identity ?? (tokens?.username.includes('@') ? tokens.username : undefined)
    return this.#deps.config().call.normalizeDestination
      ? normalizeDestination(destination, own)
      : destination.trim() || undefined
  }

  #sessionOf(call: Call): PeerSession {
    if (!call.session) throw new SdkError('call:3', 'The call has no media session')
    return call.session
  }

  #basePath(): string {
    const tokens = this.#deps.tokens()
    if (!tokens) throw new SdkError('call:2', 'No tokens: call setTokens first')
    return signalingPath(this.#deps.config().authentication.server.version, tokens.username)
  }

  #legPath(call: Call): string {
    if (!call.legId) throw new SdkError('call:2', 'The call has no session on the server')
    return `${this.#basePath()}/sessions/${call.legId}`
  }

  #correlator(): string | undefined {
    return this.#deps.config().authentication.clientCorrelator
  }

  #sendStatus(call: Call, status: 'Ringing' | 'Connected'): Promise<unknown> {
    return this.#deps.rest.request('PUT', `${this.#legPath(call)}/status`, {
      wrtcsSessionStatus: { clientCorrelator: this.#correlator(), status },
    })
  }

  /** `DELETE …/sessions/{legId}`, once per call; the reply is only logged (protocol.md §8.5). */
  #sendDelete(call: Call, keepalive = false): void {
    if (!call.legId || call.deleteSent) return
    call.deleteSent = true
    let path: string
    try {
      path = this.#legPath(call)
    } catch {
      return
    }
    this.#deps.rest
      .request('DELETE', path, undefined, { keepalive })
      .catch((err: unknown) => this.#deps.log.info('session DELETE failed', err))
  }

  #warnOptions(options: unknown): void {
    const o = options as { bandwidth?: unknown; dscpControls?: unknown } | undefined
    if (o?.bandwidth) this.#deps.log.warn('call options: bandwidth limits are not supported yet; ignored')
    if (o?.dscpControls) this.#deps.log.warn('call options: dscpControls are not supported yet; ignored')
  }
}
