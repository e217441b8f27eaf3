/**
 * The waiting loop around an ICE collection check (sdk-api §5.1.8–5.1.9): run the check at start
 * ("Scheduled"), on every new candidate and gathering-state change, and when a requested wait ends;
 * finish as soon as it says `StartCall`. Shared by the real and the fake engine.
 */
import type { IceCheckReason } from '../core/types.js'
import { IceCollectionError, type GatherOptions } from './engine.js'

export interface GatherSource {
  iceGatheringState(): string
  localSdp(): string
  config(): object
  /** Candidates gathered since the last setLocalDescription. */
  candidates(): RTCIceCandidate[]
  /** Calls `cb` on each candidate / gathering state change; returns the unsubscribe function. */
  onTrigger(cb: (reason: IceCheckReason) => void): () => void
  /** The peer connection was closed: waiting must stop (its triggers fire once more). */
  closed(): boolean
}

export function gatherWithCheck(src: GatherSource, options: GatherOptions): Promise<string> {
  const start = Date.now()
  return new Promise<string>((resolve, reject) => {
    let done = false
    let waitTimer: ReturnType<typeof setTimeout> | undefined
    const finish = (error?: Error) => {
      if (done) return
      done = true
      clearTimeout(waitTimer)
      clearTimeout(hardTimer)
      unsubscribe()
      if (error) reject(error)
      else resolve(src.localSdp())
    }
    const run = (reason: IceCheckReason) => {
      if (done) return
      if (src.closed()) {
        finish(new IceCollectionError('The peer connection was closed'))
        return
      }
      let result: unknown
      try {
        result = options.check({
          reason,
          iceCandidates: [...src.candidates()],
          iceCollectionDuration: Date.now() - start,
          iceGatheringState: src.iceGatheringState(),
          rtcPeerConnectionConfig: src.config(),
          rtcLocalSessionDescription: src.localSdp(),
        })
      } catch (err) {
        finish(
          new IceCollectionError(
            `ICE collection check threw: ${err instanceof Error ? err.message : String(err)}`,
          ),
        )
        return
      }
      let r = result as { type?: unknown; wait?: unknown; error?: unknown } | null
      // Re-offers reuse the established transport: no candidate in the SDP is not an error then.
      if (options.allowNoCandidates && r?.type === 'Error' && src.iceGatheringState() === 'complete')
        r = { type: 'StartCall' }
      switch (r?.type) {
        case 'StartCall':
          finish()
          return
        case 'Error': {
          const e = r.error
          finish(
            new IceCollectionError(
              e instanceof Error ? e.message : typeof e === 'string' ? e : 'ICE collection failed',
            ),
          )
          return
        }
        case 'Wait':
          // Without `wait`, the check runs again only at the next candidate or state change.
          if (typeof r.wait === 'number' && r.wait >= 0) {
            clearTimeout(waitTimer)
            waitTimer = setTimeout(() => run('Scheduled'), r.wait)
          }
          return
        default:
          finish(new IceCollectionError('ICE collection check returned an invalid result'))
      }
    }
    const unsubscribe = src.onTrigger((reason) => run(reason))
    const hardTimer = setTimeout(() => {
      const sdp = src.localSdp()
      if (/a=candidate:/.test(sdp) || src.candidates().length > 0 || options.allowNoCandidates) finish()
      else finish(new IceCollectionError('ICE gathering produced no candidates'))
    }, options.hardTimeout)
    // A restart's first look may still see the old generation's `complete`: wait for the browser's next word
    // (a candidate or a state change; the hard timeout bounds it).
    const stale = options.restart && src.iceGatheringState() === 'complete' && src.candidates().length === 0
    if (!stale) run('Scheduled')
  })
}
