/**
 * The call registry and the public call operations (sdk-api §5, protocol.md §8, §9, §11). `call/` is
 * the only layer that joins media (the peer connection) and signalling (REST requests,
 * notifications); this class is its thin coordinator: it owns the registry and hands the shared
 * context to the module of each operation.
 *
 * Per call, everything that touches the peer connection's negotiation — outgoing set-up, incoming
 * set-up, answer, acceptance, local re-offers and remote re-offers — runs through the call's own
 * AsyncQueue, so offers and answers never interleave (architecture §4). `end` never waits: it
 * closes the queue, releases the media at once and tells the server.
 *
 * The modules: outgoing.ts, incoming.ts (set-up), notifications.ts and remote-offer.ts (what the
 * server tells us), negotiation.ts (offer/answer, glare, rollback), hold.ts, media-ops.ts,
 * transfer.ts, dtmf.ts, stats.ts, audit.ts, source-events.ts, teardown.ts (the end of a call), and
 * the shared helpers in operations.ts, track-events.ts, call-media.ts and wire.ts.
 */
import { SdkError } from '../core/errors.js'
import type { Call, CallObject } from './call.js'
import { EarlyNotifications, type CallContext, type CallManagerDeps } from './context.js'
import * as dtmf from './dtmf.js'
import * as holdOps from './hold.js'
import * as incoming from './incoming.js'
import * as mediaOps from './media-ops.js'
import * as notifications from './notifications.js'
import * as outgoing from './outgoing.js'
import * as sourceEvents from './source-events.js'
import * as stats from './stats.js'
import * as teardown from './teardown.js'
import * as transfer from './transfer.js'
import * as wire from './wire.js'

export type { CallManagerDeps } from './context.js'

/** The SDK's calls: registry, operations and notification handling (one per client). */
export class CallManager {
  readonly #calls = new Map<string, Call>()
  readonly #byLeg = new Map<string, Call>()
  #destroyed = false
  readonly #ctx: CallContext

  constructor(deps: CallManagerDeps) {
    this.#ctx = {
      deps,
      calls: this.#calls,
      byLeg: this.#byLeg,
      isDestroyed: () => this.#destroyed,
      early: new EarlyNotifications(),
    }
    deps.tracks.events.on('mute', (e) => sourceEvents.onSourceMute(this.#ctx, e, true))
    deps.tracks.events.on('unmute', (e) => sourceEvents.onSourceMute(this.#ctx, e, false))
    deps.tracks.events.on('ended', (e) => sourceEvents.onTrackEnded(this.#ctx, e))
    // Asks the browser once for the camera and microphone permission states (no prompt), so that the first
    // incoming call can already start its devices while it rings without waiting for the answer (issue 14).
    void Promise.resolve(deps.engine.mediaPermitted(['camera', 'microphone'])).catch(() => undefined)
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

  // ─── set-up and end ─────────────────────────────────────────────────────────────────────────

  /** `call.make` (sdk-api §5.3.1): returns the id at once; the set-up continues asynchronously. */
  make(destination: unknown, media: unknown, options?: unknown): string {
    return outgoing.make(this.#ctx, destination, media, options)
  }

  /** `call.answer` (sdk-api §5.3.2). */
  answer(callId: unknown, media: unknown, options?: unknown): void {
    incoming.answer(this.#ctx, callId, media, options)
  }

  /** `call.reject` (sdk-api §5.3.3). */
  reject(callId: unknown): void {
    incoming.reject(this.#ctx, callId)
  }

  /** `call.ignore` (sdk-api §5.3.4): ends the call here only; the server is told nothing. */
  ignore(callId: unknown): void {
    incoming.ignore(this.#ctx, callId)
  }

  /** `call.sendRingingFeedback` (sdk-api §5.3.5). */
  sendRingingFeedback(callId: unknown): void {
    incoming.sendRingingFeedback(this.#ctx, callId)
  }

  /** `call.end` (sdk-api §5.3.8): from any non-terminal state; never waits for anything. */
  end(callId: unknown): void {
    teardown.end(this.#ctx, callId)
  }

  // ─── mid-call: hold, unhold, media changes, media restart ────────────────────────────────────

  /** `call.hold` (sdk-api §5.3.6): a re-offer with every m-line inactive (protocol.md §10.3). */
  hold(callId: unknown): void {
    holdOps.holdOrUnhold(this.#ctx, callId, 'HOLD', true)
  }

  /** `call.unhold` (sdk-api §5.3.7): each kind `sendrecv` with a local track, else `recvonly`. */
  unhold(callId: unknown): void {
    holdOps.holdOrUnhold(this.#ctx, callId, 'UNHOLD', false)
  }

  /** `call.restartMedia` (sdk-api §5.3.20): an ICE-restart re-offer keeping the hold directions. */
  restartMedia(callId: unknown): void {
    mediaOps.restartMedia(this.#ctx, callId)
  }

  /** `call.addMedia` (sdk-api §5.3.10); also screen sharing with `{ screen: true }` (§5.3.14). */
  addMedia(callId: unknown, media: unknown = {}, options?: unknown): void {
    mediaOps.addMedia(this.#ctx, callId, media, options)
  }

  /** `call.startVideo` (sdk-api §5.3.12): one camera track, unless the call already sends video. */
  startVideo(callId: unknown, videoOptions?: unknown, options?: unknown): void {
    mediaOps.startVideo(this.#ctx, callId, videoOptions, options)
  }

  /** `call.removeMedia` (sdk-api §5.3.11). */
  removeMedia(callId: unknown, tracks: unknown, options?: unknown): void {
    mediaOps.removeMedia(this.#ctx, callId, tracks, options)
  }

  /** `call.stopVideo` (sdk-api §5.3.13): removes the call's only local video-kind track. */
  stopVideo(callId: unknown): void {
    mediaOps.stopVideo(this.#ctx, callId)
  }

  /** `call.replaceTrack` (sdk-api §5.3.17): swap one local track for a new one of the same kind. */
  replaceTrack(callId: unknown, trackId: unknown, media: unknown = {}): void {
    mediaOps.replaceTrack(this.#ctx, callId, trackId, media)
  }

  // ─── forward and transfers ──────────────────────────────────────────────────────────────────

  /** `call.forward` (sdk-api §5.3.23, protocol.md §8.6, §11.15): redirect an unanswered incoming call. */
  forward(callId: unknown, destination: unknown): void {
    transfer.forward(this.#ctx, callId, destination)
  }

  /** `call.directTransfer` (sdk-api §5.3.23, protocol.md §8.7, §11.16): blind transfer of a held call. */
  directTransfer(callId: unknown, destination: unknown): void {
    transfer.directTransfer(this.#ctx, callId, destination)
  }

  /** `call.consultativeTransfer` (sdk-api §5.3.23, protocol.md §8.7, §11.17): joins the parties of two held calls. */
  consultativeTransfer(callId: unknown, otherCallId: unknown): void {
    transfer.consultativeTransfer(this.#ctx, callId, otherCallId)
  }

  // ─── stats, DTMF, codecs ────────────────────────────────────────────────────────────────────

  /** `call.getStats` (sdk-api §5.3.16). */
  getStats(callId: unknown, trackId?: unknown): Promise<Map<string, unknown>> {
    return stats.getStats(this.#ctx, callId, trackId)
  }

  /** `call.sendDTMF` (sdk-api §5.3.15): RFC 4733 telephone-event through the audio sender. */
  sendDTMF(callId: unknown, tone: unknown, duration: unknown = 100, intertoneGap: unknown = 70): void {
    dtmf.sendDTMF(this.#ctx, callId, tone, duration, intertoneGap)
  }

  /** `call.getAvailableCodecs` (sdk-api §5.3.18). */
  getAvailableCodecs(kind: unknown): Promise<RTCRtpCodec[]> {
    return stats.getAvailableCodecs(this.#ctx, kind)
  }

  // ─── notifications ──────────────────────────────────────────────────────────────────────────

  /** Routes one notification (protocol.md §9) to its call by the leg id in `link[0].href`. */
  handleNotification(kind: string, body: Record<string, unknown>): void {
    notifications.handleNotification(this.#ctx, kind, body)
  }

  // ─── teardown ───────────────────────────────────────────────────────────────────────────────

  /** Best-effort DELETE for every live call, e.g. on `pagehide` (protocol.md §14.7). */
  goodbye(): void {
    for (const call of this.#calls.values()) if (!call.terminal) wire.sendDelete(this.#ctx, call, true)
  }

  /** Ends everything without events (the bus is already closed): goodbye, media released. */
  destroy(): void {
    if (this.#destroyed) return
    this.goodbye()
    this.#destroyed = true
    for (const call of this.#calls.values()) {
      teardown.stopAudit(call)
      call.queue.close()
      call.answerWaiter?.reject(new SdkError('call:6', 'The SDK was destroyed'))
      teardown.releaseMedia(this.#ctx, call, false)
    }
  }
}
