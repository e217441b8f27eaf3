import { parse, write } from 'sdp-transform'
import type { MediaGateway, NgOptions } from './types.js'

/**
 * `sdp` with every stream `sendrecv` (RFC 3264 §5.1): the trunk's SDP of a held call, made an offer that resumes
 * the media (the phone side of a transfer, issue 11).
 */
export function resumedSdp(sdp: string): string {
  const session = parse(sdp)
  delete session.direction
  for (const media of session.media) media.direction = 'sendrecv'
  return write(session)
}

/**
 * The two translations a PSTN call needs, as rtpengine ng options (names as in rtpengine's "ng Control
 * Protocol" document). The browser leg is WebRTC: ICE (RFC 8445), DTLS-SRTP (RFC 5763/5764), RTP and RTCP on one
 * port (rtcp-mux, RFC 5761), `UDP/TLS/RTP/SAVPF` (RFC 5764 §8, JSEP RFC 8829 §5.1.2). The trunk leg is what SIP
 * carriers speak: plain `RTP/AVP` (RFC 3551) with separate RTCP, no ICE, no encryption.
 *
 * Codecs are never transcoded: the browser only ever sees codecs the trunk side has or may answer with, so
 * rtpengine forwards packets as they come. PCMU and PCMA (G.711) are the PSTN's common ground; `telephone-event`
 * carries DTMF (RFC 4733) end to end; Opus only when the trunk side offers it (inbound), or when asked for
 * (outbound, `opus: true`). CN, RED, G.722, iLBC and video are stripped.
 */

/** Audio codecs kept by default (rtpengine codec names; `telephone-event` in every clock rate). */
export const G711_CODECS = ['PCMU', 'PCMA', 'telephone-event'] as const

/** Options of the translations. */
export interface TranslationOptions {
  /** Keep Opus as well as G.711 (outbound: offer it to the trunk; inbound: pass it on if the trunk offers it). */
  opus?: boolean
}

/** `codec` options that keep only the given codecs (rtpengine: `strip: all` with `except`). */
function keepOnly(opus: boolean): NgOptions {
  return { strip: ['all'], except: opus ? ['opus', ...G711_CODECS] : [...G711_CODECS] }
}

/** Options common to both directions: rtpengine rewrites the session-level origin and connection lines. */
const COMMON: NgOptions = {
  replace: ['origin', 'session-connection'],
}

/**
 * The SDP sent to the browser (an offer from the trunk, or the answer to the browser's offer):
 * - `transport-protocol: UDP/TLS/RTP/SAVPF`: the profile WebRTC requires;
 * - `ICE: force`: rtpengine gathers its own candidates and runs ICE with the browser (lite answers are not
 *   enough for Chromium's connectivity checks toward it);
 * - `DTLS`: in offers rtpengine writes `a=setup:actpass` whatever is asked (RFC 5763 §5) and the browser
 *   answers `active`; in the answer to the browser's `actpass` offer rtpengine takes `active` itself
 *   (`answerFromTrunk`): with `passive` there, Chromium 156 reached ICE connected but DTLS stayed `connecting`
 *   in most runs here, so no media flowed;
 * - `SDES: off`: no `a=crypto` lines, DTLS-SRTP only (browsers refuse SDES, RFC 8827 §6.5);
 * - `rtcp-mux: [offer, require]`: offer rtcp-mux and never open a separate RTCP port (Chromium's policy is
 *   `require`, RFC 8829 §4.1.1);
 * - `flags: [generate-mid]`: give each m= line an `a=mid`, which JSEP needs and a SIP offer lacks. Offers only:
 *   in the answer toward the browser (which has its own mids) it left Chromium 156 connected with no media.
 */
export function webrtcSideOptions(options: TranslationOptions = {}): NgOptions {
  return {
    ...COMMON,
    'transport-protocol': 'UDP/TLS/RTP/SAVPF',
    ICE: 'force',
    DTLS: 'passive',
    SDES: ['off'],
    'rtcp-mux': ['offer', 'require'],
    flags: ['generate-mid'],
    codec: keepOnly(options.opus ?? true),
  }
}

/**
 * The SDP sent to the trunk (an offer for the browser's call, or the answer to the trunk's offer):
 * - `transport-protocol: RTP/AVP`: plain RTP;
 * - `ICE: remove`: no candidates or ICE credentials;
 * - `DTLS: off`: no fingerprint or setup attributes;
 * - `rtcp-mux: [demux]`: RTCP on its own port toward the trunk, while the browser side stays muxed.
 */
export function trunkSideOptions(options: TranslationOptions = {}): NgOptions {
  return {
    ...COMMON,
    'transport-protocol': 'RTP/AVP',
    ICE: 'remove',
    DTLS: 'off',
    'rtcp-mux': ['demux'],
    codec: keepOnly(options.opus ?? false),
  }
}

/**
 * A PSTN call's media through the gateway: the four SDP translations, with the leg tags kept in one place.
 * `callId` names the gateway call (one per Parley call); the tags name its two legs.
 */
export class GatewayCall {
  readonly #gateway: MediaGateway
  readonly #options: TranslationOptions

  constructor(
    gateway: MediaGateway,
    readonly callId: string,
    readonly browserTag: string,
    readonly trunkTag: string,
    options: TranslationOptions = {},
  ) {
    this.#gateway = gateway
    this.#options = options
  }

  /** Outbound: the browser's WebRTC offer → a plain RTP offer for the INVITE to the trunk. */
  offerToTrunk(browserOffer: string): Promise<string> {
    const codec = { codec: keepOnly(this.#options.opus ?? false) }
    return this.#gateway.offer(this.callId, this.browserTag, browserOffer, {
      ...trunkSideOptions(),
      ...codec,
    })
  }

  /**
   * Outbound: the trunk's answer (183/200 SDP) → the WebRTC answer for the browser. rtpengine is the DTLS client
   * (`a=setup:active`), and no `generate-mid` (the browser's offer has its mids; with it no media flowed).
   */
  answerFromTrunk(trunkAnswer: string): Promise<string> {
    const { codec: _codec, flags: _flags, ...options } = webrtcSideOptions()
    return this.#gateway.answer(this.callId, this.browserTag, this.trunkTag, trunkAnswer, {
      ...options,
      DTLS: 'active',
    })
  }

  /** Inbound: the trunk's plain RTP offer (INVITE SDP) → a WebRTC offer for the browser. */
  offerToBrowser(trunkOffer: string): Promise<string> {
    return this.#gateway.offer(
      this.callId,
      this.trunkTag,
      trunkOffer,
      webrtcSideOptions({ opus: true, ...this.#options }),
    )
  }

  /** Inbound: the browser's WebRTC answer → the plain RTP answer for the 200 OK to the trunk. */
  answerFromBrowser(browserAnswer: string): Promise<string> {
    const { codec: _codec, ...options } = trunkSideOptions()
    return this.#gateway.answer(this.callId, this.trunkTag, this.browserTag, browserAnswer, options)
  }

  /**
   * A re-offer in the established call (hold, unhold, ICE restart; RFC 3264 §8), from either side: `browser` — its
   * WebRTC offer becomes the plain RTP offer of a re-INVITE; `trunk` — the re-INVITE's offer becomes a WebRTC
   * re-offer. `browserDtls` is rtpengine's DTLS role toward the browser, kept from the first exchange (outbound
   * calls `active`, inbound `passive`): a re-offer never renegotiates DTLS.
   */
  reoffer(from: 'browser' | 'trunk', sdp: string, browserDtls: 'active' | 'passive'): Promise<string> {
    if (from === 'browser') {
      return this.#gateway.offer(this.callId, this.browserTag, sdp, {
        ...trunkSideOptions(),
        codec: keepOnly(this.#options.opus ?? false),
        'to-tag': this.trunkTag,
        // A browser's re-offer has `c=IN IP4 0.0.0.0` (ICE carries the addresses): without this flag rtpengine
        // takes it for an RFC 2543 hold and offers the trunk sendonly with 0.0.0.0 (seen on an ICE restart).
        flags: ['original-sendrecv'],
      })
    }
    const { codec: _codec, flags: _flags, ...options } = webrtcSideOptions()
    return this.#gateway.offer(this.callId, this.trunkTag, sdp, {
      ...options,
      DTLS: browserDtls,
      'to-tag': this.browserTag,
    })
  }

  /** The answer to {@link reoffer} of `offerer`, from the other side, translated for the offerer. */
  reanswer(offerer: 'browser' | 'trunk', sdp: string, browserDtls: 'active' | 'passive'): Promise<string> {
    if (offerer === 'browser') {
      const { codec: _codec, flags: _flags, ...options } = webrtcSideOptions()
      return this.#gateway.answer(this.callId, this.browserTag, this.trunkTag, sdp, {
        ...options,
        DTLS: browserDtls,
      })
    }
    const { codec: _codec, ...options } = trunkSideOptions()
    return this.#gateway.answer(this.callId, this.trunkTag, this.browserTag, sdp, options)
  }

  /** Ends the gateway call: both legs, and their ports. */
  end(): Promise<boolean> {
    return this.#gateway.delete(this.callId)
  }
}
