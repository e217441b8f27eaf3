/**
 * ICE collection checks (sdk-api §5.1.9–5.1.10, protocol.md §10.2, §14.1). Each offer and answer is
 * sent once with its candidates inside (no trickle), so the SDK must decide when gathering is
 * "good enough". These are pure functions of the check info, so they are unit-testable.
 */
import type {
  IceCollectionCheckResult,
  IceCollectionInfo,
  IceServer,
  IceTimeouts,
  LegacyIceCollectionCheck,
} from '../core/types.js'

interface SectionCandidates {
  host: number
  srflx: number
  relay: number
  total: number
}

/** Server URLs of an RTCConfiguration-like object. */
export function iceServerUrls(config: object): string[] {
  const servers = (config as { iceServers?: IceServer[] }).iceServers ?? []
  return servers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]))
}

/**
 * Candidate counts per m-section that needs its own transport: sections outside any BUNDLE group,
 * plus the first (tagged) section of each group. Rejected sections (port 0) are skipped.
 *
 * A line scan, not a full SDP parse: it runs at every candidate while an offer or answer waits to be sent,
 * on the call's critical path (issue 14), and needs only the m-lines, mids, groups and candidate types.
 */
export function candidatesBySection(sdp: string): SectionCandidates[] {
  if (!sdp) return []
  const bundled = new Set<string>()
  const taggers = new Set<string>()
  const media: { port: number; mid?: string; counts: SectionCandidates }[] = []
  let current: (typeof media)[number] | undefined
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      current = {
        port: Number(/^m=\w* (\d*)/.exec(line)?.[1] ?? 0),
        counts: { host: 0, srflx: 0, relay: 0, total: 0 },
      }
      media.push(current)
    } else if (!current) {
      // Groups are session-level attributes (RFC 9143).
      const group = /^a=group:BUNDLE(?: (.*))?$/.exec(line)
      if (!group) continue
      const mids = (group[1] ?? '').split(' ').filter(Boolean)
      mids.forEach((m) => bundled.add(m))
      if (mids[0]) taggers.add(mids[0])
    } else if (line.startsWith('a=mid:')) {
      current.mid = /^a=mid:(\S*)/.exec(line)?.[1] ?? ''
    } else if (line.startsWith('a=candidate:')) {
      const type = CANDIDATE.exec(line)?.[1]
      if (type === undefined) continue
      const counts = current.counts
      counts.total++
      if (type === 'host') counts.host++
      else if (type === 'srflx' || type === 'prflx') counts.srflx++
      else if (type === 'relay') counts.relay++
    }
  }
  const out: SectionCandidates[] = []
  for (const m of media) {
    const mid = m.mid
    if (m.port === 0 && !(mid !== undefined && taggers.has(mid))) continue
    if (mid !== undefined && bundled.has(mid) && !taggers.has(mid)) continue
    out.push(m.counts)
  }
  return out
}

/** An ICE candidate attribute (RFC 8839 §5.1): foundation, component, transport, priority, address, port, type. */
const CANDIDATE = /^a=candidate:\S* \d* \S* \d* \S* \d* typ (\S*)/

/**
 * Parley's default check. It follows the 5.x rule set, with one change (protocol.md §14.1): without
 * a TURN server there are no relay candidates to wait for, so it continues as soon as every section
 * has a host candidate (and a server-reflexive one when a STUN server is configured).
 *
 * 1. gathering complete → continue with at least one candidate, otherwise fail;
 * 2. before the ideal timeout → continue when every section has a relay candidate per TURN URL;
 * 3. before the max timeout → continue when every section has a relay candidate (any candidate without TURN);
 * 4. at the max timeout → continue with whatever exists, or fail without candidates.
 */
export function defaultIceCheck(info: IceCollectionInfo, timeouts: IceTimeouts): IceCollectionCheckResult {
  const sections = candidatesBySection(info.rtcLocalSessionDescription)
  const total =
    sections.reduce((n, s) => n + s.total, 0) + (sections.length === 0 ? info.iceCandidates.length : 0)
  if (info.iceGatheringState === 'complete') {
    return total > 0
      ? { type: 'StartCall' }
      : { type: 'Error', error: 'ICE gathering produced no candidates' }
  }
  const urls = iceServerUrls(info.rtcPeerConnectionConfig)
  const turnCount = urls.filter((u) => /^turns?:/i.test(u)).length
  const stunCount = urls.filter((u) => /^stuns?:/i.test(u)).length
  const elapsed = info.iceCollectionDuration
  const all = (pred: (s: SectionCandidates) => boolean) => sections.length > 0 && sections.every(pred)
  if (elapsed < timeouts.iceCollectionIdealTimeout) {
    const ideal =
      turnCount > 0
        ? all((s) => s.relay >= turnCount)
        : all((s) => s.host > 0 && (stunCount === 0 || s.srflx > 0))
    return ideal
      ? { type: 'StartCall' }
      : { type: 'Wait', wait: timeouts.iceCollectionIdealTimeout - elapsed }
  }
  if (elapsed < timeouts.iceCollectionMaxTimeout) {
    const good = turnCount > 0 ? all((s) => s.relay > 0) : all((s) => s.total > 0)
    return good ? { type: 'StartCall' } : { type: 'Wait', wait: timeouts.iceCollectionMaxTimeout - elapsed }
  }
  return total > 0 ? { type: 'StartCall' } : { type: 'Error', error: 'ICE gathering produced no candidates' }
}

/**
 * Adapts a 4.x `iceCollectionCheck` (sdk-api §5.1.10): called every `iceCollectionDelay` ms while
 * gathering is incomplete; `true` continues; at `maxIceTimeout` the operation continues anyway;
 * completion of gathering continues without calling it.
 */
export function legacyIceCheck(
  legacy: LegacyIceCollectionCheck,
  settings: { iceCollectionDelay: number; maxIceTimeout: number },
): (info: IceCollectionInfo) => IceCollectionCheckResult {
  let lastCall = 0
  return (info) => {
    const elapsed = info.iceCollectionDuration
    if (info.iceGatheringState === 'complete' || elapsed >= settings.maxIceTimeout)
      return { type: 'StartCall' }
    const nextIn = (from: number) =>
      Math.max(0, Math.min(from + settings.iceCollectionDelay, settings.maxIceTimeout) - elapsed)
    if (info.reason !== 'Scheduled' || elapsed - lastCall < settings.iceCollectionDelay) {
      return { type: 'Wait', wait: nextIn(lastCall) }
    }
    lastCall = elapsed
    const ready = legacy(info.iceCandidates, {
      iceServerUrls: iceServerUrls(info.rtcPeerConnectionConfig),
      elapsedTime: elapsed,
      maxIceTimeout: settings.maxIceTimeout,
      offeredMedia: [],
      iceCollectionDelay: settings.iceCollectionDelay,
    })
    return ready ? { type: 'StartCall' } : { type: 'Wait', wait: nextIn(elapsed) }
  }
}
