/**
 * SDP helpers: the handler pipeline (sdk-api §5.1.11), codec removal (sdk-api §7, `removeH264Codecs`),
 * offered media and hold detection (protocol.md §10.3). SDP objects are sdp-transform's.
 */
import { parse, write, type MediaDescription } from 'sdp-transform'
import type { Logger } from '../core/logger.js'
import type { MediaOffered, SdpHandlerFunction, SdpHandlerInfo, SdpObject } from '../core/types.js'

/** A codec to remove: by name, optionally only payloads whose fmtp has every listed parameter. */
export interface CodecSelector {
  name: string
  fmtpParams?: string[]
}

function matches(m: MediaDescription, payload: number, sel: CodecSelector): boolean {
  const rtp = m.rtp.find((r) => r.payload === payload)
  if (!rtp || rtp.codec.toLowerCase() !== sel.name.toLowerCase()) return false
  if (!sel.fmtpParams || sel.fmtpParams.length === 0) return true
  const fmtp = m.fmtp.find((f) => f.payload === payload)?.config ?? ''
  return sel.fmtpParams.every((p) => fmtp.includes(p))
}

/** Removes matching codecs, with their RTX/FEC companions (`apt=`), from every m-section. Mutates. */
export function removeCodecs(sdp: SdpObject, selectors: Array<string | CodecSelector>): SdpObject {
  const sels = selectors.map((s) => (typeof s === 'string' ? { name: s } : s))
  for (const m of sdp.media) {
    if (!m.rtp || m.rtp.length === 0) continue
    const removed = new Set<number>()
    for (const r of m.rtp) if (sels.some((s) => matches(m, r.payload, s))) removed.add(r.payload)
    if (removed.size === 0) continue
    // Companion payloads (rtx, ulpfec…) that point at a removed one go too.
    for (const f of m.fmtp ?? []) {
      const apt = /(?:^|;)\s*apt=(\d+)/.exec(f.config)
      if (apt && removed.has(Number(apt[1]))) removed.add(f.payload)
    }
    m.rtp = m.rtp.filter((r) => !removed.has(r.payload))
    m.fmtp = (m.fmtp ?? []).filter((f) => !removed.has(f.payload))
    if (m.rtcpFb) m.rtcpFb = m.rtcpFb.filter((f) => !removed.has(Number(f.payload)))
    if (m.payloads !== undefined) {
      m.payloads = String(m.payloads)
        .split(' ')
        .filter((p) => p && !removed.has(Number(p)))
        .join(' ')
    }
  }
  return sdp
}

/** `sdpHandlers.createCodecRemover` (sdk-api §7). */
export function createCodecRemover(codecs: Array<string | CodecSelector>): SdpHandlerFunction {
  if (!Array.isArray(codecs)) throw new TypeError('createCodecRemover: "codecs" must be an array')
  return (newSdp) => removeCodecs(newSdp, codecs)
}

export interface PipelineSettings {
  removeH264Codecs: boolean
  removeBundling: boolean
  handlers: SdpHandlerFunction[]
  log: Logger
}

/** An H264 payload type in an SDP. */
export const H264 = /a=rtpmap:\d+ H264\//i

/**
 * Runs the built-in steps (H264 removal, bundling removal) and then the user handlers over `sdp`.
 * A handler that throws (or returns nothing) is logged and skipped. Without anything to do, the SDP
 * is returned untouched, byte for byte.
 */
export function runSdpPipeline(sdp: string, info: SdpHandlerInfo, s: PipelineSettings): string {
  const stripH264 = s.removeH264Codecs && H264.test(sdp)
  const stripBundle = s.removeBundling && /a=group:BUNDLE/.test(sdp)
  if (!stripH264 && !stripBundle && s.handlers.length === 0) return sdp
  const original = parse(sdp)
  let current = parse(sdp)
  if (stripH264) current = removeCodecs(current, ['H264'])
  if (stripBundle) current.groups = (current.groups ?? []).filter((g) => g.type !== 'BUNDLE')
  for (const handler of s.handlers) {
    try {
      const next = handler(current, info, original)
      if (next && typeof next === 'object' && Array.isArray((next as SdpObject).media)) current = next
      else s.log.warn('an SDP handler returned no SDP object; its result is ignored')
    } catch (err) {
      s.log.error('an SDP handler threw; skipped', err)
    }
  }
  return write(current)
}

/** Removes `a=ice-options:trickle` (protocol.md §10.2: candidates travel inside the SDP). */
export function stripTrickle(sdp: string): string {
  return sdp.replace(/^a=ice-options:trickle\s*\r?\n/gm, '').replace(/^(a=ice-options:.*) trickle/gm, '$1')
}

interface MSection {
  type: string
  port: number
  direction: string
  mid?: string
}

function sections(sdp: string): MSection[] {
  const parsed = parse(sdp)
  const sessionDir = (parsed as { direction?: string }).direction ?? 'sendrecv'
  return parsed.media
    .filter((m) => m.type === 'audio' || m.type === 'video')
    .map((m) => ({
      type: m.type,
      port: m.port,
      direction: (m as { direction?: string }).direction ?? sessionDir,
      mid: m.mid === undefined ? undefined : String(m.mid),
    }))
}

/** Media kinds the offer contains (sdk-api §5.1.3). */
export function mediaOfferedFrom(sdp: string): MediaOffered {
  // The m-lines only, without a full parse: this runs as an invitation arrives, before its devices start.
  const offered = { audio: false, video: false }
  for (const [, type, port] of sdp.matchAll(/^m=(\w*) (\d*)/gm)) {
    if (Number(port) === 0) continue
    if (type === 'audio') offered.audio = true
    else if (type === 'video') offered.video = true
  }
  return offered
}

/**
 * True when a remote SDP puts us on hold: no media flows towards us any more — every active audio
 * section is `inactive` or `sendonly` (music on hold) and every video section `inactive`
 * (protocol.md §10.3).
 */
export function isHoldSdp(sdp: string): boolean {
  const ms = sections(sdp).filter((m) => m.port !== 0)
  if (ms.length === 0) return false
  return ms.every((m) =>
    m.type === 'audio'
      ? m.direction === 'inactive' || m.direction === 'sendonly'
      : m.direction === 'inactive',
  )
}

/** True when the local description plays the DTLS-passive role (sdk-api §5.3.20). */
export function isDtlsPassive(sdp: string): boolean {
  return /^a=setup:passive/m.test(sdp)
}

/**
 * The session id of the `o=` line. A re-offer with a different one comes from a different peer
 * connection (after a transfer): the receiver rebuilds its own (protocol.md §10.1, §11.17).
 */
export function sessionIdOf(sdp: string): string | undefined {
  return /^o=\S+ (\S+) /m.exec(sdp)?.[1]
}
