import { randomUUID } from 'node:crypto'
import {
  EVENT_REASONS,
  sessionResourceUrl,
  type EventNotification,
  type EventReason,
  type Notification,
  type SessionCreateResponse,
  type SessionStatusResponse,
} from '@parley/protocol'
import { ConflictError, type Call, type Channel, type Leg, type Timer, type User } from '../store/types.js'
import type { ServiceContext } from './context.js'
import { apiError, ApiError } from './errors.js'
import { newId } from './ids.js'
import { checkAnonymousCall, forbidAnonymous, isAnonymousUser } from './anonymous.js'
import { KeyedMutex } from './keyed-mutex.js'
import type { Notifier } from './notifier.js'
import { statusOf, transition } from './session-machine.js'
import type { Actor } from './tokens.js'
import { callerIdFor, lookupInboundNumber } from './numbers.js'
import { phoneNumberOf, sipFailureReason, TRUNK_USER_ID } from './pstn.js'
import { GatewayCall, resumedSdp } from '../media-gateway/flag-sets.js'
import {
  SipError,
  type SipCallEvents,
  type SipDialogCall,
  type SipDialogState,
  type SipInboundCall,
  type SipInboundInvite,
  type SipOutboundCall,
} from '../sip/types.js'

/** Writes the HTTP response of an operation; resolves once it is written (protocol §8.1 ordering). */
export type Respond = (status: number, body?: unknown) => Promise<void>

/** Timer kinds handled by `SessionService.fireTimer`. */
export const TIMER_KINDS = ['no-answer', 'repeat', 'repush', 'guard', 'transfer'] as const

interface Plan {
  newCalls: Call[]
  newLegs: Leg[]
  calls: Map<string, Call>
  legs: Map<string, Leg>
  reply?: { status: number; body?: unknown }
  error?: ApiError
  notes: { leg: Leg; frame: Notification }[]
  timers: Timer[]
  cancelTimers: string[]
  /** Calls answered and ended by this plan, logged and counted once it is committed. */
  answered: { call: Call; legId: string }[]
  ended: Call[]
  /** Inbound PSTN calls that started ringing or were answered here: 180 / 200 toward the trunk after the commit. */
  pstnRinging: string[]
  pstnAnswers: { callId: string; sdp: string }[]
  /**
   * Re-offers between a browser and the trunk (hold, unhold…), relayed through the gateway after the commit;
   * `fresh`: the first offer of a browser that a consultative transfer joined to the phone side (a new gateway call).
   */
  pstnReoffers: { callId: string; fromLegId: string; sdp: string; dtls: BrowserDtls; fresh?: boolean }[]
  pstnReanswers: { callId: string; sdp: string; dtls: BrowserDtls }[]
  /** Calls to numbers made or forwarded or transferred to one in a step, dialled after the commit. */
  pstnDials: { callId: string; sdp: string }[]
  /** Transfers of a phone side waiting for the gateway's fresh offer (the trunk has no slow start). */
  pstnFreshOffers: string[]
  /** A transfer moved a SIP dialog to a new call with a new gateway call: re-keyed right after the commit. */
  pstnMoves: { from: string; to: string; gateway: GatewayCall }[]
  /** The target of a moved phone side answered: its answer goes to the trunk in a re-INVITE. */
  pstnMovedAnswers: { callId: string; sdp: string }[]
}

/** rtpengine's DTLS role toward the browser, fixed by the first exchange: it never changes in a re-offer. */
type BrowserDtls = 'active' | 'passive'
const browserDtlsOf = (pstn: NonNullable<Call['pstn']>): BrowserDtls =>
  pstn.browserDtls ?? (pstn.direction === 'outbound' ? 'active' : 'passive')

const emptyPlan = (): Plan => ({
  newCalls: [],
  newLegs: [],
  calls: new Map(),
  legs: new Map(),
  notes: [],
  timers: [],
  cancelTimers: [],
  answered: [],
  ended: [],
  pstnRinging: [],
  pstnAnswers: [],
  pstnReoffers: [],
  pstnReanswers: [],
  pstnDials: [],
  pstnFreshOffers: [],
  pstnMoves: [],
  pstnMovedAnswers: [],
})

/** How a call ends: which events the remaining legs get (protocol §9.5 table). */
interface Ending {
  /** The leg that ended it by itself (gets no event). */
  actorLegId?: string
  /** For answered legs and the caller. */
  end: EventReason
  /** For unanswered callee legs (never answered legs, protocol §9.5 MUST). */
  cancel: EventReason
  /** Call record reason. */
  reason: string
}

/** A PSTN call's live objects on this node: its media gateway call and, once sent, its INVITE (issue 11). */
interface PstnHandle {
  /** The Parley call the SIP dialog belongs to now: a transfer of the phone side moves it to a new call. */
  callId: string
  gateway: GatewayCall
  sip: SipOutboundCall | undefined
  /** Inbound calls: the trunk's INVITE, answered 200 / refused once a callee answers or the call ends. */
  inbound?: SipInboundCall
  /** The trunk answered 2xx: ending the call is a BYE, not a CANCEL. */
  answered: boolean
  /** A dialog of an answered call restored from the store after a restart (either direction). */
  restored?: SipDialogCall
  /** The trunk's re-INVITE waiting for the browser's answer (its 200 OK or failure). */
  trunkReoffer?: { answer(sdp: string): void; reject(status?: number): void }
}

/** The established SIP dialog of a PSTN call, whichever way it came about. */
const dialogOfHandle = (h: PstnHandle) => (h.answered ? (h.sip ?? h.inbound ?? h.restored) : undefined)

/** The telephone side of a call to a number (issue 11): the gateway call is named after the call. */
const outboundPstn = (callId: string, number: string, localNumber: string, trunkLegId: string) => ({
  direction: 'outbound' as const,
  number,
  localNumber,
  gatewayCallId: callId,
  trunkLegId,
  dialog: null,
  sipStatus: null,
})

const link = (leg: Leg) => [{ href: sessionResourceUrl(leg.username, leg.id), rel: 'WebrtcSession' as const }]

/**
 * Call signalling (protocol §8, §11): sessions, their routing between legs, the order of notifications,
 * and the timers that repair the clients' races. Every operation on a call runs under that call's lock,
 * commits with optimistic versions, writes its response, then queues its notifications.
 */
export class SessionService {
  readonly #ctx: ServiceContext
  readonly #notifier: Notifier
  readonly #locks = new KeyedMutex()
  /** PSTN calls of this node by call id; removed when the call ends (the end's hook hangs up the SIP side). */
  readonly #pstn = new Map<string, PstnHandle>()

  constructor(ctx: ServiceContext, notifier: Notifier) {
    this.#ctx = ctx
    this.#notifier = notifier
  }

  // ── requests ────────────────────────────────────────────────────────────────────────────────────────

  /** `POST …/sessions` (§8.1): create the call, answer 201, then invite every callee channel. */
  async create(
    actor: Actor,
    input: { address: string; sdp: string; displayName?: string; correlator?: string },
    respond: Respond,
  ): Promise<void> {
    // A cap on concurrent calls per user keeps one account from tying up the platform.
    if (
      (await this.#ctx.store.countActiveLegsByUser(actor.userId)) >=
      this.#ctx.config.rateLimits.concurrentCallsPerUser
    ) {
      throw apiError('TOO_MANY_CALLS')
    }
    // Anonymous callers (issue 15) call allow-listed destinations only (403), within their account's cap.
    if (actor.anonymous)
      await checkAnonymousCall(
        this.#ctx,
        actor,
        input.address,
        await this.#resolveIn(actor.accountId, actor, input.address),
      )
    const user = await this.#resolveIn(actor.accountId, { username: actor.username }, input.address)
    // A phone number that names no user of the account goes to the SIP trunk (issue 11), if there is one.
    const number = user ? undefined : phoneNumberOf(input.address)
    if (number !== undefined && this.#ctx.sipTrunk && this.#ctx.mediaGateway)
      return this.#createPstn(actor, input, number, respond)
    if (!user) throw apiError('NOT_FOUND_INPUT', 'tParticipantAddress')
    const callee = user
    const channels = await this.#reachableChannels(callee, 'tParticipantAddress')
    const callId = newId('call')
    await this.#execute([callId], respond, async () => {
      const now = this.#ctx.clock.now()
      const plan = emptyPlan()
      const callerLeg = this.#newLeg(callId, actor.userId, actor.username, 'caller', null, now)
      const call = newOutgoingCall(callId, actor, input, callerLeg.id, callee.username, now)
      plan.newCalls.push(call)
      plan.newLegs.push(callerLeg)
      this.#invite(plan, call, callee, channels, input.sdp, now)
      plan.reply = createdReply(actor, callerLeg.id, input)
      return plan
    })
  }

  /**
   * `POST …/sessions` to a phone number (issue 11): the call's callee is a leg standing for the trunk. The caller
   * gets 201 at once; the browser's offer then goes through the media gateway (WebRTC → RTP/AVP) into an INVITE
   * from the caller's number. A user without a number gets 403 `SVC0403`, the error the protocol gives for a
   * destination the caller may not call (as for anonymous callers, §8.1 / issue 15).
   */
  async #createPstn(
    actor: Actor,
    input: SessionCreateInput,
    number: string,
    respond: Respond,
  ): Promise<void> {
    const callerId = await callerIdFor(this.#ctx, actor.userId)
    if (!callerId) throw apiError('FORBIDDEN')
    const callId = newId('call')
    await this.#execute([callId], respond, () => {
      const now = this.#ctx.clock.now()
      const plan = emptyPlan()
      const callerLeg = this.#newLeg(callId, actor.userId, actor.username, 'caller', null, now)
      const trunkLeg = this.#newLeg(callId, TRUNK_USER_ID, number, 'callee', null, now)
      const call: Call = {
        ...newOutgoingCall(callId, actor, input, callerLeg.id, number, now),
        pstn: outboundPstn(callId, number, callerId, trunkLeg.id),
      }
      plan.newCalls.push(call)
      plan.newLegs.push(callerLeg, trunkLeg)
      // The trunk may ring for ever: the no-answer timer bounds it as for a browser callee (§11.8).
      plan.timers.push(this.#timer('no-answer', call.id, now + this.#ctx.config.timings.noAnswerMs))
      plan.pstnDials.push({ callId, sdp: input.sdp })
      plan.reply = createdReply(actor, callerLeg.id, input)
      return Promise.resolve(plan)
    })
  }

  /**
   * An INVITE from the trunk (issue 11): the called number's user is invited on every call-subscribed channel as
   * for a browser caller, with rtpengine's WebRTC version of the trunk's offer; `originatorAddress` is
   * `sip:+CALLING@domain`. Unknown or unassigned numbers get 404, a user with no subscribed device 480, no media
   * gateway 503. The trunk stands as the caller leg (no user, no channel).
   */
  async inboundPstn(sip: SipInboundCall, invite: SipInboundInvite): Promise<void> {
    const log = this.#ctx.log.child({ sipCallId: sip.callId, from: invite.from, to: invite.to })
    const gatewayApi = this.#ctx.mediaGateway
    if (!gatewayApi) return void sip.reject(503, 'Service Unavailable')
    const target = await lookupInboundNumber(this.#ctx, invite.to)
    if (!target?.userId) {
      log.info('inbound PSTN call to a number with no user here: 404')
      return void sip.reject(404, 'Not Found')
    }
    const user = await this.#ctx.store.getUser(target.userId)
    const channels = user ? await this.#ctx.store.listSubscribedChannels(user.id) : []
    if (!user || channels.length === 0) {
      log.info('inbound PSTN call to a user with no subscribed device: 480')
      return void sip.reject(480, 'Temporarily Unavailable')
    }
    const callId = newId('call')
    const trunkLeg = this.#newLeg(callId, TRUNK_USER_ID, invite.from, 'caller', null, this.#ctx.clock.now())
    const handle: PstnHandle = {
      callId,
      gateway: new GatewayCall(gatewayApi, callId, `${callId}-webrtc`, trunkLeg.id),
      sip: undefined,
      inbound: sip,
      answered: false,
    }
    let offer: string
    try {
      offer = await handle.gateway.offerToBrowser(invite.sdp)
    } catch (err) {
      log.warn({ err }, 'inbound PSTN call: the media gateway refused or did not answer the offer')
      sip.reject(503, 'Service Unavailable')
      await handle.gateway.end().catch(() => undefined)
      return
    }
    this.#pstn.set(callId, handle)
    const failed = (err: unknown) => log.error({ err }, 'inbound PSTN call: handling a trunk event failed')
    sip.on('cancelled', () => {
      log.info('inbound PSTN call: the trunk cancelled')
      this.#pstnEnded(callId, handle, EVENT_REASONS.callerCancelled, 487, 'cancelled by caller').catch(failed)
    })
    sip.on('ended', ({ by }) => {
      log.info({ by }, 'inbound PSTN call: the trunk ended the dialog')
      this.#pstnEnded(handle.callId, handle, EVENT_REASONS.remoteEnded, undefined, 'ended by caller').catch(
        failed,
      )
    })
    sip.on('dialog', this.#keepDialog(handle, log))
    sip.on('reoffer', this.#trunkReoffer(handle, log))
    await this.#execute([callId], undefined, () => {
      const now = this.#ctx.clock.now()
      const plan = emptyPlan()
      const call: Call = {
        id: callId,
        accountId: user.accountId,
        state: 'initiated',
        callerLegId: trunkLeg.id,
        answeredLegId: null,
        negotiation: { type: 'idle' },
        offerSdp: offer,
        originatorAddress: `sip:${invite.from}@${this.#ctx.config.domain}`,
        originatorName: invite.fromDisplay || invite.from,
        tParticipantAddress: `sip:${user.login}`,
        callerUsername: invite.from,
        calleeUsername: user.username,
        transfer: null,
        replacesCallIds: [],
        createdAt: now,
        answeredAt: null,
        endedAt: null,
        endReason: null,
        pstn: {
          direction: 'inbound',
          number: invite.from,
          localNumber: invite.to,
          gatewayCallId: callId,
          trunkLegId: trunkLeg.id,
          dialog: null,
          sipStatus: null,
          trunkSdp: invite.sdp,
        },
        version: 0,
      }
      plan.newCalls.push(call)
      plan.newLegs.push({ ...trunkLeg })
      this.#invite(plan, call, user, channels, offer, now)
      return Promise.resolve(plan)
    })
  }

  /** A callee answered an inbound PSTN call: its WebRTC answer → RTP/AVP → 200 OK; no ACK ends the call. */
  async #acceptInbound(callId: string, browserAnswer: string): Promise<void> {
    const handle = this.#pstn.get(callId)
    if (!handle?.inbound) return
    handle.answered = true
    const log = this.#ctx.log.child({ callId })
    let answer: string
    try {
      answer = await handle.gateway.answerFromBrowser(browserAnswer)
    } catch (err) {
      log.warn({ err }, 'inbound PSTN call: the media gateway refused the answer')
      handle.inbound.reject(503, 'Service Unavailable')
      await this.#pstnEnded(callId, handle, sipFailureReason(503, 'Service Unavailable'))
      return
    }
    try {
      await handle.inbound.accept(answer)
      await this.#onCall(callId, (plan, call) => {
        if (!call.pstn) return
        call.pstn = {
          ...call.pstn,
          sipStatus: 200,
          dialog: this.#dialogOf(handle.inbound!) ?? call.pstn.dialog,
        }
        this.#touch(plan, call)
      })
    } catch (err) {
      log.warn({ err }, 'inbound PSTN call: answering the trunk failed')
      await this.#pstnEnded(callId, handle, sipFailureReason(503, 'Service Unavailable'))
    }
  }

  /** Translates the caller's offer and sends the INVITE; the trunk's answers drive the call from then on. */
  async #dial(callId: string, browserOffer: string): Promise<void> {
    const stored = await this.#ctx.store.getCall(callId)
    const pstn = stored?.pstn
    const gatewayApi = this.#ctx.mediaGateway
    const trunk = this.#ctx.sipTrunk
    if (!stored || !pstn || !gatewayApi || !trunk) return
    const handle: PstnHandle = {
      callId,
      gateway: new GatewayCall(gatewayApi, pstn.gatewayCallId, stored.callerLegId, pstn.trunkLegId),
      sip: undefined,
      answered: false,
    }
    this.#pstn.set(callId, handle)
    let offer: string
    try {
      offer = await handle.gateway.offerToTrunk(browserOffer)
    } catch (err) {
      this.#ctx.log.warn({ err, callId }, 'PSTN call: the media gateway refused or did not answer the offer')
      await this.#pstnEnded(callId, handle, sipFailureReason(503, 'Media Gateway Unavailable'))
      return
    }
    await this.#onCall(callId, (_plan, call) => {
      // The caller may have hung up while the gateway answered: the end's hook found no INVITE to cancel.
      if (call.state === 'ended' || this.#pstn.get(callId) !== handle) {
        void handle.gateway.end().catch(() => undefined)
        return
      }
      const sip = trunk.invite({ from: pstn.localNumber, to: pstn.number, sdp: offer })
      handle.sip = sip
      this.#listenPstn(callId, handle, sip)
    })
  }

  #listenPstn(callId: string, handle: PstnHandle, sip: SipOutboundCall): void {
    const log = this.#ctx.log.child({ callId, sipCallId: sip.callId })
    const current = () => this.#pstn.get(callId) === handle
    sip.on('provisional', ({ status, sdp }) => {
      // 180, and 183 with or without SDP: the caller sees Ringing (§9.5). A provisional's SDP, through the gateway,
      // rides on a Ringing event as Parley's `earlyMedia` extension (§9.0: extra fields are harmless): Parley's
      // SDK plays the early media (ringback, announcements) in `Early Media`. When the call already rang (180,
      // then 183 with SDP) it goes on a second Ringing event, which Kandy clients ignore (§9.5: not Initiated).
      void (async () => {
        let early: string | undefined
        if (sdp && current()) {
          try {
            early = await handle.gateway.answerFromTrunk(sdp)
          } catch (err) {
            log.warn(
              { err },
              'PSTN call: the media gateway refused the early media; the call rings without it',
            )
          }
        }
        await this.#onCall(callId, (plan, call, legs, now) => {
          const first = call.state === 'initiated'
          if (!first && !(early && call.state === 'ringing')) return
          if (first) {
            transition(call, 'ringing')
            this.#touch(plan, call)
          }
          const caller = legs.get(call.callerLegId)
          // A call created by a transfer sends no Ringing: its caller is already in a call (§11.16 step 4).
          if (caller?.state === 'active' && call.replacesCallIds.length === 0) {
            const frame = this.#eventFrame(caller, EVENT_REASONS.ringing)
            if (early) frame.wrtcsEventNotification.earlyMedia = { sdp: early }
            this.#note(plan, caller, frame, now)
          }
          log.info({ status, earlyMedia: early !== undefined }, 'PSTN call: the trunk rings')
        })
      })().catch((err: unknown) => log.error({ err }, 'PSTN call: ringing failed'))
    })
    sip.on('answered', ({ sdp }) => {
      handle.answered = true
      void (async () => {
        // Ended here while the 200 was on its way (a CANCEL crossing the 200, RFC 3261 §9.1): end the dialog.
        if (!current()) return void (await sip.bye())
        let answer: string
        try {
          answer = await handle.gateway.answerFromTrunk(sdp)
        } catch (err) {
          log.warn({ err }, 'PSTN call: the media gateway refused the answer')
          await this.#pstnEnded(callId, handle, sipFailureReason(503, 'Media Gateway Unavailable'))
          return
        }
        await this.#onCall(callId, async (plan, call, legs, now) => {
          const trunkLeg = legs.get(call.pstn?.trunkLegId ?? '')
          if (call.state === 'ended' || !trunkLeg || !call.pstn) return
          call.pstn = {
            ...call.pstn,
            sipStatus: 200,
            dialog: this.#dialogOf(sip) ?? call.pstn.dialog,
            trunkSdp: sdp,
          }
          this.#initialAnswer(plan, call, trunkLeg, legs, answer, now)
          if (call.replacesCallIds.length > 0) await this.#completeReplacement(plan, call, now)
        })
      })().catch((err: unknown) => log.error({ err }, 'PSTN call: answer failed'))
    })
    sip.on('failed', ({ status, reason }) => {
      log.info({ status, reason }, 'PSTN call: the INVITE failed')
      void this.#pstnEnded(callId, handle, sipFailureReason(status, reason), status).catch((err: unknown) =>
        log.error({ err }, 'PSTN call: ending failed'),
      )
    })
    sip.on('ended', ({ by }) => {
      log.info({ by }, 'PSTN call: the trunk ended the dialog')
      void this.#pstnEnded(handle.callId, handle, EVENT_REASONS.remoteEnded).catch((err: unknown) =>
        log.error({ err }, 'PSTN call: ending failed'),
      )
    })
    sip.on('dialog', this.#keepDialog(handle, log))
    sip.on('reoffer', this.#trunkReoffer(handle, log))
  }

  /** A `dialog` listener: every change of the SIP dialog (CSeq, target refresh) is kept with the call. */
  #keepDialog(handle: PstnHandle, log: ServiceContext['log']): (event: { state: SipDialogState }) => void {
    return ({ state }) => {
      void this.#onCall(handle.callId, (plan, call) => {
        if (call.state === 'ended' || !call.pstn) return
        call.pstn = { ...call.pstn, dialog: { ...state } }
        this.#touch(plan, call)
      }).catch((err: unknown) => log.error({ err }, 'PSTN call: keeping the dialog failed'))
    }
  }

  /**
   * After a restart (issue 11): an answered PSTN call of the store gets its SIP dialog back on this node, so
   * that the trunk's BYE ends it (200 OK, SessionEnded to the browser, gateway call deleted) and the browser's
   * end sends a BYE in that dialog (the stored Call-ID, tags, route set and next CSeq). main.ts calls this at
   * start-up, before the SIP port is bound, for the live calls whose gateway call survived. False when there is
   * nothing to restore (no trunk or gateway here, not answered, no dialog kept, already held).
   */
  restorePstn(call: Call): boolean {
    const trunk = this.#ctx.sipTrunk
    const gatewayApi = this.#ctx.mediaGateway
    const pstn = call.pstn
    if (!trunk || !gatewayApi || !pstn?.dialog || call.state !== 'connected' || this.#pstn.has(call.id))
      return false
    let sip: SipDialogCall
    try {
      sip = trunk.restoreDialog(pstn.dialog as unknown as SipDialogState)
    } catch (err) {
      this.#ctx.log.warn({ err, callId: call.id }, 'PSTN call: the stored SIP dialog cannot be restored')
      return false
    }
    const browserTag =
      pstn.browserTag ?? (pstn.direction === 'outbound' ? call.callerLegId : `${pstn.gatewayCallId}-webrtc`)
    const handle: PstnHandle = {
      callId: call.id,
      gateway: new GatewayCall(gatewayApi, pstn.gatewayCallId, browserTag, pstn.trunkLegId),
      sip: undefined,
      answered: true,
      restored: sip,
    }
    this.#pstn.set(call.id, handle)
    const log = this.#ctx.log.child({ callId: call.id, sipCallId: sip.callId })
    sip.on('ended', ({ by }) => {
      log.info({ by }, 'PSTN call: the trunk ended a dialog restored after a restart')
      const recordReason = pstn.direction === 'inbound' ? 'ended by caller' : undefined
      void this.#pstnEnded(handle.callId, handle, EVENT_REASONS.remoteEnded, undefined, recordReason).catch(
        (err: unknown) => log.error({ err }, 'PSTN call: ending failed'),
      )
    })
    sip.on('dialog', this.#keepDialog(handle, log))
    sip.on('reoffer', this.#trunkReoffer(handle, log))
    log.info('PSTN call: SIP dialog restored after a restart')
    return true
  }

  /**
   * A browser's re-offer (hold, unhold, ICE restart) on a PSTN call, committed as pending: through the gateway
   * into a re-INVITE, and the trunk's answer back as the browser's `wrtcsAnswerNotification`. A trunk that
   * refuses or does not answer ends the call with its status (a client cannot take back a sent re-offer, §8.4).
   * A `fresh` one joins the browser to the phone side (consultative transfer, issue 11): translated as a first
   * offer by the new gateway call, and once answered the calls it replaces end.
   */
  async #reofferToTrunk(r: Plan['pstnReoffers'][number]): Promise<void> {
    const handle = this.#pstn.get(r.callId)
    const dialog = handle && dialogOfHandle(handle)
    const log = this.#ctx.log.child({ callId: r.callId })
    if (!handle || !dialog) return log.warn('PSTN re-offer: the call has no SIP dialog on this node')
    let answer: string
    let trunkAnswer: string
    try {
      const gateway = handle.gateway
      const offer = r.fresh
        ? await gateway.offerToTrunk(r.sdp)
        : await gateway.reoffer('browser', r.sdp, r.dtls)
      trunkAnswer = await dialog.reinvite(offer)
      answer = r.fresh
        ? await gateway.answerFromTrunk(trunkAnswer)
        : await gateway.reanswer('browser', trunkAnswer, r.dtls)
    } catch (err) {
      log.warn({ err }, 'PSTN re-offer failed; the call ends')
      return this.#reinviteFailed(r.callId, handle, err)
    }
    await this.#onCall(r.callId, async (plan, call, legs, now) => {
      const nego = call.negotiation
      if (call.state === 'ended' || nego.type !== 'offerPending' || nego.fromLegId !== r.fromLegId) return
      call.negotiation = { type: 'idle' }
      if (call.pstn) call.pstn = { ...call.pstn, trunkSdp: trunkAnswer }
      this.#touch(plan, call)
      const offerer = legs.get(r.fromLegId)
      if (offerer?.state === 'active') this.#note(plan, offerer, this.#answerFrame(offerer, answer), now)
      if (call.replacesCallIds.length > 0) await this.#completeReplacement(plan, call, now)
    })
  }

  /** A `reoffer` listener: the trunk's re-INVITE reaches the browser as `wrtcsOfferNotification` (§9.4). */
  #trunkReoffer(handle: PstnHandle, log: ServiceContext['log']): (e: SipCallEvents['reoffer']) => void {
    return ({ sdp, answer, reject }) => {
      void (async () => {
        const callId = handle.callId
        const stored = await this.#ctx.store.getCall(callId)
        if (!stored?.pstn || stored.state !== 'connected') return reject(491)
        const offer = await handle.gateway.reoffer('trunk', sdp, browserDtlsOf(stored.pstn))
        await this.#onCall(callId, (plan, call, legs, now) => {
          const trunkLegId = call.pstn?.trunkLegId ?? ''
          const browser = legs.get(this.#peerId(call, trunkLegId) ?? '')
          // One offer at a time (RFC 3261 §14.2: 491 on glare).
          if (call.state !== 'connected' || call.negotiation.type !== 'idle' || browser?.state !== 'active')
            return reject(491)
          handle.trunkReoffer?.reject(491)
          handle.trunkReoffer = { answer, reject }
          call.negotiation = { type: 'offerPending', fromLegId: trunkLegId }
          if (call.pstn) call.pstn = { ...call.pstn, trunkSdp: sdp }
          this.#touch(plan, call)
          this.#note(plan, browser, this.#offerFrame(browser, offer), now)
        })
      })().catch((err: unknown) => {
        log.warn({ err }, 'PSTN call: the trunk’s re-INVITE could not be relayed')
        reject(500)
      })
    }
  }

  /** The browser answered the trunk's re-offer: through the gateway into the re-INVITE's 200 OK. */
  async #reanswerToTrunk(r: Plan['pstnReanswers'][number]): Promise<void> {
    const handle = this.#pstn.get(r.callId)
    const pending = handle?.trunkReoffer
    if (!handle || !pending) return
    handle.trunkReoffer = undefined
    try {
      pending.answer(await handle.gateway.reanswer('trunk', r.sdp, r.dtls))
    } catch (err) {
      this.#ctx.log.warn(
        { err, callId: r.callId },
        'PSTN call: the gateway refused the answer to a re-INVITE',
      )
      pending.reject(488)
    }
  }

  /**
   * A direct transfer of a PSTN call's phone side to a user (issue 11). The trunk cannot be asked for a fresh offer
   * the way a browser is (slow start, §11.16 step 2), so a new gateway call makes one from the trunk's latest SDP
   * (made sendrecv: the transferor held the call), as for an inbound call. The target's answer then reaches the
   * trunk in a re-INVITE; the SIP dialog itself carries on.
   */
  async #pstnFreshOffer(callId: string): Promise<void> {
    const log = this.#ctx.log.child({ callId })
    const handle = this.#pstn.get(callId)
    const gatewayApi = this.#ctx.mediaGateway
    const stored = await this.#ctx.store.getCall(callId)
    const trunkSdp = stored?.pstn?.trunkSdp
    const newCallId = newId('call')
    let gateway: GatewayCall | undefined
    let offer: string | undefined
    if (handle && dialogOfHandle(handle) && gatewayApi && stored?.pstn && trunkSdp) {
      gateway = new GatewayCall(gatewayApi, newCallId, `${newCallId}-webrtc`, stored.pstn.trunkLegId)
      try {
        offer = await gateway.offerToBrowser(resumedSdp(trunkSdp))
      } catch (err) {
        log.warn({ err }, 'PSTN transfer: the media gateway refused or did not answer the offer')
      }
    } else log.warn('PSTN transfer: the call has no SIP dialog or trunk SDP on this node')
    let moving = false
    await this.#onCall(callId, async (plan, call, legs, now) => {
      const nego = call.negotiation
      if (call.state === 'ended' || nego.type !== 'slowStart' || !call.transfer) return
      const phone = legs.get(nego.toLegId)
      if (!offer || !gateway || !phone) return void (await this.#failTransfer(plan, call, legs, now))
      await this.#transferOffer(plan, call, phone, legs, offer, now, { callId: newCallId, gateway })
      moving = plan.pstnMoves.length > 0
    })
    if (!moving) await gateway?.end().catch(() => undefined)
  }

  /** Right after the commit of a moved phone side: its dialog's handle belongs to the new call and gateway call. */
  #movePstn(move: Plan['pstnMoves'][number]): void {
    const handle = this.#pstn.get(move.from)
    if (!handle) return
    this.#pstn.delete(move.from)
    handle.callId = move.to
    handle.gateway = move.gateway
    this.#pstn.set(move.to, handle)
  }

  /** The target of a moved phone side answered: rtpengine's plain RTP version of it re-INVITEs the trunk. */
  async #answerMovedPstn(callId: string, browserAnswer: string): Promise<void> {
    const handle = this.#pstn.get(callId)
    const dialog = handle && dialogOfHandle(handle)
    const log = this.#ctx.log.child({ callId })
    if (!handle || !dialog) return log.warn('PSTN transfer: the call has no SIP dialog on this node')
    try {
      const trunkAnswer = await dialog.reinvite(await handle.gateway.answerFromBrowser(browserAnswer))
      await this.#onCall(callId, (plan, call) => {
        if (call.state === 'ended' || !call.pstn) return
        call.pstn = { ...call.pstn, trunkSdp: trunkAnswer }
        this.#touch(plan, call)
      })
    } catch (err) {
      log.warn({ err }, 'PSTN transfer: the re-INVITE toward the trunk failed; the call ends')
      await this.#reinviteFailed(callId, handle, err)
    }
  }

  /** A re-INVITE the trunk refused or did not answer ends the call with its status (503 when it never came). */
  async #reinviteFailed(callId: string, handle: PstnHandle, err: unknown): Promise<void> {
    const status = err instanceof SipError ? err.status : 503
    await this.#pstnEnded(callId, handle, sipFailureReason(status, 'Re-INVITE failed'), status).catch(
      (e: unknown) => this.#ctx.log.error({ err: e, callId }, 'PSTN call: ending failed'),
    )
  }

  #dialogOf(sip: SipOutboundCall | SipInboundCall): Record<string, unknown> | undefined {
    const state = sip.dialogState()
    return state ? { ...state } : undefined
  }

  /** The trunk side ended (failure, BYE) or could not start: the caller gets SessionEnded with `reason`. */
  async #pstnEnded(
    callId: string,
    handle: PstnHandle,
    reason: EventReason,
    sipStatus?: number,
    recordReason?: string,
  ): Promise<void> {
    // Drop the handle first: the end's hook then sends nothing more to the trunk (it is gone already).
    if (this.#pstn.get(callId) === handle) this.#pstn.delete(callId)
    await this.#onCall(callId, async (plan, call, legs, now) => {
      if (!call.pstn) return
      if (call.state === 'ended') {
        // E.g. the 487 after our CANCEL: keep the SIP outcome on the record.
        if (sipStatus !== undefined && call.pstn.sipStatus === null) {
          call.pstn = { ...call.pstn, sipStatus }
          this.#touch(plan, call)
        }
        return
      }
      if (sipStatus !== undefined) call.pstn = { ...call.pstn, sipStatus }
      await this.#endCall(plan, call, legs, now, {
        actorLegId: call.pstn.trunkLegId,
        end: reason,
        cancel: reason,
        reason:
          recordReason ??
          (sipStatus !== undefined
            ? `SIP ${reason.statusCode} ${reason.reasonText}`
            : reason === EVENT_REASONS.remoteEnded
              ? 'ended by callee'
              : reason.reasonText),
      })
    })
    await handle.gateway.end().catch(() => undefined)
  }

  /** After a committed end of a PSTN call: CANCEL or BYE toward the trunk, and the gateway call goes. */
  #hangUpPstn(call: Call): void {
    if (!call.pstn) return
    const handle = this.#pstn.get(call.id)
    this.#pstn.delete(call.id)
    const log = this.#ctx.log.child({ callId: call.id })
    if (handle?.sip) {
      if (handle.answered)
        handle.sip.bye().catch((err: unknown) => log.warn({ err }, 'PSTN call: BYE failed'))
      else handle.sip.cancel()
    }
    if (handle?.restored)
      handle.restored.bye().catch((err: unknown) => log.warn({ err }, 'PSTN call: BYE failed'))
    if (handle?.inbound) {
      if (handle.answered)
        handle.inbound.bye().catch((err: unknown) => log.warn({ err }, 'PSTN call: BYE failed'))
      // A callee's reject is 603 Decline; no answer, or devices gone, 480 Temporarily Unavailable (issue 11).
      else handle.inbound.reject(call.endReason === 'declined' ? 603 : 480)
    }
    // Every end deletes the gateway call (issue 11); the start-up sweep catches what a crash left behind.
    const gateway = this.#ctx.mediaGateway
    if (gateway)
      gateway
        .delete(call.pstn.gatewayCallId)
        .catch((err: unknown) => log.warn({ err }, 'PSTN call: deleting the media gateway call failed'))
  }

  /** `PUT …/sessions/{legId}/status` (§8.2): ringing feedback or call audit. */
  async status(actor: Actor, legId: string, status: string, respond: Respond): Promise<void> {
    await this.#onLeg(actor, legId, respond, (plan, call, leg, legs, now) => {
      if (leg.state !== 'active') {
        // §8.2: 404, then push the leg's terminal event again with a new id (repairs the 4.35 cancel race).
        if (leg.terminal)
          plan.timers.push(this.#timer('repush', leg.id, now + this.#ctx.config.timings.terminalRepushMs))
        plan.error = apiError('SESSION_ENDED')
        return
      }
      leg.livenessArmed = true
      leg.lastSeenAt = now
      this.#touch(plan, leg)
      if (leg.acceptancePushedAt !== null && !leg.guardReleased) {
        this.#releaseGuard(plan, leg)
        // The guard's work is done: its timer would only find the guard released (§11.12).
        plan.cancelTimers.push(this.#timerId('guard', leg.id))
      }
      const caller = legs.get(call.callerLegId)
      // §8.2: the first Ringing for an unanswered call → ringing, and the Ringing event to the caller, once.
      // A call created by a transfer sends none: its "caller" is already in a call (§11.16 step 4).
      if (status === 'Ringing' && leg.id !== call.callerLegId && call.state === 'initiated') {
        transition(call, 'ringing')
        this.#touch(plan, call)
        if (caller?.state === 'active' && call.replacesCallIds.length === 0)
          this.#event(plan, caller, EVENT_REASONS.ringing, now)
        if (call.pstn?.direction === 'inbound') plan.pstnRinging.push(call.id)
      }
      const body: SessionStatusResponse = { wrtcsSessionStatus: { status: statusOf(call.state) } }
      plan.reply = { status: 200, body }
    })
  }

  /** `PUT …/sessions/{legId}/answer` (§8.3): initial answer, answer to a re-offer, or slow-start reply. */
  async answer(actor: Actor, legId: string, sdp: string, respond: Respond): Promise<void> {
    await this.#onLeg(actor, legId, respond, async (plan, call, leg, legs, now) => {
      if (leg.state !== 'active') {
        plan.error = apiError('SESSION_ENDED')
        return
      }
      const nego = call.negotiation
      if (leg.id !== call.callerLegId && call.answeredLegId === null && call.state !== 'ended') {
        this.#initialAnswer(plan, call, leg, legs, sdp, now)
        if (call.replacesCallIds.length > 0) await this.#completeReplacement(plan, call, now)
      } else if (
        nego.type === 'offerPending' &&
        nego.fromLegId !== leg.id &&
        this.#peerId(call, nego.fromLegId) === leg.id
      ) {
        call.negotiation = { type: 'idle' }
        this.#touch(plan, call)
        const offerer = legs.get(nego.fromLegId)
        if (call.pstn && nego.fromLegId === call.pstn.trunkLegId) {
          // The answer to the gateway's offer of a consultative transfer's phone side goes out as a re-INVITE;
          // any other, to the trunk's own re-INVITE, as its 200 OK.
          if (call.replacesCallIds.length > 0 && call.pstn.movedFrom)
            plan.pstnMovedAnswers.push({ callId: call.id, sdp })
          else plan.pstnReanswers.push({ callId: call.id, sdp, dtls: browserDtlsOf(call.pstn) })
        } else if (offerer?.state === 'active')
          this.#note(plan, offerer, this.#answerFrame(offerer, sdp), now)
        if (call.replacesCallIds.length > 0) await this.#completeReplacement(plan, call, now)
      } else if (nego.type === 'slowStart' && nego.toLegId === leg.id && call.transfer) {
        await this.#transferOffer(plan, call, leg, legs, sdp, now)
      } else {
        plan.error = apiError('NO_OFFER_PENDING')
        return
      }
      plan.reply = { status: 204 }
    })
  }

  /** `PUT …/sessions/{legId}/update` (§8.4): a re-offer on an answered call. */
  async update(actor: Actor, legId: string, sdp: string, respond: Respond): Promise<void> {
    await this.#onLeg(actor, legId, respond, (plan, call, leg, legs, now) => {
      if (leg.state !== 'active') return void (plan.error = apiError('SESSION_ENDED'))
      // §11.12: never relay a re-offer on an unanswered call; one offer at a time (glare → 409).
      if (call.state !== 'connected' || call.answeredLegId === null)
        return void (plan.error = apiError('NOT_ESTABLISHED'))
      if (call.negotiation.type !== 'idle') return void (plan.error = apiError('OFFER_PENDING'))
      const peer = legs.get(this.#peerId(call, leg.id) ?? '')
      if (!peer || peer.state !== 'active') return void (plan.error = apiError('NOT_ESTABLISHED'))
      call.negotiation = { type: 'offerPending', fromLegId: leg.id }
      this.#touch(plan, call)
      if (call.pstn && peer.id === call.pstn.trunkLegId) {
        // The trunk leg has no channel: the offer becomes a re-INVITE after the commit.
        plan.pstnReoffers.push({ callId: call.id, fromLegId: leg.id, sdp, dtls: browserDtlsOf(call.pstn) })
      } else this.#note(plan, peer, this.#offerFrame(peer, sdp), now)
      plan.reply = { status: 204 }
    })
  }

  /** `DELETE …/sessions/{legId}` (§8.5): end, reject or cancel. */
  async end(actor: Actor, legId: string, respond: Respond): Promise<void> {
    await this.#onLeg(actor, legId, respond, async (plan, call, leg, legs, now) => {
      plan.reply = { status: 204 }
      if (leg.state !== 'active' || call.state === 'ended') return
      const answered = call.answeredLegId !== null
      if (leg.id === call.callerLegId && !answered) {
        await this.#endCall(plan, call, legs, now, {
          actorLegId: leg.id,
          end: EVENT_REASONS.remoteEnded,
          cancel: EVENT_REASONS.callerCancelled,
          reason: 'cancelled by caller',
        })
      } else if (!answered) {
        // §8.5 MUST: a DELETE from an unanswered callee is a reject; other devices get Cancelled (603).
        await this.#endCall(plan, call, legs, now, {
          actorLegId: leg.id,
          end: EVENT_REASONS.declined,
          cancel: EVENT_REASONS.declinedElsewhere,
          reason: 'declined',
        })
      } else {
        await this.#endCall(plan, call, legs, now, {
          actorLegId: leg.id,
          end: EVENT_REASONS.remoteEnded,
          cancel: EVENT_REASONS.remoteEnded,
          reason: leg.id === call.callerLegId ? 'ended by caller' : 'ended by callee',
        })
      }
    })
  }

  /**
   * `PUT …/sessions/{legId}/forward` (§8.6, §11.15): an unanswered callee sends the call to someone else. A phone
   * number that names no user goes to the trunk (issue 11) from the forwarding user's number, as a call of the
   * caller's to that number: the caller's offer through the gateway into an INVITE. A call from the trunk is not
   * forwarded to a number (403 `SVC0403`: no trunk-to-trunk calls).
   */
  async forward(actor: Actor, legId: string, address: string, respond: Respond): Promise<void> {
    forbidAnonymous(actor)
    const { user, number, callerId } = await this.#userOrNumber(actor, address)
    const channels = user ? await this.#reachableChannels(user, 'address') : []
    await this.#onLeg(actor, legId, respond, (plan, call, leg, legs, now) => {
      if (leg.state !== 'active') return void (plan.error = apiError('SESSION_ENDED'))
      if (leg.id === call.callerLegId || call.answeredLegId !== null)
        return void (plan.error = apiError('ALREADY_ANSWERED'))
      if (number !== undefined && call.pstn) return void (plan.error = apiError('FORBIDDEN'))
      leg.state = 'ended'
      this.#touch(plan, leg)
      for (const other of legs.values()) {
        if (other.id !== leg.id && other.id !== call.callerLegId && other.state === 'active') {
          this.#terminateLeg(plan, other, EVENT_REASONS.answeredElsewhere, now)
        }
      }
      // The new target rings afresh: its Ringing request must produce the caller's Ringing event (§11.15 step 4).
      if (call.state === 'ringing') transition(call, 'initiated')
      call.tParticipantAddress = address
      if (user) {
        call.calleeUsername = user.username
        this.#invite(plan, call, user, channels, call.offerSdp, now)
      } else {
        const trunkLeg = this.#newLeg(call.id, TRUNK_USER_ID, number!, 'callee', null, now)
        plan.newLegs.push(trunkLeg)
        call.calleeUsername = number!
        call.pstn = outboundPstn(call.id, number!, callerId!, trunkLeg.id)
        plan.timers.push(this.#timer('no-answer', call.id, now + this.#ctx.config.timings.noAnswerMs))
        plan.pstnDials.push({ callId: call.id, sdp: call.offerSdp })
      }
      this.#touch(plan, call)
      plan.reply = { status: 204 }
    })
  }

  /**
   * The target of a forward or a direct transfer: a user of the account, or else (with a trunk and a gateway) a
   * phone number, dialled from the actor's number — 404 `SVC0002` for neither, 403 `SVC0403` without a number.
   */
  async #userOrNumber(
    actor: Actor,
    address: string,
  ): Promise<{ user?: User; number?: string; callerId?: string }> {
    const user = await this.#resolveIn(actor.accountId, { username: actor.username }, address)
    if (user) return { user }
    const number = this.#ctx.sipTrunk && this.#ctx.mediaGateway ? phoneNumberOf(address) : undefined
    if (number === undefined) throw apiError('NOT_FOUND_INPUT', 'address')
    const callerId = await callerIdFor(this.#ctx, actor.userId)
    if (!callerId) throw apiError('FORBIDDEN')
    return { number, callerId }
  }

  /** `PUT …/sessions/{legId}/transfer` (§8.7, §11.16, §11.17): direct or consultative transfer. */
  async transfer(
    actor: Actor,
    legId: string,
    input: { address: string; sessionId?: string },
    respond: Respond,
  ): Promise<void> {
    forbidAnonymous(actor)
    const direct = input.sessionId === undefined
    // A direct transfer to a phone number that names no user goes to the trunk (issue 11), from the
    // transferor's number, as forward does.
    const { user: target, number, callerId } = direct ? await this.#userOrNumber(actor, input.address) : {}
    if (target) await this.#reachableChannels(target, 'address')
    await this.#onLeg(actor, legId, respond, async (plan, call, leg, legs, now) => {
      if (leg.state !== 'active') return void (plan.error = apiError('SESSION_ENDED'))
      if (call.state !== 'connected' || call.answeredLegId === null)
        return void (plan.error = apiError('NOT_ESTABLISHED'))
      if (call.negotiation.type !== 'idle' || call.transfer)
        return void (plan.error = apiError('OFFER_PENDING'))
      // A PSTN call's phone side moves to a user only, never to another number (403: no trunk-to-trunk calls;
      // the calls go on untouched).
      if (call.pstn && number !== undefined) return void (plan.error = apiError('FORBIDDEN'))
      const moving = legs.get(this.#peerId(call, leg.id) ?? '')
      if (!moving || moving.state !== 'active') return void (plan.error = apiError('NOT_ESTABLISHED'))
      let transferorLegIds = [leg.id]
      let targetLegId: string | null = null
      let otherCallId: string | null = null
      if (!direct) {
        const other = await this.#ctx.store.getLeg(input.sessionId!)
        const otherCall = other ? await this.#ctx.store.getCall(other.callId) : undefined
        const otherPeerId = otherCall && other ? this.#peerId(otherCall, other.id) : undefined
        if (
          !other ||
          !otherCall ||
          other.userId !== actor.userId ||
          other.state !== 'active' ||
          otherCall.id === call.id ||
          otherCall.state !== 'connected' ||
          otherCall.negotiation.type !== 'idle' ||
          !otherPeerId
        ) {
          return void (plan.error = apiError('NOT_FOUND_INPUT', 'sessionId'))
        }
        if (otherCall.pstn && call.pstn) return void (plan.error = apiError('FORBIDDEN'))
        transferorLegIds = [leg.id, other.id]
        targetLegId = otherPeerId
        otherCallId = otherCall.id
      }
      call.transfer = {
        kind: direct ? 'direct' : 'consultative',
        transferorLegIds,
        movingLegId: moving.id,
        targetAddress: input.address,
        targetLegId,
        otherCallId,
        ...(number !== undefined ? { pstn: { number, callerId: callerId! } } : {}),
      }
      call.negotiation = { type: 'slowStart', toLegId: moving.id }
      this.#touch(plan, call)
      // §11.16 step 2: an offer without sdp asks the moving party for a fresh offer ("slow start"). The phone
      // side of a PSTN call gets its fresh offer from the gateway instead.
      if (call.pstn) plan.pstnFreshOffers.push(call.id)
      else
        this.#note(
          plan,
          moving,
          { wrtcsOfferNotification: { id: randomUUID(), link: link(moving), offer: {} } },
          now,
        )
      plan.timers.push(this.#timer('transfer', call.id, now + this.#ctx.config.timings.transferMs))
      plan.reply = { status: 204 }
    })
  }

  // ── timers and sweeps ───────────────────────────────────────────────────────────────────────────────

  /** Runs one due timer (claimed from the store by the scheduler). */
  async fireTimer(timer: Timer): Promise<void> {
    const ref = String(timer.payload.ref ?? '')
    switch (timer.kind) {
      case 'no-answer':
        return this.#onCall(ref, async (plan, call, legs, now) => {
          if (call.state === 'ended' || call.answeredLegId !== null) return
          await this.#endCall(plan, call, legs, now, {
            end: EVENT_REASONS.noAnswerCaller,
            cancel: EVENT_REASONS.noAnswerCallee,
            reason: 'no answer',
          })
        })
      case 'repeat':
      case 'repush':
        return this.#onLegId(ref, (plan, _call, leg, now) => {
          // §11.7 repeats only Cancelled; §8.2 re-pushes whichever terminal event the leg got. New id each time.
          if (!leg.terminal || leg.state === 'active') return
          if (timer.kind === 'repeat' && leg.terminal.eventType !== 'Cancelled') return
          this.#note(plan, leg, this.#eventFrame(leg, leg.terminal), now)
        })
      case 'guard':
        return this.#onLegId(ref, (plan, _call, leg) => {
          if (leg.acceptancePushedAt !== null && !leg.guardReleased) this.#releaseGuard(plan, leg)
        })
      case 'transfer':
        return this.#onCall(ref, async (plan, call, legs, now) => {
          const waiting =
            (call.negotiation.type === 'slowStart' && call.transfer) ||
            (call.negotiation.type === 'offerPending' && call.replacesCallIds.length > 0)
          if (!waiting || call.state === 'ended') return
          await this.#failTransfer(plan, call, legs, now)
        })
      default:
        this.#ctx.log.warn({ kind: timer.kind }, 'unknown timer kind')
    }
  }

  /** Ends calls whose armed legs went silent (§11.13). */
  async sweepSilentLegs(): Promise<void> {
    const now = this.#ctx.clock.now()
    const silent = await this.#ctx.store.listSilentLegs(now - this.#ctx.config.timings.livenessMs)
    for (const stale of silent) {
      await this.#onLegId(stale.id, async (plan, call, leg, now2, legs) => {
        if (
          leg.state !== 'active' ||
          !leg.livenessArmed ||
          (leg.lastSeenAt ?? 0) >= now2 - this.#ctx.config.timings.livenessMs
        )
          return
        this.#ctx.log.info(
          { legId: leg.id, callId: call.id },
          'leg silent past the liveness timeout; ending its call',
        )
        const otherCallees = [...legs.values()].filter(
          (l) => l.id !== leg.id && l.id !== call.callerLegId && l.state === 'active',
        )
        if (call.answeredLegId === null && leg.id !== call.callerLegId && otherCallees.length > 0) {
          // One silent ringing device does not end a call that still rings elsewhere.
          this.#terminateLeg(plan, leg, EVENT_REASONS.livenessTimeoutCallee, now2)
          return
        }
        await this.#endCall(plan, call, legs, now2, {
          end: EVENT_REASONS.livenessTimeout,
          cancel: EVENT_REASONS.livenessTimeoutCallee,
          reason: 'liveness timeout',
        })
      })
    }
  }

  /** A channel is being removed (§11.14): cancel its unanswered callee legs; end calls left without callee. */
  async channelRemoved(channel: Channel): Promise<void> {
    const legs = await this.#ctx.store.listActiveLegsByChannel(channel.id)
    for (const stale of legs) {
      await this.#onLegId(stale.id, async (plan, call, leg, now, all) => {
        if (leg.state !== 'active' || call.answeredLegId !== null) return // answered legs: liveness rule
        this.#terminateLeg(plan, leg, EVENT_REASONS.channelGone, now)
        const remaining = [...all.values()].filter((l) => l.id !== call.callerLegId && l.state === 'active')
        if (remaining.length === 0) {
          await this.#endCall(plan, call, all, now, {
            end: EVENT_REASONS.channelGone,
            cancel: EVENT_REASONS.channelGone,
            reason: 'callee unreachable',
          })
        }
      })
    }
  }

  // ── building blocks ─────────────────────────────────────────────────────────────────────────────────

  #newLeg(
    callId: string,
    userId: string,
    username: string,
    role: Leg['role'],
    channelId: string | null,
    now: number,
  ): Leg {
    return {
      id: newId('leg'),
      callId,
      userId,
      username,
      role,
      channelId,
      state: 'active',
      terminal: null,
      livenessArmed: false,
      lastSeenAt: null,
      acceptancePushedAt: null,
      guardReleased: false,
      held: [],
      createdAt: now,
      version: 0,
    }
  }

  /** One callee leg per call-subscribed channel, each invited on its own channel (§11.2); no-answer timer. */
  #invite(plan: Plan, call: Call, callee: User, channels: Channel[], sdp: string, now: number): void {
    for (const channel of channels) {
      const leg = this.#newLeg(call.id, callee.id, callee.username, 'callee', channel.id, now)
      plan.newLegs.push(leg)
      this.#note(
        plan,
        leg,
        {
          wrtcsSessionInvitationNotification: {
            id: randomUUID(),
            link: link(leg),
            offer: { sdp },
            originatorAddress: call.originatorAddress,
            originatorName: call.originatorName,
            tParticipantAddress: call.tParticipantAddress,
          },
        },
        now,
      )
    }
    plan.timers.push(this.#timer('no-answer', call.id, now + this.#ctx.config.timings.noAnswerMs))
  }

  #initialAnswer(plan: Plan, call: Call, leg: Leg, legs: Map<string, Leg>, sdp: string, now: number): void {
    transition(call, 'connected')
    call.answeredLegId = leg.id
    call.answeredAt = now
    plan.answered.push({ call, legId: leg.id })
    this.#touch(plan, call)
    plan.cancelTimers.push(this.#timerId('no-answer', call.id))
    // §11.13: the liveness clock of both legs is armed when the call is answered (not the trunk's: it has no
    // client that audits; the SIP side ends by BYE or a dead dialog).
    if (leg.userId !== TRUNK_USER_ID) {
      leg.livenessArmed = true
      leg.lastSeenAt = now
    }
    this.#touch(plan, leg)
    const caller = legs.get(call.callerLegId)
    if (call.pstn?.movedFrom) plan.pstnMovedAnswers.push({ callId: call.id, sdp })
    else if (call.pstn?.direction === 'inbound') plan.pstnAnswers.push({ callId: call.id, sdp })
    if (caller?.state === 'active' && caller.userId !== TRUNK_USER_ID) {
      caller.livenessArmed = true
      caller.lastSeenAt = Math.max(caller.lastSeenAt ?? 0, now)
      if (call.replacesCallIds.length > 0) {
        // §11.16 step 6: the transferred party gets C's SDP as the answer to its own offer.
        this.#note(plan, caller, this.#answerFrame(caller, sdp), now)
      } else {
        this.#note(
          plan,
          caller,
          { wrtcsAcceptanceNotification: { id: randomUUID(), link: link(caller), answer: { sdp } } },
          now,
        )
        // §11.12: hold back offers to the caller until it has applied the acceptance (status request) or 1 s.
        caller.acceptancePushedAt = now
        caller.guardReleased = false
        plan.timers.push(this.#timer('guard', caller.id, now + this.#ctx.config.timings.guardMs))
      }
      this.#touch(plan, caller)
    }
    for (const other of legs.values()) {
      if (other.id !== leg.id && other.id !== call.callerLegId && other.state === 'active') {
        this.#terminateLeg(plan, other, EVENT_REASONS.answeredElsewhere, now)
      }
    }
  }

  /** The slow-start reply of a transfer (§11.16 step 3, §11.17 step 3): B's fresh offer. */
  async #transferOffer(
    plan: Plan,
    call: Call,
    moving: Leg,
    legs: Map<string, Leg>,
    sdp: string,
    now: number,
    moved?: { callId: string; gateway: GatewayCall },
  ): Promise<void> {
    const transfer = call.transfer!
    call.negotiation = { type: 'idle' }
    this.#touch(plan, call)
    plan.cancelTimers.push(this.#timerId('transfer', call.id))
    const newCallId = moved?.callId ?? newId('call')
    if (transfer.kind === 'direct' && transfer.pstn) {
      // Issue 11: B's fresh offer goes through the gateway into an INVITE to the number, from the transferor's
      // number; the trunk's 200 completes the transfer as C's answer would.
      const { number, callerId } = transfer.pstn
      const trunkLeg = this.#newLeg(newCallId, TRUNK_USER_ID, number, 'callee', null, now)
      const newCall: Call = {
        ...(await this.#replacementCall(call, newCallId, moving, sdp, now)),
        tParticipantAddress: transfer.targetAddress,
        calleeUsername: number,
        pstn: outboundPstn(newCallId, number, callerId, trunkLeg.id),
      }
      moving.callId = newCallId
      this.#touch(plan, moving)
      plan.newCalls.push(newCall)
      plan.newLegs.push(trunkLeg)
      plan.timers.push(this.#timer('no-answer', newCallId, now + this.#ctx.config.timings.noAnswerMs))
      plan.pstnDials.push({ callId: newCallId, sdp })
    } else if (transfer.kind === 'direct') {
      const account = { accountId: call.accountId }
      const target = await this.#resolveIn(account.accountId, moving, transfer.targetAddress)
      const channels = target ? await this.#ctx.store.listSubscribedChannels(target.id) : []
      if (!target || channels.length === 0) {
        await this.#failTransfer(plan, call, legs, now)
        return
      }
      const newCall: Call = {
        ...(await this.#replacementCall(call, newCallId, moving, sdp, now)),
        tParticipantAddress: transfer.targetAddress,
        calleeUsername: target.username,
      }
      if (call.pstn && moved) {
        // The phone side moves (issue 11): its SIP dialog carries on in the new call, its media through the new
        // gateway call, whose offer the target gets (rtpengine offered: it is the DTLS server, as inbound).
        const number = call.pstn.number
        newCall.originatorAddress = `sip:${number}@${this.#ctx.config.domain}`
        newCall.originatorName = number
        this.#movePhoneSide(plan, call, newCall, moved.gateway, 'passive')
      }
      moving.callId = newCallId
      this.#touch(plan, moving)
      plan.newCalls.push(newCall)
      this.#invite(plan, newCall, target, channels, sdp, now)
    } else {
      const targetLeg = await this.#ctx.store.getLeg(transfer.targetLegId ?? '')
      const otherCall = await this.#ctx.store.getCall(transfer.otherCallId ?? '')
      if (!targetLeg || targetLeg.state !== 'active' || !otherCall || otherCall.state === 'ended') {
        await this.#failTransfer(plan, call, legs, now)
        return
      }
      // §11.17: B and C form a new call; B's fresh offer reaches C as a re-offer on C's existing leg.
      const gatewayApi = this.#ctx.mediaGateway
      if (otherCall.pstn && !gatewayApi) {
        await this.#failTransfer(plan, call, legs, now)
        return
      }
      const newCall: Call = {
        ...call,
        id: newCallId,
        state: 'connected',
        callerLegId: moving.id,
        answeredLegId: targetLeg.id,
        negotiation: { type: 'offerPending', fromLegId: moving.id },
        offerSdp: sdp,
        callerUsername: moving.username,
        calleeUsername: targetLeg.username,
        transfer: null,
        replacesCallIds: [call.id, otherCall.id],
        pstn: null,
        createdAt: now,
        answeredAt: now,
        endedAt: null,
        endReason: null,
        version: 0,
      }
      moving.callId = newCallId
      targetLeg.callId = newCallId
      this.#touch(plan, moving)
      this.#touch(plan, targetLeg)
      plan.newCalls.push(newCall)
      if (otherCall.pstn && gatewayApi) {
        // C is the phone side (issue 11): B's fresh offer goes through a new gateway call (as for a call to a
        // number, rtpengine answers B as the DTLS client) into a re-INVITE in C's SIP dialog.
        const gateway = new GatewayCall(gatewayApi, newCallId, moving.id, otherCall.pstn.trunkLegId)
        this.#movePhoneSide(plan, otherCall, newCall, gateway, 'active')
        plan.pstnReoffers.push({ callId: newCallId, fromLegId: moving.id, sdp, dtls: 'active', fresh: true })
      } else {
        // B is the phone side (issue 11): the new gateway call's offer (made from the trunk's SDP) goes to C.
        if (call.pstn && moved) this.#movePhoneSide(plan, call, newCall, moved.gateway, 'passive')
        this.#note(plan, targetLeg, this.#offerFrame(targetLeg, sdp), now)
      }
      plan.timers.push(this.#timer('transfer', newCallId, now + this.#ctx.config.timings.transferMs))
    }
  }

  /**
   * A transfer moves `from`'s phone side into `to` (issue 11): the SIP dialog carries on, its media through
   * `gateway` (a new gateway call), in which rtpengine has DTLS role `dtls` toward the browser.
   */
  #movePhoneSide(plan: Plan, from: Call, to: Call, gateway: GatewayCall, dtls: BrowserDtls): void {
    to.pstn = {
      ...from.pstn!,
      gatewayCallId: gateway.callId,
      browserTag: gateway.browserTag,
      browserDtls: dtls,
      movedFrom: from.id,
    }
    plan.pstnMoves.push({ from: from.id, to: to.id, gateway })
  }

  /** The new call of a direct transfer: the moving party B calls the target with its fresh offer (§11.16 step 4). */
  async #replacementCall(call: Call, id: string, moving: Leg, sdp: string, now: number): Promise<Call> {
    const movingUser = await this.#ctx.store.getUser(moving.userId)
    return {
      ...call,
      id,
      state: 'initiated',
      callerLegId: moving.id,
      answeredLegId: null,
      negotiation: { type: 'idle' },
      offerSdp: sdp,
      originatorAddress: movingUser ? `sip:${movingUser.login}` : call.originatorAddress,
      originatorName: moving.username,
      callerUsername: moving.username,
      transfer: null,
      replacesCallIds: [call.id],
      pstn: null,
      createdAt: now,
      answeredAt: null,
      endedAt: null,
      endReason: null,
      version: 0,
    }
  }

  /** A transfer's new call completed: the calls it replaces end, telling the transferor (§11.16 step 7). */
  async #completeReplacement(plan: Plan, call: Call, now: number): Promise<void> {
    const replaced = call.replacesCallIds
    call.replacesCallIds = []
    this.#touch(plan, call)
    plan.cancelTimers.push(this.#timerId('transfer', call.id))
    for (const id of replaced) {
      const old = plan.calls.get(id) ?? (await this.#ctx.store.getCall(id))
      if (!old || old.state === 'ended') continue
      await this.#endCall(plan, old, await this.#legMap(plan, old), now, {
        end: EVENT_REASONS.transferred,
        cancel: EVENT_REASONS.transferred,
        reason: 'transferred',
      })
    }
  }

  /** A transfer failed: every leg involved gets SessionEnded (§11.16, §11.17 failure rules). */
  async #failTransfer(plan: Plan, call: Call, legs: Map<string, Leg>, now: number): Promise<void> {
    const failed: Ending = {
      end: EVENT_REASONS.transferFailed,
      cancel: EVENT_REASONS.transferFailed,
      reason: 'transfer failed',
    }
    const related = [...call.replacesCallIds, call.transfer?.otherCallId].filter((x): x is string =>
      Boolean(x),
    )
    await this.#endCall(plan, call, legs, now, failed)
    for (const id of related) {
      const other = plan.calls.get(id) ?? (await this.#ctx.store.getCall(id))
      if (other && other.state !== 'ended')
        await this.#endCall(plan, other, await this.#legMap(plan, other), now, failed)
    }
  }

  /** Ends a call: every active leg gets its terminal event per `ending` (§8.5, §9.5). */
  async #endCall(plan: Plan, call: Call, legs: Map<string, Leg>, now: number, ending: Ending): Promise<void> {
    // Which timers may still be stored: an answer cancels no-answer; only transfers schedule transfer timers.
    const noAnswerPending = call.answeredLegId === null
    const transferPending = call.transfer !== null || call.replacesCallIds.length > 0
    for (const leg of legs.values()) {
      if (leg.state !== 'active' || leg.callId !== call.id) continue
      if (leg.id === ending.actorLegId) {
        leg.state = 'ended'
        this.#touch(plan, leg)
      } else if (call.answeredLegId === null && leg.id !== call.callerLegId) {
        // §9.5 MUST: unanswered callee legs get Cancelled; answered legs never do.
        this.#terminateLeg(plan, leg, ending.cancel, now)
      } else {
        this.#terminateLeg(plan, leg, ending.end, now)
      }
      this.#retireGuard(plan, leg)
    }
    transition(call, 'ended')
    call.endedAt = now
    call.endReason = ending.reason
    plan.ended.push(call)
    call.negotiation = { type: 'idle' }
    this.#touch(plan, call)
    if (noAnswerPending) plan.cancelTimers.push(this.#timerId('no-answer', call.id))
    if (transferPending) plan.cancelTimers.push(this.#timerId('transfer', call.id))
    // A transfer's call that ends before completing takes the calls it would have replaced with it.
    if (call.replacesCallIds.length > 0) {
      const replaced = call.replacesCallIds
      call.replacesCallIds = []
      for (const id of replaced) {
        const old = plan.calls.get(id) ?? (await this.#ctx.store.getCall(id))
        if (old && old.state !== 'ended') {
          await this.#endCall(plan, old, await this.#legMap(plan, old), now, {
            end: EVENT_REASONS.transferFailed,
            cancel: EVENT_REASONS.transferFailed,
            reason: 'transfer failed',
          })
        }
      }
    }
  }

  /** Sends a leg its terminal event and records it for repeats; Cancelled is repeated 1.5 s later (§11.7). */
  #terminateLeg(plan: Plan, leg: Leg, reason: EventReason, now: number): void {
    const cancelled = reason.eventType === 'Cancelled'
    leg.state = cancelled ? 'cancelled' : 'ended'
    leg.terminal = {
      eventType: cancelled ? 'Cancelled' : 'SessionEnded',
      statusCode: reason.statusCode,
      reasonText: reason.reasonText,
    }
    this.#touch(plan, leg)
    this.#note(plan, leg, this.#eventFrame(leg, leg.terminal), now)
    if (cancelled && leg.userId !== TRUNK_USER_ID)
      plan.timers.push(this.#timer('repeat', leg.id, now + this.#ctx.config.timings.cancelRepeatMs))
  }

  #event(plan: Plan, leg: Leg, reason: EventReason, now: number): void {
    this.#note(plan, leg, this.#eventFrame(leg, reason), now)
  }

  #eventFrame(
    leg: Leg,
    reason: { eventType: 'Ringing' | 'SessionEnded' | 'Cancelled'; statusCode: number; reasonText: string },
  ): EventNotification {
    return {
      wrtcsEventNotification: {
        id: randomUUID(),
        eventType: reason.eventType,
        link: link(leg),
        statusCode: reason.statusCode,
        reasonText: reason.reasonText,
      },
    }
  }

  #offerFrame(leg: Leg, sdp: string): Notification {
    return { wrtcsOfferNotification: { id: randomUUID(), link: link(leg), offer: { sdp } } }
  }

  #answerFrame(leg: Leg, sdp: string): Notification {
    return { wrtcsAnswerNotification: { id: randomUUID(), link: link(leg), answer: { sdp } } }
  }

  /**
   * Queues a notification for a leg, honouring the early re-offer guard (§11.12): while a caller leg's
   * guard is up, offers are held back, and so is everything behind a held frame.
   */
  #note(plan: Plan, leg: Leg, frame: Notification, now: number): void {
    // The trunk's leg has no channel: what it needs is sent over SIP by the PSTN code, not as notifications.
    if (leg.userId === TRUNK_USER_ID) return
    if (leg.acceptancePushedAt !== null && !leg.guardReleased) {
      const guardUp = now < leg.acceptancePushedAt + this.#ctx.config.timings.guardMs
      if (!guardUp) {
        this.#releaseGuard(plan, leg)
      } else if ('wrtcsOfferNotification' in frame || leg.held.length > 0) {
        leg.held.push(JSON.stringify(frame))
        this.#touch(plan, leg)
        return
      }
    }
    plan.notes.push({ leg, frame })
  }

  /**
   * An ended leg gets no more offers (§8.4, §8.7 need an active leg), so with nothing held back its re-offer
   * guard has no work left: release it now and cancel its timer instead of letting the timer find that out.
   */
  #retireGuard(plan: Plan, leg: Leg): void {
    if (leg.acceptancePushedAt === null || leg.guardReleased || leg.held.length > 0) return
    leg.guardReleased = true
    this.#touch(plan, leg)
    plan.cancelTimers.push(this.#timerId('guard', leg.id))
  }

  #releaseGuard(plan: Plan, leg: Leg): void {
    leg.guardReleased = true
    const held = leg.held
    leg.held = []
    this.#touch(plan, leg)
    for (const text of held) plan.notes.push({ leg, frame: JSON.parse(text) as Notification })
  }

  /** The other party of `legId` in `call`: caller ↔ answered callee; unanswered callees ↔ caller. */
  #peerId(call: Call, legId: string): string | undefined {
    if (legId === call.callerLegId) return call.answeredLegId ?? undefined
    return call.callerLegId
  }

  #timerId(kind: (typeof TIMER_KINDS)[number], ref: string): string {
    return `${kind}:${ref}`
  }

  #timer(kind: (typeof TIMER_KINDS)[number], ref: string, dueAt: number): Timer {
    return { id: this.#timerId(kind, ref), kind, dueAt, payload: { ref } }
  }

  #touch(plan: Plan, record: Call | Leg): void {
    if ('callerLegId' in record) {
      if (!plan.newCalls.includes(record)) plan.calls.set(record.id, record)
    } else if (!plan.newLegs.includes(record)) {
      plan.legs.set(record.id, record)
    }
  }

  /** The call's legs, preferring the copies this plan already changed (so no change is lost). */
  async #legMap(plan: Plan, call: Call): Promise<Map<string, Leg>> {
    const stored = await this.#ctx.store.listLegs(call.id)
    const legs = new Map<string, Leg>()
    for (const l of stored) {
      const own = plan.legs.get(l.id) ?? l
      if (own.callId === call.id) legs.set(l.id, own)
    }
    for (const l of [...plan.legs.values(), ...plan.newLegs]) if (l.callId === call.id) legs.set(l.id, l)
    return legs
  }

  // ── lookups ─────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Finds the user an address names, within the actor's account (§8.1 callee lookup): `user@domain` against
   * `services-identity`; also a bare `preferred_username`, and a local part that is unique in the account.
   * Anything else, including users of other accounts, is "not found" (never revealing that they exist).
   */
  async #resolveAny(
    accountId: string,
    _from: { username: string },
    address: string,
  ): Promise<User | undefined> {
    const bare = address.trim().replace(/^[a-z][a-z0-9+.-]*:/i, '')
    if (!bare || bare.length > 320) return undefined
    const at = bare.lastIndexOf('@')
    const local = at > 0 ? bare.slice(0, at) : bare
    if (at > 0) {
      const exact = await this.#ctx.store.getUserByLogin(accountId, bare.toLowerCase())
      if (exact) return exact
    }
    const byName = await this.#ctx.store.getUserByUsername(accountId, local)
    if (byName) return byName
    const byLocal = await this.#ctx.store.listUsersByLocalPart(accountId, local.toLowerCase())
    return byLocal.length === 1 ? byLocal[0] : undefined
  }

  /** The user an address names, unless it is an anonymous identity: those are never called (issue 15). */
  async #resolveIn(
    accountId: string,
    from: { username: string },
    address: string,
  ): Promise<User | undefined> {
    const user = await this.#resolveAny(accountId, from, address)
    return user && !(await isAnonymousUser(this.#ctx, user)) ? user : undefined
  }

  /** The callee's call-subscribed channels; none means "not found" (§11.9). */
  async #reachableChannels(user: User, field: string): Promise<Channel[]> {
    const channels = await this.#ctx.store.listSubscribedChannels(user.id)
    if (channels.length === 0) throw apiError('NOT_FOUND_INPUT', field)
    return channels
  }

  // ── execution ───────────────────────────────────────────────────────────────────────────────────────

  /** Loads the actor's own leg (404 otherwise, §8.0) and runs `fn` under its call's lock. */
  async #onLeg(
    actor: Actor,
    legId: string,
    respond: Respond,
    fn: (plan: Plan, call: Call, leg: Leg, legs: Map<string, Leg>, now: number) => void | Promise<void>,
  ): Promise<void> {
    const first = await this.#ctx.store.getLeg(legId)
    if (!first || first.userId !== actor.userId) throw apiError('NO_SUCH_SESSION')
    await this.#execute([first.callId], respond, async () => {
      const leg = await this.#ctx.store.getLeg(legId)
      if (!leg || leg.callId !== first.callId) throw new ConflictError('leg moved to another call')
      const call = await this.#ctx.store.getCall(leg.callId)
      if (!call) throw apiError('NO_SUCH_SESSION')
      const plan = emptyPlan()
      const legs = await this.#legMap(plan, call)
      legs.set(leg.id, leg)
      await fn(plan, call, leg, legs, this.#ctx.clock.now())
      return plan
    })
  }

  async #onLegId(
    legId: string,
    fn: (plan: Plan, call: Call, leg: Leg, now: number, legs: Map<string, Leg>) => void | Promise<void>,
  ): Promise<void> {
    const first = await this.#ctx.store.getLeg(legId)
    if (!first) return
    await this.#execute([first.callId], undefined, async () => {
      const leg = await this.#ctx.store.getLeg(legId)
      const call = leg ? await this.#ctx.store.getCall(leg.callId) : undefined
      const plan = emptyPlan()
      if (!leg || !call) return plan
      const legs = await this.#legMap(plan, call)
      legs.set(leg.id, leg)
      await fn(plan, call, leg, this.#ctx.clock.now(), legs)
      return plan
    })
  }

  async #onCall(
    callId: string,
    fn: (plan: Plan, call: Call, legs: Map<string, Leg>, now: number) => void | Promise<void>,
  ): Promise<void> {
    await this.#execute([callId], undefined, async () => {
      const plan = emptyPlan()
      const call = await this.#ctx.store.getCall(callId)
      if (!call) return plan
      await fn(plan, call, await this.#legMap(plan, call), this.#ctx.clock.now())
      return plan
    })
  }

  /**
   * Builds a plan under the call lock, commits it (retrying on a version conflict), schedules its timers,
   * writes the response, and only then queues its notifications (§8.1: the response goes first).
   */
  async #execute(keys: string[], respond: Respond | undefined, build: () => Promise<Plan>): Promise<void> {
    const key = keys[0]!
    await this.#locks.run(key, async () => {
      for (let attempt = 1; ; attempt++) {
        const plan = await build()
        // A timer both cancelled and (re)scheduled is simply replaced.
        const cancelTimers = [...new Set(plan.cancelTimers)].filter(
          (id) => !plan.timers.some((t) => t.id === id),
        )
        const records = plan.newCalls.length + plan.newLegs.length + plan.calls.size + plan.legs.size
        // A plan that changed nothing (an error, a timer with nothing left to do) has nothing to commit.
        if (records + cancelTimers.length + plan.timers.length > 0) {
          try {
            // Records and the timers they start or stop in one transaction: one write per step of a call.
            await this.#ctx.store.commit({
              newCalls: plan.newCalls,
              newLegs: plan.newLegs,
              calls: [...plan.calls.values()],
              legs: [...plan.legs.values()],
              cancelTimers,
              scheduleTimers: plan.timers,
            })
          } catch (err) {
            if (err instanceof ConflictError && attempt < 5) continue
            throw err
          }
          this.#ctx.timing?.('commit', { key })
        }
        this.#report(plan)
        for (const move of plan.pstnMoves) this.#movePstn(move)
        for (const call of plan.ended) if (call.pstn) this.#hangUpPstn(call)
        for (const id of plan.pstnRinging) this.#pstn.get(id)?.inbound?.ringing()
        for (const { callId, sdp } of plan.pstnAnswers) void this.#acceptInbound(callId, sdp)
        for (const r of plan.pstnReoffers) void this.#reofferToTrunk(r)
        for (const r of plan.pstnReanswers) void this.#reanswerToTrunk(r)
        for (const id of plan.pstnFreshOffers) void this.#pstnFreshOffer(id)
        for (const r of plan.pstnMovedAnswers) void this.#answerMovedPstn(r.callId, r.sdp)
        for (const d of plan.pstnDials)
          void this.#dial(d.callId, d.sdp).catch((err: unknown) =>
            this.#ctx.log.error({ err, callId: d.callId }, 'PSTN call: dialing failed'),
          )
        if (plan.error) {
          await this.#deliver(plan)
          throw plan.error
        }
        if (respond && plan.reply) {
          await respond(plan.reply.status, plan.reply.body)
          this.#ctx.timing?.('reply', { key, status: plan.reply.status })
        }
        await this.#deliver(plan)
        if (plan.notes.length > 0) this.#ctx.timing?.('queued', { key, frames: plan.notes.length })
        return
      }
    })
  }

  /** The info lines (and metrics) of a committed plan: calls started, answered and ended (issue 16). */
  #report(plan: Plan): void {
    const log = this.#ctx.log
    const metrics = this.#ctx.metrics
    for (const call of plan.newCalls) {
      log.info(
        {
          callId: call.id,
          legId: call.callerLegId,
          caller: call.callerUsername,
          callee: call.calleeUsername,
        },
        'call started',
      )
      metrics?.callStarted()
    }
    for (const { call, legId } of plan.answered) {
      const setupMs = (call.answeredAt ?? call.createdAt) - call.createdAt
      log.info(
        { callId: call.id, legId, caller: call.callerUsername, callee: call.calleeUsername, setupMs },
        'call answered',
      )
      metrics?.callAnswered(setupMs)
    }
    for (const call of plan.ended) {
      log.info(
        {
          callId: call.id,
          caller: call.callerUsername,
          callee: call.calleeUsername,
          answered: call.answeredAt !== null,
          reason: call.endReason,
        },
        'call ended',
      )
      const outcome = call.answeredAt !== null ? 'answered' : 'unanswered'
      metrics?.callEnded(outcome, call.endReason ?? 'unknown')
      if (call.pstn) metrics?.pstnCallEnded(call.pstn.direction, outcome)
    }
  }

  async #deliver(plan: Plan): Promise<void> {
    if (plan.notes.length === 0) return
    const channelsByUser = new Map<string, string[]>()
    const outgoing = []
    for (const { leg, frame } of plan.notes) {
      let channelIds: string[]
      if (leg.channelId) {
        channelIds = [leg.channelId]
      } else {
        // §11.2: a caller leg's notifications go to every call-subscribed channel of its user.
        let ids = channelsByUser.get(leg.userId)
        if (!ids) {
          ids = (await this.#ctx.store.listSubscribedChannels(leg.userId)).map((c) => c.id)
          channelsByUser.set(leg.userId, ids)
        }
        channelIds = ids
      }
      if (channelIds.length === 0) {
        this.#ctx.log.info({ legId: leg.id }, 'notification dropped: the user has no call subscription')
        continue
      }
      outgoing.push({ channelIds, legId: leg.id, frame })
    }
    await this.#notifier.send(outgoing)
  }
}

/** What `POST …/sessions` asks for (§8.1), as the create paths use it. */
interface SessionCreateInput {
  address: string
  sdp: string
  displayName?: string
  correlator?: string
}

/** A new call from `actor`, ringing nobody yet: the state every outgoing call starts in (§8.1). */
function newOutgoingCall(
  callId: string,
  actor: Actor,
  input: SessionCreateInput,
  callerLegId: string,
  calleeUsername: string,
  now: number,
): Call {
  return {
    id: callId,
    accountId: actor.accountId,
    state: 'initiated',
    callerLegId,
    answeredLegId: null,
    negotiation: { type: 'idle' },
    offerSdp: input.sdp,
    originatorAddress: `sip:${actor.login}`,
    originatorName: input.displayName || actor.username,
    tParticipantAddress: input.address,
    callerUsername: actor.username,
    calleeUsername,
    transfer: null,
    replacesCallIds: [],
    createdAt: now,
    answeredAt: null,
    endedAt: null,
    endReason: null,
    version: 0,
  }
}

/** The 201 of `POST …/sessions`: the caller's leg as the session resource (§8.1). */
function createdReply(
  actor: Actor,
  callerLegId: string,
  input: SessionCreateInput,
): { status: number; body: SessionCreateResponse } {
  return {
    status: 201,
    body: {
      wrtcsSession: {
        resourceURL: sessionResourceUrl(actor.username, callerLegId),
        tParticipantAddress: input.address,
        ...(input.correlator !== undefined ? { clientCorrelator: input.correlator } : {}),
      },
    },
  }
}
