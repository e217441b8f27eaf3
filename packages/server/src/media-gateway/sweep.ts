import type { Logger } from 'pino'
import type { MediaGateway } from './types.js'

/** What a sweep did. */
export interface SweepResult {
  /** Gateway calls deleted because no live call owns them. */
  deleted: string[]
  /** Gateway calls kept (live, or not deleted because the check or the delete failed). */
  kept: string[]
}

/**
 * The start-up sweep (issue 11: "every rtpengine session is deleted when its call ends — also after a crash"):
 * deletes every gateway call for which `isLive(callId)` is false. Run it once at start-up, after the store is
 * open; `isLive` answers from the store (a Parley call that is not ended and holds that gateway call id). A call
 * whose check or delete fails is kept and logged; the sweep itself never throws but for `list()` failing.
 */
export async function sweepGatewayCalls(
  gateway: MediaGateway,
  isLive: (callId: string) => boolean | Promise<boolean>,
  log?: Logger,
): Promise<SweepResult> {
  const result: SweepResult = { deleted: [], kept: [] }
  for (const callId of await gateway.list()) {
    try {
      if (await isLive(callId)) {
        result.kept.push(callId)
        continue
      }
      await gateway.delete(callId)
      result.deleted.push(callId)
    } catch (err) {
      log?.warn({ err, callId }, 'media gateway sweep: could not check or delete a call; kept')
      result.kept.push(callId)
    }
  }
  if (result.deleted.length > 0)
    log?.info(
      { deleted: result.deleted.length, kept: result.kept.length },
      'media gateway sweep deleted orphan calls',
    )
  return result
}
