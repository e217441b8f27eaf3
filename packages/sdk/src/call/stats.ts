/**
 * Call statistics and codec capabilities (sdk-api §5.3.16, §5.3.18).
 */
import { basicError, toBasicError, type BasicError } from '../core/errors.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'
import { opEvent } from './operations.js'

/** `call.getStats` (sdk-api §5.3.16). */
export function getStats(
  ctx: CallContext,
  callId: unknown,
  trackId?: unknown,
): Promise<Map<string, unknown>> {
  const op = 'GET_STATS'
  const fail = (call: Call | undefined, id: string, error: BasicError) => {
    opEvent(ctx, call, op, 'START', {}, id)
    opEvent(ctx, call, op, 'FINISH', { error }, id)
    const payload: Record<string, unknown> = { callId: id, error }
    if (typeof trackId === 'string') payload.trackId = trackId
    if (call) ctx.deps.emit('call:statsReceived', payload)
    ctx.deps.emit('call:error', { callId: id, operation: op, error })
    const rejection: Record<string, unknown> = { error }
    if (typeof trackId === 'string') rejection.trackId = trackId
    return Promise.reject(rejection)
  }
  if (typeof callId !== 'string') throw new TypeError('call.getStats: "callId" must be a string')
  const call = ctx.calls.get(callId)
  if (!call) return fail(undefined, callId, basicError('call:7', `No call with id ${callId}`))
  if (call.state === 'Initiating' || call.terminal || !call.session) {
    return fail(call, callId, basicError('call:6', `Cannot get stats in state ${call.state}`))
  }
  let track: MediaStreamTrack | undefined
  if (trackId !== undefined) {
    const entry = typeof trackId === 'string' ? ctx.deps.tracks.get(trackId) : undefined
    if (!entry || entry.callId !== call.id)
      return fail(call, callId, basicError('call:7', `Unknown track ${String(trackId)}`))
    track = entry.track
  }
  opEvent(ctx, call, op, 'START', {})
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
        version: ctx.deps.version,
        callId: call.id,
        platform: ctx.deps.platform(),
      })
      opEvent(ctx, call, op, 'FINISH', { previous: { operation: op, status: 'ONGOING' } })
      const payload: Record<string, unknown> = { callId: call.id, result }
      if (typeof trackId === 'string') payload.trackId = trackId
      ctx.deps.emit('call:statsReceived', payload)
      return result
    },
    (err: unknown) => {
      const error = toBasicError(err, 'call:2')
      opEvent(ctx, call, op, 'FINISH', { error, previous: { operation: op, status: 'ONGOING' } })
      const payload: Record<string, unknown> = { callId: call.id, error }
      if (typeof trackId === 'string') payload.trackId = trackId
      ctx.deps.emit('call:statsReceived', payload)
      ctx.deps.emit('call:error', { callId: call.id, operation: op, error })
      return Promise.reject({ error, ...(typeof trackId === 'string' ? { trackId } : {}) })
    },
  )
}

/** `call.getAvailableCodecs` (sdk-api §5.3.18). */
export function getAvailableCodecs(ctx: CallContext, kind: unknown): Promise<RTCRtpCodec[]> {
  const fail = (code: string, message: string) => {
    const error = basicError(code, message)
    ctx.deps.emit('call:error', { error })
    return Promise.reject({ error })
  }
  if (kind !== 'audio' && kind !== 'video') return fail('call:7', 'kind must be "audio" or "video"')
  const codecs = ctx.deps.engine.codecCapabilities(kind)
  if (!codecs) return fail('call:5', 'This browser cannot list its codecs')
  ctx.deps.emit('call:availableCodecs', { kind, codecs })
  return Promise.resolve(codecs)
}
