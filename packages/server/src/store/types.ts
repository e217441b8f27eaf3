/**
 * The Store interface (architecture §2): every piece of server state, behind one async contract so that
 * the SQLite adapter (embedded default) and the PostgreSQL adapter (multi-node) are interchangeable.
 * Services never see SQL. Times are Unix epoch milliseconds. Records are plain objects; the store returns
 * copies, so mutating a returned record changes nothing until it is passed back to `commit`.
 */

/** A tenant. Users call only users of their own account. */
export interface Account {
  id: string
  /** Public OAuth `client_id` of the account. */
  clientId: string
  name: string
  createdAt: number
}

/** A user of one account. */
export interface User {
  id: string
  accountId: string
  /** Login and address, `user@domain`; also the id token's `services-identity` (protocol §3.3). */
  login: string
  /** `preferred_username`: unique per account, URL-safe, the `{username}` of every path (protocol §2.4). */
  username: string
  /** scrypt hash in PHC-like string form; never the password. */
  passwordHash: string
  createdAt: number
}

/** A notification channel (protocol §5). */
export interface Channel {
  id: string
  userId: string
  accountId: string
  username: string
  correlator: string | null
  /** Idle lifetime in seconds, counted from the last socket activity (protocol §5.8). */
  lifetime: number
  connCheckRole: 'client' | 'server'
  createdAt: number
  /** Last socket open, close, or periodic touch by the node holding the socket. */
  lastActiveAt: number
  /** Whether a socket was ever attached (a never-connected channel lives 2 minutes). */
  everConnected: boolean
}

/** A `call` subscription binding a user's call service to one channel (protocol §6). */
export interface Subscription {
  id: string
  channelId: string
  userId: string
  correlator: string | null
  createdAt: number
}

/** A frame for one channel, kept in order (protocol §5.7). */
export interface OutboxFrame {
  channelId: string
  /** Per-channel sequence number, assigned by the store; FIFO order. */
  seq: number
  /** The notification's `id` (kept on replay). */
  id: string
  /** The notification's top-level key. */
  kind: string
  /** The recipient leg, if the frame is about a leg. */
  legId: string | null
  /** The frame's JSON text, exactly as it goes on the wire. */
  frame: string
  createdAt: number
  deliveredAt: number | null
}

/** A frame to append; the store assigns `seq`, `createdAt` and `deliveredAt: null`. */
export type NewOutboxFrame = Pick<OutboxFrame, 'channelId' | 'id' | 'kind' | 'legId' | 'frame'>

/** Server call state (protocol §11.1). */
export type CallState = 'initiated' | 'ringing' | 'connected' | 'ended'

/** Negotiation state of a call (protocol §11.1). */
export type Negotiation =
  { type: 'idle' } | { type: 'offerPending'; fromLegId: string } | { type: 'slowStart'; toLegId: string }

/** An ongoing transfer (protocol §11.16, §11.17). */
export interface TransferContext {
  kind: 'direct' | 'consultative'
  /** The transferor's leg(s) that end when the transfer completes. */
  transferorLegIds: string[]
  /** The leg asked for a fresh offer (B). */
  movingLegId: string
  /** Direct: the target address; consultative: the target's existing leg (C's leg). */
  targetAddress: string
  targetLegId: string | null
  /** The other call of a consultative transfer. */
  otherCallId: string | null
  /**
   * Direct transfer to a phone number (issue 11): the number dialled through the trunk and the caller ID sent
   * (the transferor's number). Absent for transfers to users.
   */
  pstn?: { number: string; callerId: string }
}

/** A call between a caller leg and one or more callee legs (protocol §11.1). */
export interface Call {
  id: string
  accountId: string
  state: CallState
  callerLegId: string
  /** The callee leg that answered (or the peer leg after a transfer). */
  answeredLegId: string | null
  negotiation: Negotiation
  /** The caller's original offer, kept for forwarding (protocol §11.15). */
  offerSdp: string
  originatorAddress: string
  originatorName: string
  tParticipantAddress: string
  callerUsername: string
  /** The dialled user's username, or the forward target's once forwarded. */
  calleeUsername: string
  transfer: TransferContext | null
  /** Set on a call that a transfer created, naming the call(s) it replaces. */
  replacesCallIds: string[]
  createdAt: number
  answeredAt: number | null
  endedAt: number | null
  endReason: string | null
  /** A call to or from the PSTN through the SIP trunk (issue 11); absent/null for browser-to-browser calls. */
  pstn?: PstnCall | null
  /** Optimistic-concurrency version; `commit` checks and bumps it. */
  version: number
}

/**
 * The telephone side of a call (issue 11), kept with the call: the numbers, the media gateway's call id, the SIP
 * dialog (plain JSON, see `SipDialogState` in sip/types.ts) and the SIP outcome.
 */
export interface PstnCall {
  direction: 'outbound' | 'inbound'
  /** The far end's number (`+E164`): the dialled number, or the calling number of an inbound call. */
  number: string
  /** Our number: the caller ID sent (outbound), or the called number (inbound). */
  localNumber: string
  /** The media gateway's (rtpengine's) call id. */
  gatewayCallId: string
  /** The leg that stands for the trunk (no user, no channel). */
  trunkLegId: string
  /** The SIP dialog, once established; JSON of sip/types.ts `SipDialogState`. */
  dialog: Record<string, unknown> | null
  /** Final SIP status of the INVITE (200 when answered; 486, 487, 408, …), null while pending. */
  sipStatus: number | null
  /** The trunk's latest SDP (its INVITE's offer, its 200's answer, its re-INVITEs and their answers). */
  trunkSdp?: string
  /** The gateway's tag for the browser side, when not the default (the caller leg outbound, `CALL-webrtc` inbound). */
  browserTag?: string
  /** rtpengine's DTLS role toward the browser, when not the default (outbound `active`, inbound `passive`). */
  browserDtls?: 'active' | 'passive'
  /** A call that a transfer moved the phone side into: the call it came from (its SIP dialog carries on). */
  movedFrom?: string
}

/** A terminal event that was sent to a leg, kept for repeats (protocol §8.2, §11.7). */
export interface TerminalEvent {
  eventType: 'SessionEnded' | 'Cancelled'
  statusCode: number
  reasonText: string
}

/** One participant's view of a call (protocol §0.4, §11.1). */
export interface Leg {
  id: string
  callId: string
  userId: string
  username: string
  role: 'caller' | 'callee'
  /** Owning channel (callee legs only). */
  channelId: string | null
  state: 'active' | 'ended' | 'cancelled'
  terminal: TerminalEvent | null
  /** Liveness clock (protocol §11.13). */
  livenessArmed: boolean
  /** Last status request, or when the clock was armed. */
  lastSeenAt: number | null
  /** Caller legs: when the acceptance was pushed (early re-offer guard, protocol §11.12). */
  acceptancePushedAt: number | null
  guardReleased: boolean
  /** Notifications held back by the guard, in order (JSON texts of frames). */
  held: string[]
  createdAt: number
  version: number
}

/** A durable timer (no-answer, repeats, guard release, transfer deadlines). */
export interface Timer {
  /** Unique key; scheduling the same id again replaces the timer. */
  id: string
  kind: string
  dueAt: number
  /**
   * JSON-serialisable payload. `ref` names the call or leg the timer is about (the session service's timers
   * all have one); `deleteAccount` removes the timers whose `ref` is one of the account's calls or legs.
   */
  payload: Record<string, unknown>
}

/**
 * "Timer `id` was claimed with a lease ending at `leaseUntil`" (`Store.completeTimers`). `leaseUntil` is the
 * claim's `now + leaseMs`, the due time the claim gave the timer.
 */
export interface TimerClaim {
  id: string
  leaseUntil: number
}

/** The lease `Store.claimDueTimers` gives a claim when the caller names none. */
export const DEFAULT_TIMER_LEASE_MS = 30_000

/** A call record as `parley calls list` prints it. */
export interface CallRecord {
  id: string
  accountId: string
  caller: string
  callee: string
  state: CallState
  createdAt: number
  answeredAt: number | null
  endedAt: number | null
  endReason: string | null
  /** PSTN calls only: the numbers and the SIP outcome. */
  pstn?: { direction: 'outbound' | 'inbound'; number: string; localNumber: string; sipStatus: number | null }
}

/**
 * A project key of an account (issue 15): the `client_id` of the `client_credentials` grant, which gives website
 * visitors short-lived anonymous identities. Only a hash of its secret is kept.
 */
export interface ProjectKey {
  /** The key itself, `pk-…`: the grant's `client_id`. */
  id: string
  accountId: string
  name: string
  /** SHA-256 (hex) of the secret, a 256-bit random value; never the secret. */
  secretHash: string
  createdAt: number
  /** When the key stops working, or null for never. */
  expiresAt: number | null
}

/** A destination anonymous callers of an account may call: `user@domain` or `+E164`. */
export interface AnonymousDestination {
  accountId: string
  address: string
  createdAt: number
}

/** Marks a user as an ephemeral anonymous identity issued through a project key. */
export interface AnonymousIdentity {
  userId: string
  accountId: string
  keyId: string
  /** When its tokens expire; after that (and once it is in no call) the sweep removes it. */
  expiresAt: number
  createdAt: number
}

/**
 * A telephone number of an account (issue 11): the address of inbound PSTN calls, and, for the user it is
 * assigned to, the caller ID of outbound ones. Unique across the whole server.
 */
export interface PhoneNumber {
  /** E.164 (ITU-T E.164): `+`, then 2 to 15 digits, the first not 0. */
  number: string
  accountId: string
  /** The user it is assigned to (a user of `accountId`), or null. */
  userId: string | null
  /** When it was assigned to that user, or null when unassigned; a user's first number is their caller ID. */
  assignedAt: number | null
  createdAt: number
}

/** One call quality sample of a leg, as its client reported it (issue 12, README "Call quality"). */
export interface QualitySampleRecord {
  callId: string
  legId: string
  /** The sample's own timestamp (client clock), epoch milliseconds. */
  at: number
  /** The sample as reported (the protocol's `QualitySampleWire`): kept as JSON, never queried inside. */
  sample: Record<string, unknown>
}

/** Most samples kept per leg: 30 minutes at the SDK's default of one sample every 2 s. */
export const MAX_QUALITY_SAMPLES_PER_LEG = 900

/**
 * An administrator of the operator console (issue 12, README "Operator console"): of one account, or, with
 * `accountId` null, a server-wide operator who sees every account. Usernames are unique on the server.
 */
export interface Admin {
  id: string
  /** The account administered, or null for an operator. */
  accountId: string | null
  username: string
  /** scrypt hash (services/passwords.ts); never the password. */
  passwordHash: string
  createdAt: number
}

/** What a call ended as, for the console's history filter. */
export type CallOutcome = 'active' | 'answered' | 'unanswered'

/** A page of call records (`Store.queryCallRecords`): newest first, filters combined with AND. */
export interface CallRecordQuery {
  accountId?: string
  /** Calls created at or after this time. */
  from?: number
  /** Calls created before this time. */
  to?: number
  /** Calls where this username is the caller or the callee. */
  username?: string
  /** `active`: not ended; `answered`: ended after an answer; `unanswered`: ended without one. */
  outcome?: CallOutcome
  /** Keyset cursor: only calls strictly after this one in the order (created_at DESC, id DESC). */
  before?: { createdAt: number; id: string }
  limit: number
}

/** "Frames of `channelId` up to `uptoSeq` are delivered" (`Store.markDeliveredMany`). */
export interface DeliveryMark {
  channelId: string
  uptoSeq: number
}

/**
 * Atomic change set for calls and legs; every updated record's `version` must match the stored one. The timers
 * the change starts or stops go in the same transaction, so a call never keeps a timer its state no longer
 * wants (nor misses one it needs) and one step of a call costs one write.
 */
export interface CallChange {
  newCalls?: Call[]
  newLegs?: Leg[]
  calls?: Call[]
  legs?: Leg[]
  /** Timer ids to remove (missing ones are fine); applied before `scheduleTimers`. */
  cancelTimers?: string[]
  /** Timers to create or replace, as `scheduleTimer` does. */
  scheduleTimers?: Timer[]
}

/** Raised by `commit` when a record changed since it was read; the caller re-reads and retries. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError'
}

/** Raised when a unique key (client id, login, username) is taken. */
export class DuplicateError extends Error {
  override readonly name = 'DuplicateError'
  constructor(readonly field: string) {
    super(`duplicate ${field}`)
  }
}

/** Raised by `deleteAccount` without `force` when the account has calls that have not ended. */
export class ActiveCallsError extends Error {
  override readonly name = 'ActiveCallsError'
  constructor(readonly activeCalls: number) {
    super(`the account has ${activeCalls} call(s) in progress`)
  }
}

/** What `deleteAccount` removed, besides the account row itself. */
export interface AccountDeletion {
  /** Users, anonymous identities included (their channels, subscriptions and outbox frames went with them). */
  users: number
  /** Calls (call records), with their legs and timers. */
  calls: number
  projectKeys: number
  anonymousDestinations: number
}

/** Everything the server persists. All methods are async so that network databases fit the same contract. */
export interface Store {
  /** Applies pending migrations. Idempotent. */
  migrate(): Promise<void>
  close(): Promise<void>
  /** Resolves when the database answers a trivial query (readiness, `GET /readyz`); rejects otherwise. */
  ping(): Promise<void>
  /**
   * Write transactions this process committed so far, for `parley_store_commits_total` (SQLite, whose
   * group commit joins many writes in one; PostgreSQL, whose joined statements do); an adapter that does
   * not count leaves it out.
   */
  commitCount?(): number

  /** A named secret (e.g. the JWT signing key), created once with `create()` and then always the same. */
  getOrCreateSecret(name: string, create: () => string): Promise<string>

  createAccount(account: Account): Promise<void>
  getAccount(id: string): Promise<Account | undefined>
  getAccountByClientId(clientId: string): Promise<Account | undefined>
  listAccounts(): Promise<Account[]>
  /**
   * Deletes the account and everything that belongs to it, in one transaction: its users (with their channels,
   * subscriptions, outbox frames and anonymous identities), its calls with their legs and timers (call records
   * included), its project keys and its allow-list of anonymous destinations. Resolves to undefined when there
   * is no such account. Unless `force`, an account with a call that has not ended is left as it is and
   * ActiveCallsError is thrown.
   */
  deleteAccount(id: string, options?: { force?: boolean }): Promise<AccountDeletion | undefined>

  /** Throws DuplicateError('login' | 'username') when taken within the account. */
  createUser(user: User): Promise<void>
  getUser(id: string): Promise<User | undefined>
  getUserByLogin(accountId: string, login: string): Promise<User | undefined>
  getUserByUsername(accountId: string, username: string): Promise<User | undefined>
  /** Users of the account whose login's local part (before the last `@`) equals `localPart`. */
  listUsersByLocalPart(accountId: string, localPart: string): Promise<User[]>
  listUsers(accountId?: string): Promise<User[]>
  /** Replaces the user's password hash; returns false when there is no such user. */
  setUserPassword(id: string, passwordHash: string): Promise<boolean>
  /**
   * Deletes the user; returns false when there was none. Their channels and subscriptions go too; their
   * telephone numbers stay with the account, unassigned.
   */
  deleteUser(id: string): Promise<boolean>

  createChannel(channel: Channel): Promise<void>
  getChannel(id: string): Promise<Channel | undefined>
  listChannelsByUser(userId: string): Promise<Channel[]>
  /** Removes the channel with its subscription and outbox; returns false when there was none. */
  deleteChannel(id: string): Promise<boolean>
  /** Sets `lastActiveAt` (and `everConnected` when `connected`) on the given channels. */
  touchChannels(ids: string[], at: number, connected: boolean): Promise<void>
  setChannelLifetime(id: string, lifetime: number): Promise<void>
  /**
   * Channels idle too long at `now`: never connected and created over `neverConnectedMs` ago, or idle
   * (since `lastActiveAt`) for more than max(lifetime seconds, `minIdleMs`).
   */
  listExpiredChannels(now: number, minIdleMs: number, neverConnectedMs: number): Promise<Channel[]>

  createSubscription(sub: Subscription): Promise<void>
  getSubscription(id: string): Promise<Subscription | undefined>
  getSubscriptionByChannel(channelId: string): Promise<Subscription | undefined>
  deleteSubscription(id: string): Promise<boolean>
  /** The user's channels that have a `call` subscription, oldest first. */
  listSubscribedChannels(userId: string): Promise<Channel[]>

  /**
   * Appends frames, each to the end of its channel's queue, in the given order. Frames for unknown channels are
   * dropped. Resolves to the frames appended, with their seqs (per channel in queue order).
   */
  appendFrames(frames: NewOutboxFrame[]): Promise<OutboxFrame[]>
  /** Undelivered frames of a channel in order, at most `limit`. */
  listUndelivered(channelId: string, limit: number): Promise<OutboxFrame[]>
  /** Marks the channel's frames with `seq <= uptoSeq` delivered at `at`. */
  markDelivered(channelId: string, uptoSeq: number, at: number): Promise<void>
  /** `markDelivered` for several channels in one write (a node batches the marks of one moment). */
  markDeliveredMany(marks: readonly DeliveryMark[], at: number): Promise<void>
  /** Delivered frames of a channel with `deliveredAt >= since`, in order, the last `limit` of them. */
  listRecentlyDelivered(channelId: string, since: number, limit: number): Promise<OutboxFrame[]>
  /** Deletes delivered frames delivered before `before`. */
  pruneDelivered(before: number): Promise<void>

  /**
   * Applies a change set atomically, checking and bumping versions, with its timer changes; throws
   * ConflictError (and changes nothing, timers included).
   */
  commit(change: CallChange): Promise<void>
  getCall(id: string): Promise<Call | undefined>
  getLeg(id: string): Promise<Leg | undefined>
  listLegs(callId: string): Promise<Leg[]>
  /** Active legs owned by a channel (callee legs). */
  listActiveLegsByChannel(channelId: string): Promise<Leg[]>
  /** How many active legs (of any role) the user has. */
  countActiveLegsByUser(userId: string): Promise<number>
  /** Active legs with an armed liveness clock whose `lastSeenAt` is before `before`. */
  listSilentLegs(before: number): Promise<Leg[]>
  /** Newest first. */
  listCallRecords(limit: number, accountId?: string): Promise<CallRecord[]>

  /** Creates or replaces the timer with this id. */
  scheduleTimer(timer: Timer): Promise<void>
  cancelTimer(id: string): Promise<void>
  /**
   * Claims and returns timers due at `now` (at most `limit`, earliest first, as stored): each one's due time
   * moves to `now + leaseMs` (default DEFAULT_TIMER_LEASE_MS), so no other claim returns it before then.
   * The claimer fires them and then calls `completeTimers`; a timer whose claimer died before that comes due
   * again when its lease ends, and is claimed anew: timers fire at least once, never are lost. A timer
   * claimed again after its lease comes back with `dueAt` equal to that lease's end.
   */
  claimDueTimers(now: number, limit: number, leaseMs?: number): Promise<Timer[]>
  /**
   * Deletes each claimed timer whose due time is still its claim's `leaseUntil`. A timer rescheduled since
   * its claim (`scheduleTimer` or `commit` with the same id, or a later claim after the lease ran out) has
   * another due time and is kept; a cancelled one is already gone. Unknown ids are fine.
   */
  completeTimers(claims: readonly TimerClaim[]): Promise<void>

  /** Throws DuplicateError('id') when the key exists. */
  createProjectKey(key: ProjectKey): Promise<void>
  getProjectKey(id: string): Promise<ProjectKey | undefined>
  /** Keys of one account (or of all), oldest first. */
  listProjectKeys(accountId?: string): Promise<ProjectKey[]>
  /** Returns false when there was none. The key's anonymous identities are not touched. */
  deleteProjectKey(id: string): Promise<boolean>

  /** Adds a destination to the account's allow-list; false when it was already there. */
  addAnonymousDestination(destination: AnonymousDestination): Promise<boolean>
  /** Allow-listed destinations of one account (or of all), oldest first. */
  listAnonymousDestinations(accountId?: string): Promise<AnonymousDestination[]>
  /** Returns false when it was not on the list. */
  removeAnonymousDestination(accountId: string, address: string): Promise<boolean>

  /** Creates the user and marks it anonymous, atomically (DuplicateError as `createUser`). */
  createAnonymousUser(user: User, identity: AnonymousIdentity): Promise<void>
  getAnonymousIdentity(userId: string): Promise<AnonymousIdentity | undefined>
  /** Anonymous identities issued through a key. */
  listAnonymousIdentitiesByKey(keyId: string): Promise<AnonymousIdentity[]>
  /** Identities expired at `now` that have no active leg, earliest first, at most `limit`. */
  listExpiredAnonymousIdentities(now: number, limit: number): Promise<AnonymousIdentity[]>
  /** Active legs of the account's anonymous identities (their ongoing calls). */
  countActiveAnonymousLegs(accountId: string): Promise<number>

  /**
   * Adds a telephone number (unassigned, or assigned when `userId` is set: that user must be of the account).
   * Throws DuplicateError('number') when the server has it already, in any account.
   */
  createPhoneNumber(phoneNumber: PhoneNumber): Promise<void>
  getPhoneNumber(number: string): Promise<PhoneNumber | undefined>
  /** Numbers of one account (or of all), oldest first. */
  listPhoneNumbers(accountId?: string): Promise<PhoneNumber[]>
  /** The user's numbers in assignment order (earliest `assignedAt` first; ties by number): the first is the caller ID. */
  listPhoneNumbersByUser(userId: string): Promise<PhoneNumber[]>
  /**
   * Assigns the number to `userId` at `at` (null: unassigns it). False, changing nothing, when there is no
   * such number or the user is not of the number's account.
   */
  assignPhoneNumber(number: string, userId: string | null, at: number): Promise<boolean>
  /** Returns false when there was none. */
  deletePhoneNumber(number: string): Promise<boolean>
  /**
   * Appends quality samples in the given order, then keeps only the newest `maxPerLeg` (by arrival) of each
   * leg involved. Samples of a leg that does not exist are dropped.
   */
  addQualitySamples(samples: readonly QualitySampleRecord[], maxPerLeg: number): Promise<void>
  /** The call's samples, every leg's, ordered by `at` (ties in arrival order). */
  listQualitySamples(callId: string): Promise<QualitySampleRecord[]>

  /** Call records matching the query, newest first (ties by id, descending), at most `limit`. */
  queryCallRecords(query: CallRecordQuery): Promise<CallRecord[]>

  /**
   * Throws DuplicateError('username') when the username is taken (on the server) and DuplicateError('id') for a
   * taken id. An account's administrators go with the account (`deleteAccount`).
   */
  createAdmin(admin: Admin): Promise<void>
  getAdmin(id: string): Promise<Admin | undefined>
  getAdminByUsername(username: string): Promise<Admin | undefined>
  /** Administrators of one account (`accountId` a string), operators only (null), or all (undefined); oldest first. */
  listAdmins(accountId?: string | null): Promise<Admin[]>
  /** Returns false when there was none. */
  deleteAdmin(id: string): Promise<boolean>
}
