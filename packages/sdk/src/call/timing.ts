/** Timing marks of a call's set-up (`logs.timingHandler`, issue 14); nothing happens without a handler. */
import { timingMark } from '../core/timing.js'
import type { Call } from './call.js'
import type { CallContext } from './context.js'

/** Marks one step of `call`, when the app asked for marks. */
export function mark(ctx: CallContext, call: Call, step: string): void {
  const handler = ctx.deps.config().logs.timingHandler
  if (handler) timingMark(handler, call.id, call.legId, step)
}

/** Whether marks are wanted (to skip building what only a mark needs). */
export function timing(ctx: CallContext): boolean {
  return ctx.deps.config().logs.timingHandler !== undefined
}
