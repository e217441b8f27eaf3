import type { BencodeValue } from './bencode.js'

/**
 * The media gateway as the call layer sees it (issue 11): it terminates ICE and DTLS-SRTP toward the browser and
 * speaks plain RTP toward the SIP trunk. One gateway call (`callId`) carries the two legs of one Parley call,
 * each leg named by its SIP-style tag (`fromTag` of the offerer, `toTag` of the answerer).
 *
 * The implementation is rtpengine over its ng control protocol (rtpengine-client.ts); `flags` are ng options
 * (rtpengine's names), built for the two usual translations by flag-sets.ts.
 */
export interface MediaGateway {
  /** `udp:HOST:PORT` of the gateway, for messages. */
  readonly address: string
  /** Resolves when the gateway answers; rejects with MediaGatewayError otherwise. */
  ping(): Promise<void>
  /** Hands the offerer's SDP to the gateway; resolves to the SDP to send to the answerer. */
  offer(callId: string, fromTag: string, sdp: string, flags?: NgOptions): Promise<string>
  /** Hands the answerer's SDP to the gateway; resolves to the SDP to send back to the offerer. */
  answer(callId: string, fromTag: string, toTag: string, sdp: string, flags?: NgOptions): Promise<string>
  /** Ends the gateway call (all its legs), or one leg when `fromTag` is given; false when it did not exist. */
  delete(callId: string, options?: { fromTag?: string; toTag?: string }): Promise<boolean>
  /** The gateway's state of one call (ng `query`): undefined when it does not exist. */
  query(callId: string): Promise<NgDictionary | undefined>
  /** Call ids the gateway holds (ng `list`), for the start-up sweep. */
  list(limit?: number): Promise<string[]>
  /** Stops forwarding media from the leg `fromTag` (hold toward the other side), or resumes it. */
  blockMedia(callId: string, fromTag: string, blocked: boolean): Promise<void>
  /** Releases the control socket; later calls reject. */
  close(): Promise<void>
}

/** An ng dictionary: what rtpengine answers, and the options of a command. */
export type NgDictionary = { [key: string]: BencodeValue }

/** Options of an ng command (rtpengine's names: `ICE`, `DTLS`, `transport-protocol`, `codec`, `flags`…). */
export type NgOptions = NgDictionary

/** The gateway failed a command, refused it, or did not answer. */
export class MediaGatewayError extends Error {
  override readonly name = 'MediaGatewayError'
  constructor(
    message: string,
    /** `timeout`: no answer in time; `refused`: an ng `result: error`; `protocol`: an unreadable answer. */
    readonly kind: 'timeout' | 'refused' | 'protocol' | 'closed',
  ) {
    super(message)
  }
}
