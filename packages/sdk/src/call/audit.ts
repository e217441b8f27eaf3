/**
 * Call audit (protocol.md §8.2): the periodic `PUT …/status` that tells the server the call is still
 * up here, and ends the call once the server no longer knows it.
 */
import { SdkError, basicError } from '../core/errors.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { abortOperation } from './operations.js'
import { terminate } from './teardown.js'
import { sendStatus } from './wire.js'

const AUDIT_FAILURE = 'Call has ended due to call audit failure.'

/**
 * Call audit (protocol.md §8.2): `PUT …/status` `Connected` 2 s after set-up, then 25 s after a success
 * (max(10 s, callAuditTimer)), 5 s after an error (min(5 s, 0.45 × callAuditTimer)), 1 s after a
 * request slower than 4 s. A 404 means the server no longer knows the call: it ends (9909).
 */
export function startAudit(ctx: CallContext, call: Call): void {
  if (call.auditing || call.terminal) return
  call.auditing = true
  const tick = async (): Promise<void> => {
    call.auditTimer = undefined
    if (call.terminal || !call.legId || ctx.isDestroyed()) return
    const started = Date.now()
    const period = ctx.deps.config().call.callAuditTimer
    let next: number
    try {
      await sendStatus(ctx, call, 'Connected')
      next = Math.max(10_000, period)
    } catch (err) {
      if (call.terminal) return
      if (err instanceof SdkError && err.status === 404) return auditFailed(ctx, call)
      next = Math.min(5000, 0.45 * period)
    }
    if (Date.now() - started > 4000) next = 1000
    if (!call.terminal && !ctx.isDestroyed()) call.auditTimer = setTimeout(() => void tick(), next)
  }
  // The first audit waits a moment: right at set-up it would only compete with the requests that
  // establish the call (the server serialises a call's requests), and the server arms no liveness clock
  // for a leg before its first status request or the answer anyway (protocol §11.13).
  call.auditTimer = setTimeout(() => void tick(), FIRST_AUDIT_DELAY_MS)
}

/** Delay of the first audit after a call reaches Initiated/Ringing. */
export const FIRST_AUDIT_DELAY_MS = 2000

function auditFailed(ctx: CallContext, call: Call): void {
  if (call.terminal) return
  const error = basicError('call:8', AUDIT_FAILURE)
  abortOperation(ctx, call, AUDIT_FAILURE)
  terminate(ctx, call, 'Ended', { transition: { statusCode: 9909, reasonText: AUDIT_FAILURE }, error })
}
