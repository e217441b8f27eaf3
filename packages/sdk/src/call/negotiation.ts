/**
 * Offer/answer for one call (RFC 8829 JSEP, protocol.md §10, §11.11–11.12): building a local offer
 * or answer (SDP handlers, ICE collection), the local re-offer with its rollback, and the glare rule.
 * Everything here runs in the call's own queue (architecture §4).
 */
import { SdkError, toBasicError, type BasicError } from '../core/errors.js'
import type {
  IceCollectionCheckResult,
  IceCollectionInfo,
  SdpHandlerFunction,
  SdpHandlerInfo,
} from '../core/types.js'
import type { PeerSession } from '../media/engine.js'
import { defaultIceCheck, legacyIceCheck } from '../media/ice-check.js'
import { sessionOf } from './call-media.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { errorOf, finishOp, updateOp, whyNot } from './operations.js'
import type { OperationName } from './rules.js'
import { H264, runSdpPipeline, stripTrickle } from './sdp.js'
import { terminate } from './teardown.js'
import { mark, timing } from './timing.js'
import { correlator, legPath, sendDelete } from './wire.js'

/** Longest wait, after a glare refusal, for the peer's offer before running the operation again. */
const GLARE_WAIT_MS = 1000

/** A failure after which the call cannot continue (e.g. the peer applied our offer but its answer failed). */
class FatalCallError extends SdkError {}

/** The server refused our `/update` because an offer is already pending on the call (protocol.md §11.12). */
const isGlare = (err: unknown): boolean =>
  err instanceof SdkError && !(err instanceof FatalCallError) && err.status === 409

/**
 * Creates an offer or answer, applies it locally, waits for ICE and returns the SDP to send:
 * handlers run before it is applied ("set") and again before it is sent ("send"), and the
 * trickle option is removed (protocol.md §10.2).
 */
export async function negotiateLocal(
  ctx: CallContext,
  call: Call,
  session: PeerSession,
  type: 'offer' | 'answer',
  operation: string,
  opts: { iceRestart?: boolean; freshTransport?: boolean; implicit?: { remoteOffer?: string } } = {},
): Promise<string> {
  if (opts.implicit && (await implicitLocal(ctx, call, session, type, opts.implicit))) {
    mark(ctx, call, `${type}:created`)
  } else {
    const created = await step(type === 'offer' ? 'call:9' : 'call:11', () =>
      type === 'offer'
        ? session.createOffer({ iceRestart: opts.iceRestart === true })
        : session.createAnswer(),
    )
    mark(ctx, call, `${type}:created`)
    const local = pipeSdp(ctx, call, created, { type, step: 'set', endpoint: 'local' })
    await step(type === 'offer' ? 'call:3' : 'call:11', () => session.setLocalDescription(type, local))
  }
  mark(ctx, call, `${type}:local-set`)
  // An ICE restart starts a new generation of candidates: like a fresh transport, its offer must carry them
  // (no trickle), or the far end — rtpengine on a phone call — has no address for the new one.
  const gathered = await gather(ctx, call, session, operation, {
    freshTransport: opts.freshTransport === true || opts.iceRestart === true,
    restart: opts.iceRestart === true,
  })
  mark(ctx, call, `${type}:ice-ready`)
  return stripTrickle(pipeSdp(ctx, call, gathered, { type, step: 'send', endpoint: 'local' }))
}

/**
 * The initial offer or answer (`implicit`) in one step (create and apply), when the "set" step of the SDP pipeline would
 * leave it unchanged: no `sdpHandlers`, no bundle removal, and no H264 to strip — an answer's codecs come from
 * the remote offer, an offer's H264 is left out by codec preferences (checked on the applied offer, which is
 * rolled back for the two-step path otherwise). Saves one trip to the browser's signalling thread per side on
 * the call's set-up (issue 14). Returns false when the two-step path must run.
 */
async function implicitLocal(
  ctx: CallContext,
  call: Call,
  session: PeerSession,
  type: 'offer' | 'answer',
  opts: { remoteOffer?: string },
): Promise<boolean> {
  const cfg = ctx.deps.config().call
  if (cfg.sdpHandlers.length > 0 || cfg.removeBundling) return false
  if (
    type === 'answer' &&
    (opts.remoteOffer === undefined || (cfg.removeH264Codecs && H264.test(opts.remoteOffer)))
  )
    return false
  if (type === 'offer' && session.signalingState !== 'stable') return false
  const applied = await step(type === 'offer' ? 'call:9' : 'call:11', () => session.createAndSetLocal(type))
  if (type === 'offer' && cfg.removeH264Codecs && H264.test(applied)) {
    // The browser ignored the codec preferences: undo, and rewrite the offer before applying it.
    await step('call:3', () => session.rollback())
    return false
  }
  return true
}

function gather(
  ctx: CallContext,
  call: Call,
  session: PeerSession,
  operation: string,
  { freshTransport, restart }: { freshTransport: boolean; restart: boolean },
): Promise<string> {
  const c = ctx.deps.config().call
  const timeouts = () => {
    const now = ctx.deps.config().call
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
  // description of a rebuilt peer connection, which has no transport yet, and an ICE restart's offer.
  const allowNoCandidates = !freshTransport && operation !== 'MAKE' && operation !== 'ANSWER'
  let firstSeen = !timing(ctx)
  return session
    .gatherIce({
      check: (info) => {
        if (!firstSeen && info.iceCandidates.length > 0) {
          firstSeen = true
          mark(ctx, call, 'candidate:first')
        }
        return check({ ...info, callId: call.id, callOperation: operation })
      },
      hardTimeout,
      allowNoCandidates,
      restart,
    })
    .catch((err: unknown) => {
      throw new SdkError('call:10', err instanceof Error ? err.message : 'ICE collection failed')
    })
}

/** Runs an SDP through the configured rewrites and the app's `sdpHandlers` for one step. */
export function pipeSdp(
  ctx: CallContext,
  call: Call,
  sdp: string,
  info: Omit<SdpHandlerInfo, 'callId'>,
): string {
  const cfg = ctx.deps.config().call
  const handlers: SdpHandlerFunction[] = cfg.sdpHandlers
  return runSdpPipeline(
    sdp,
    { callId: call.id, ...info },
    {
      removeH264Codecs: cfg.removeH264Codecs,
      removeBundling: cfg.removeBundling,
      handlers,
      log: ctx.deps.log,
    },
  )
}

/** Runs a media step; a foreign exception becomes an SdkError with `code`. */
export async function step<T>(code: string, fn: () => Promise<T>): Promise<T> {
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

/**
 * Runs a local renegotiation through the call's queue (architecture §4), checking the operation's
 * preconditions again when its turn comes (a remote operation may have run first, sdk-api §5.6.1).
 *
 * The glare rule (protocol.md §11.12): one offer may be pending per call, and the server refuses
 * the later `/update` with 409. The side refused has already rolled its offer back (`reoffer`);
 * it lets the peer's offer — on its way as a notification, queued behind us — be answered, then
 * runs its operation once more. A second refusal is reported as the operation's failure and the
 * call stays up (protocol.md §14.6): no retry loop, and both sides converge.
 */
export function renegotiate(
  ctx: CallContext,
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
        const why = whyNot(call, op, true)
        if (why) throw new SdkError('call:6', why)
        await task()
      })
      .catch(async (err: unknown) => {
        if (call.terminal) return
        if (!retry && isGlare(err)) {
          ctx.deps.log.info(`${op}: offer refused (glare); running again after the peer's offer`)
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
export async function reoffer(
  ctx: CallContext,
  call: Call,
  opts: { hold: boolean; iceRestart?: boolean },
): Promise<void> {
  const session = sessionOf(call)
  const op = call.operation?.name ?? 'UPDATE'
  session.setHold(opts.hold)
  let sdp: string
  try {
    sdp = await negotiateLocal(ctx, call, session, 'offer', op, { iceRestart: opts.iceRestart === true })
  } catch (err) {
    await rollback(call, session)
    throw err
  }
  if (call.terminal) return
  const answered = call.expectAnswer()
  try {
    await ctx.deps.rest.request('PUT', `${legPath(ctx, call)}/update`, {
      wrtcsOffer: { clientCorrelator: correlator(ctx), sdp },
    })
  } catch (err) {
    call.answerWaiter = undefined
    answered.catch(() => undefined)
    // protocol.md §14.6: roll back and report instead of ending the call (quirk Q20).
    await rollback(call, session)
    throw err
  }
  if (call.terminal) return
  updateOp(ctx, call)
  const answer = await answered
  if (call.terminal) return
  const remote = pipeSdp(ctx, call, answer, { type: 'answer', step: 'set', endpoint: 'remote' })
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

async function rollback(call: Call, session: PeerSession): Promise<void> {
  session.setHold(call.localHold)
  try {
    await session.rollback()
  } catch (err) {
    throw new FatalCallError('call:3', `Rollback failed: ${toBasicError(err, 'call:3').message}`)
  }
}

/** A started local operation failed: fatal failures end the call, others are reported by `report`. */
export function localOpFailed(
  ctx: CallContext,
  call: Call,
  err: unknown,
  report: (error: BasicError) => void,
): void {
  if (call.terminal) return
  const error = errorOf(ctx, err, 'call:2')
  if (err instanceof FatalCallError) {
    const op = call.operation?.name
    finishOp(ctx, call, error)
    sendDelete(ctx, call)
    terminate(ctx, call, 'Ended', { error }, op)
    return
  }
  report(error)
}
