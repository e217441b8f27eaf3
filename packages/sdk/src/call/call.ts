/**
 * One call's internal record. Public state is exposed only through `snapshot()` (sdk-api §5.1.1);
 * the state itself changes only through the state machine.
 */
import { AsyncQueue } from '../core/async-queue.js'
import type { BasicError } from '../core/errors.js'
import type { MediaOffered } from '../core/types.js'
import type { PeerSession } from '../media/engine.js'
import { CallStateMachine, isTerminal, type CallState } from './states.js'

/** Snapshot returned by `call.getById` / `call.getAll` (sdk-api §5.1.1). */
export interface CallObject {
  /** Call id (returned by `make`, or given by `call:receive`). */
  id: string
  /** Who placed the call (`user@domain`). */
  from: string
  /** Who the call was placed to. */
  to: string
  /** Side of this client. */
  direction: 'outgoing' | 'incoming'
  /** One of the `call.states` values. */
  state: CallState
  /** One of the `call.mediaConnectionStates` values; `'new'` until a peer connection exists. */
  mediaConnectionState: string
  /** This side has the call on hold. */
  localHold: boolean
  /** The other side has the call on hold. */
  remoteHold: boolean
  /** Ids of the local tracks on the call (being sent); empty while held and after the end. */
  localTracks: string[]
  /** Ids of the remote tracks on the call; empty while held and after the end. */
  remoteTracks: string[]
  /** Incoming calls only: the media kinds the caller offered. */
  mediaOffered?: MediaOffered
  /** The other party: its user id (`displayNumber`) and display name when known. */
  remoteParticipant: { displayNumber?: string; displayName?: string }
  /** Bandwidth limits in force (`{}` when none). */
  bandwidth: { call?: number; audio?: number; video?: number }
  /** Milliseconds since the epoch when the call object was created. */
  startTime: number
  /** Milliseconds since the epoch when the call reached `Ended` or `Cancelled`. */
  endTime?: number
}

export interface PreviousState {
  state: CallState
  localHold: boolean
  remoteHold: boolean
}

/** An operation in progress, for `call:operation`'s `previous` (sdk-api §5.4.4). */
export interface RunningOperation {
  name: string
  status: 'ONGOING' | 'PENDING'
}

export class Call {
  readonly id: string
  readonly direction: 'outgoing' | 'incoming'
  readonly startTime = Date.now()
  readonly queue = new AsyncQueue()
  readonly #machine = new CallStateMachine()
  from = ''
  to = ''
  remoteParticipant: { displayNumber?: string; displayName?: string } = {}
  mediaOffered: MediaOffered | undefined
  bandwidth: { call?: number; audio?: number; video?: number } = {}
  endTime: number | undefined
  /** This side's leg id (protocol.md §2.4): from the create reply or the invitation's link. */
  legId: string | undefined
  localHold = false
  remoteHold = false
  mediaConnectionState: string = 'new'
  /** Tracks currently available on the call (empty while held). */
  localTracks: string[] = []
  remoteTracks: string[] = []
  /** Every local track the call owns, held or not. */
  ownedLocalTracks: string[] = []
  localStreams: MediaStream[] = []
  session: PeerSession | undefined
  /** The remote SDP last applied (for comparing re-offers, protocol.md §10.3). */
  remoteSdp: string | undefined
  /** The local operation in progress (MAKE, ANSWER, HOLD…), if any. */
  operation: RunningOperation | undefined
  /** `call:receive` was emitted (incoming calls). */
  receiveEmitted = false
  /** Settles the wait for a `wrtcsAnswerNotification` after our re-offer. */
  answerWaiter: { resolve: (sdp: string) => void; reject: (err: Error) => void } | undefined
  /** Remote offers received so far (the glare rule waits for the next one, protocol.md §11.12). */
  remoteOffers = 0
  readonly #offerListeners = new Set<() => void>()
  auditTimer: ReturnType<typeof setTimeout> | undefined
  auditing = false
  /** The quality monitor (quality.ts), once started. */
  quality: { stop(): void } | undefined
  /** The session DELETE was sent (at most once). */
  deleteSent = false
  /** Listeners to drop at the end. */
  readonly cleanups: Array<() => void> = []
  /**
   * Incoming calls: the camera/microphone started while the call rings (`call.prepareAnswerMedia`), for
   * an answer whose getUserMedia constraints serialise to `key`; `taken` once the answer uses it; `attached`
   * once its tracks are on the peer connection's senders (nothing is sent before the answer is applied).
   */
  earlyMedia:
    { key: string; stream: Promise<MediaStream | undefined>; taken: boolean; attached: boolean } | undefined

  constructor(id: string, direction: 'outgoing' | 'incoming') {
    this.id = id
    this.direction = direction
  }

  get state(): CallState {
    return this.#machine.state
  }

  get terminal(): boolean {
    return isTerminal(this.#machine.state)
  }

  can(to: CallState): boolean {
    return this.#machine.can(to)
  }

  transition(to: CallState, reason: string): void {
    this.#machine.transition(to, reason)
    if (isTerminal(to)) this.endTime = Date.now()
  }

  previous(): PreviousState {
    return { state: this.state, localHold: this.localHold, remoteHold: this.remoteHold }
  }

  /** Waits for the answer to a re-offer; set up before sending the offer so an early answer is kept. */
  expectAnswer(): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.answerWaiter = {
        resolve: (sdp) => {
          this.answerWaiter = undefined
          resolve(sdp)
        },
        reject: (err) => {
          this.answerWaiter = undefined
          reject(err)
        },
      }
    })
  }

  /** Counts a remote offer that has just arrived. */
  offerArrived(): void {
    this.remoteOffers++
    for (const fn of [...this.#offerListeners]) fn()
  }

  /** Resolves once more than `seen` remote offers have arrived, or after `timeoutMs`. */
  offerSince(seen: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.remoteOffers > seen) return resolve()
      const done = () => {
        clearTimeout(timer)
        this.#offerListeners.delete(done)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      this.#offerListeners.add(done)
    })
  }

  snapshot(): CallObject {
    const out: CallObject = {
      id: this.id,
      from: this.from,
      to: this.to,
      direction: this.direction,
      state: this.state,
      mediaConnectionState: this.mediaConnectionState,
      localHold: this.localHold,
      remoteHold: this.remoteHold,
      localTracks: [...this.localTracks],
      remoteTracks: [...this.remoteTracks],
      remoteParticipant: { ...this.remoteParticipant },
      bandwidth: { ...this.bandwidth },
      startTime: this.startTime,
    }
    if (this.mediaOffered) out.mediaOffered = { ...this.mediaOffered }
    if (this.endTime !== undefined) out.endTime = this.endTime
    return out
  }
}

/** Error of an operation, with the operation's name. */
export interface OperationFailure {
  operation: string
  error: BasicError
}
