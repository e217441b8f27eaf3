/**
 * Row shapes, column lists and row → record mappers shared by the SQLite and PostgreSQL adapters: both
 * schemas have the same columns and differ only in how a boolean comes back (SQLite 0/1, PostgreSQL
 * true/false), which the factory's `bool` argument absorbs.
 */
import type {
  Account,
  Call,
  CallRecord,
  Channel,
  Leg,
  OutboxFrame,
  PstnCall,
  Subscription,
  Timer,
  User,
} from './types.js'

export interface AccountRow {
  id: string
  client_id: string
  name: string
  created_at: number
}

export interface UserRow {
  id: string
  account_id: string
  login: string
  username: string
  password_hash: string
  created_at: number
}

export interface ChannelRow<B> {
  id: string
  user_id: string
  account_id: string
  username: string
  correlator: string | null
  lifetime: number
  conn_check_role: Channel['connCheckRole']
  created_at: number
  last_active_at: number
  ever_connected: B
}

export interface SubscriptionRow {
  id: string
  channel_id: string
  user_id: string
  correlator: string | null
  created_at: number
}

export interface OutboxRow {
  channel_id: string
  seq: number
  id: string
  kind: string
  leg_id: string | null
  frame: string
  created_at: number
  delivered_at: number | null
}

export interface CallRow {
  id: string
  account_id: string
  state: Call['state']
  caller_leg_id: string
  answered_leg_id: string | null
  negotiation: string
  offer_sdp: string
  originator_address: string
  originator_name: string
  t_participant_address: string
  caller_username: string
  callee_username: string
  transfer: string | null
  replaces_call_ids: string
  created_at: number
  answered_at: number | null
  ended_at: number | null
  end_reason: string | null
  pstn: string | null
  version: number
}

export interface LegRow<B> {
  id: string
  call_id: string
  user_id: string
  username: string
  role: Leg['role']
  channel_id: string | null
  state: Leg['state']
  terminal: string | null
  liveness_armed: B
  last_seen_at: number | null
  acceptance_pushed_at: number | null
  guard_released: B
  held: string
  created_at: number
  version: number
}

export interface TimerRow {
  id: string
  kind: string
  due_at: number
  payload: string
}

// Column lists, so that no query selects internal columns (rowid/ord, users.local_part, channels.last_seq) into a
// record by accident.
export const ACCOUNT_COLUMNS = 'id, client_id, name, created_at'
export const USER_COLUMNS = 'id, account_id, login, username, password_hash, created_at'
export const CHANNEL_COLUMNS =
  'c.id, c.user_id, c.account_id, c.username, c.correlator, c.lifetime, c.conn_check_role, c.created_at, ' +
  'c.last_active_at, c.ever_connected'
export const SUBSCRIPTION_COLUMNS = 'id, channel_id, user_id, correlator, created_at'
export const OUTBOX_COLUMNS = 'channel_id, seq, id, kind, leg_id, frame, created_at, delivered_at'
export const CALL_COLUMNS =
  'id, account_id, state, caller_leg_id, answered_leg_id, negotiation, offer_sdp, originator_address, ' +
  'originator_name, t_participant_address, caller_username, callee_username, transfer, replaces_call_ids, ' +
  'created_at, answered_at, ended_at, end_reason, pstn, version'
export const LEG_COLUMNS =
  'id, call_id, user_id, username, role, channel_id, state, terminal, liveness_armed, last_seen_at, ' +
  'acceptance_pushed_at, guard_released, held, created_at, version'

/** Mappers from rows to the Store's records; `bool` reads a boolean column. */
export function rowMappers<B>(bool: (value: B) => boolean) {
  function toAccount(row: AccountRow): Account {
    return { id: row.id, clientId: row.client_id, name: row.name, createdAt: row.created_at }
  }

  function toUser(row: UserRow): User {
    return {
      id: row.id,
      accountId: row.account_id,
      login: row.login,
      username: row.username,
      passwordHash: row.password_hash,
      createdAt: row.created_at,
    }
  }

  function toChannel(row: ChannelRow<B>): Channel {
    return {
      id: row.id,
      userId: row.user_id,
      accountId: row.account_id,
      username: row.username,
      correlator: row.correlator,
      lifetime: row.lifetime,
      connCheckRole: row.conn_check_role,
      createdAt: row.created_at,
      lastActiveAt: row.last_active_at,
      everConnected: bool(row.ever_connected),
    }
  }

  function toSubscription(row: SubscriptionRow): Subscription {
    return {
      id: row.id,
      channelId: row.channel_id,
      userId: row.user_id,
      correlator: row.correlator,
      createdAt: row.created_at,
    }
  }

  function toOutboxFrame(row: OutboxRow): OutboxFrame {
    return {
      channelId: row.channel_id,
      seq: row.seq,
      id: row.id,
      kind: row.kind,
      legId: row.leg_id,
      frame: row.frame,
      createdAt: row.created_at,
      deliveredAt: row.delivered_at,
    }
  }

  function toCall(row: CallRow): Call {
    return {
      id: row.id,
      accountId: row.account_id,
      state: row.state,
      callerLegId: row.caller_leg_id,
      answeredLegId: row.answered_leg_id,
      negotiation: JSON.parse(row.negotiation) as Call['negotiation'],
      offerSdp: row.offer_sdp,
      originatorAddress: row.originator_address,
      originatorName: row.originator_name,
      tParticipantAddress: row.t_participant_address,
      callerUsername: row.caller_username,
      calleeUsername: row.callee_username,
      transfer: row.transfer === null ? null : (JSON.parse(row.transfer) as Call['transfer']),
      replacesCallIds: JSON.parse(row.replaces_call_ids) as string[],
      createdAt: row.created_at,
      answeredAt: row.answered_at,
      endedAt: row.ended_at,
      endReason: row.end_reason,
      ...(row.pstn !== null ? { pstn: JSON.parse(row.pstn) as PstnCall } : {}),
      version: row.version,
    }
  }

  function toCallRecord(row: CallRow): CallRecord {
    const pstn = row.pstn === null || row.pstn === undefined ? null : (JSON.parse(row.pstn) as PstnCall)
    return {
      id: row.id,
      accountId: row.account_id,
      caller: row.caller_username,
      callee: row.callee_username,
      state: row.state,
      createdAt: row.created_at,
      answeredAt: row.answered_at,
      endedAt: row.ended_at,
      endReason: row.end_reason,
      ...(pstn
        ? {
            pstn: {
              direction: pstn.direction,
              number: pstn.number,
              localNumber: pstn.localNumber,
              sipStatus: pstn.sipStatus,
            },
          }
        : {}),
    }
  }

  function toLeg(row: LegRow<B>): Leg {
    return {
      id: row.id,
      callId: row.call_id,
      userId: row.user_id,
      username: row.username,
      role: row.role,
      channelId: row.channel_id,
      state: row.state,
      terminal: row.terminal === null ? null : (JSON.parse(row.terminal) as Leg['terminal']),
      livenessArmed: bool(row.liveness_armed),
      lastSeenAt: row.last_seen_at,
      acceptancePushedAt: row.acceptance_pushed_at,
      guardReleased: bool(row.guard_released),
      held: JSON.parse(row.held) as string[],
      createdAt: row.created_at,
      version: row.version,
    }
  }

  function toTimer(row: TimerRow): Timer {
    return {
      id: row.id,
      kind: row.kind,
      dueAt: row.due_at,
      payload: JSON.parse(row.payload) as Record<string, unknown>,
    }
  }
  return { toAccount, toUser, toChannel, toSubscription, toOutboxFrame, toCall, toCallRecord, toLeg, toTimer }
}
