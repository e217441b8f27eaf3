/**
 * The SIP trunk as the call layer sees it: one configured carrier trunk, outbound calls to it, inbound calls
 * from it (or from a trusted address), in-dialog requests both ways. The implementation is
 * {@link ./user-agent.ts}; nothing outside `sip/` needs to know SIP syntax.
 */

/** Transport of the trunk (`;transport=` of `--sip-trunk`). */
export type SipTransportName = 'udp' | 'tcp'

/** Where the trunk is (`--sip-trunk sip:HOST[:PORT][;transport=udp|tcp]`). */
export interface SipTrunkTarget {
  host: string
  port: number
  transport: SipTransportName
}

/**
 * Everything needed to send and answer in-dialog requests (RFC 3261 §12.1), as a plain JSON-able object:
 * keep it in the store with the session, and give it to {@link SipTrunk.restoreDialog} after a restart so
 * that a BYE of the trunk still finds its call.
 */
export interface SipDialogState {
  /** Version of this shape. */
  v: 1
  direction: 'outbound' | 'inbound'
  callId: string
  localTag: string
  remoteTag: string
  /** Our URI (From of our requests) and the peer's (To of our requests), without tags. */
  localUri: string
  remoteUri: string
  /** Last CSeq number we used, and the peer's last one (null: none seen yet). */
  localCseq: number
  remoteCseq: number | null
  /** Route set, in the order of the Route headers of our requests (RFC 3261 §12.1.1, §12.1.2). */
  routeSet: string[]
  /** The peer's Contact URI. */
  remoteTarget: string
  transport: SipTransportName
  /** Address the dialog's requests arrived from (inbound) or the trunk (outbound); used when no route applies. */
  peer: { host: string; port: number }
}

/** Events of every call handle. */
export interface SipCallEvents {
  /** The far end sent BYE (or, for a restored/answered call, the dialog died: `timeout` when our 2xx was never ACKed). */
  ended: { by: 'remote' | 'timeout' }
  /** The far end sent a re-INVITE (hold/unhold, codec change): call `answer(sdp)` or `reject(status)` soon. */
  reoffer: { sdp: string; answer(sdp: string): void; reject(status?: number): void }
  /** The dialog state changed (CSeq, target refresh): persist it if you keep dialogs in a store. */
  dialog: { state: SipDialogState }
}

/** Events of an outbound call (INVITE to the trunk). */
export interface SipOutboundCallEvents extends SipCallEvents {
  /** 180/183 (with the early-media SDP of a 183, if any). */
  provisional: { status: number; reason: string; sdp: string | undefined }
  /** 2xx: the dialog is confirmed (ACK sent). */
  answered: { sdp: string }
  /**
   * The INVITE failed: the trunk's final status (486, 603, 404, 487 after `cancel()`, …), or 408 when it never
   * answered (Timer B), or 503 when the transport failed (TCP connection refused, …).
   */
  failed: { status: number; reason: string }
}

/** Events of an inbound call (INVITE from the trunk). */
export interface SipInboundCallEvents extends SipCallEvents {
  /** The trunk cancelled the INVITE before it was answered (487 has been sent). */
  cancelled: Record<string, never>
}

/** Typed listener registration shared by the handles. */
export interface SipEmitter<E> {
  on<K extends keyof E>(event: K, listener: (payload: E[K]) => void): this
  off<K extends keyof E>(event: K, listener: (payload: E[K]) => void): this
  once<K extends keyof E>(event: K, listener: (payload: E[K]) => void): this
}

/** What every call handle can do in an established dialog. */
export interface SipCall {
  readonly callId: string
  readonly direction: 'outbound' | 'inbound'
  /** The dialog, once there is one (after 2xx for outbound, after `accept` for inbound); a copy. */
  dialogState(): SipDialogState | undefined
  /** Ends the established dialog (BYE); resolves when the far end answered it or the transaction timed out. */
  bye(): Promise<void>
  /** Sends a re-INVITE with `sdp` (hold: `a=sendonly`/`inactive`), resolves with the answer SDP; rejects with a {@link SipError}. */
  reinvite(sdp: string): Promise<string>
}

/** A call with an established dialog, whatever its direction (what {@link SipTrunk.restoreDialog} returns). */
export interface SipDialogCall extends SipCall, SipEmitter<SipCallEvents> {}

/** An outbound call. */
export interface SipOutboundCall extends SipCall, SipEmitter<SipOutboundCallEvents> {
  readonly direction: 'outbound'
  /** Cancels a ringing INVITE (CANCEL once a provisional response arrived, RFC 3261 §9.1); `failed` 487 follows. */
  cancel(): void
}

/** An inbound call. */
export interface SipInboundCall extends SipCall, SipEmitter<SipInboundCallEvents> {
  readonly direction: 'inbound'
  /** 180 Ringing, or 183 Session Progress with early media when `sdp` is given. */
  ringing(sdp?: string): void
  /** 200 OK with the answer SDP; resolves when the ACK arrived (rejects with a {@link SipError} 408 when it never does). */
  accept(sdp: string): Promise<void>
  /** Final non-2xx answer: 603 Decline, 480 Temporarily Unavailable, 404 Not Found, 486 Busy Here, … */
  reject(status: number, reason?: string): void
}

/** What an inbound INVITE carries, for routing it to a user. */
export interface SipInboundInvite {
  /** Calling number: user part of the From URI (`+15550100`), as sent. */
  from: string
  /** Called number: user part of the To URI. */
  to: string
  fromUri: string
  toUri: string
  /** Display name of From, if any. */
  fromDisplay: string | undefined
  /** The offer (Parley does not accept offerless INVITEs: they get 488). */
  sdp: string
  source: { address: string; port: number; transport: SipTransportName }
}

/** An outbound INVITE. */
export interface SipInviteRequest {
  /** Call-ID to use (e.g. derived from the session id); random when unset. */
  callId?: string
  /** Caller ID, `+E164`. */
  from: string
  /** Destination, `+E164`. */
  to: string
  sdp: string
}

/** Counters of what the trunk's SIP endpoint received and did; monotonic since start. */
export interface SipCounters {
  received: number
  sent: number
  /** Unparseable messages (400 sent when the request could be identified, else dropped). */
  malformed: number
  /** Messages above the size limit (dropped; a TCP connection sending one is closed). */
  oversized: number
  /** Messages with binary / non-UTF-8 headers (dropped). */
  binary: number
  /** In-dialog requests or CANCELs for unknown dialogs/transactions (481). */
  unknownDialog: number
  /** INVITEs from addresses outside the trunk and `--sip-trusted` (403). */
  untrusted: number
  /** INVITEs over the per-address rate (503, or dropped far beyond it). */
  rateLimited: number
  /** Retransmissions we sent (UDP). */
  retransmissions: number
  /** Client transactions that timed out (Timer B/F) or 2xx never ACKed (Timer H analogue). */
  timeouts: number
  /** 401/407 challenges answered. */
  authChallenges: number
  /** Inbound INVITEs accepted for routing, and outbound INVITEs sent. */
  invitesIn: number
  invitesOut: number
}

/** The SIP user agent toward one trunk. */
export interface SipTrunk {
  /** Binds UDP and TCP on the listen address. */
  start(): Promise<void>
  /** Stops listening, closes connections and timers. Established dialogs are left as they are (see restoreDialog). */
  close(): Promise<void>
  /** The bound listen address (port resolved when 0 was asked). */
  readonly address: { host: string; port: number }
  /** Sends an INVITE to the trunk. */
  invite(request: SipInviteRequest): SipOutboundCall
  /** Receives trusted inbound INVITEs; without a handler they are answered 480. */
  onInvite(handler: (call: SipInboundCall, invite: SipInboundInvite) => void): void
  /** Re-creates the handle of a dialog kept from an earlier process, so its in-dialog requests are answered. */
  restoreDialog(state: SipDialogState): SipDialogCall
  counters(): SipCounters
  /** Dialogs held now (established calls, restored ones included). */
  dialogCount(): number
  /**
   * Messages received (`in`) and sent (`out`, retransmissions included) by method: the request's method (a fixed
   * set, else `other`), `response`, or `invalid` (received and unparseable).
   */
  messageCounts(): { direction: 'in' | 'out'; method: string; count: number }[]
}

/** A SIP-level failure with its status (e.g. a re-INVITE answered 488, or 408 when nothing answered). */
export class SipError extends Error {
  override readonly name = 'SipError'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}
