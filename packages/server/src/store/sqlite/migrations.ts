/**
 * Schema migrations of the SQLite store. Kept as TypeScript (not .sql files) so that `tsc` ships them in
 * `dist` with nothing to copy.
 *
 * Rules: one entry per version, versions 1, 2, 3… in order; never edit an entry that has been released,
 * because databases that already applied it will not run it again; add a new version instead.
 */

/** One schema step; `SqliteStore.migrate()` runs each pending one in its own transaction. */
export interface Migration {
  version: number
  name: string
  sql: string
}

/** Every migration, oldest first. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'init',
    // STRICT tables reject values of the wrong type (a float time, a boolean left unconverted) instead of
    // storing them silently. Times are epoch milliseconds; booleans are 0/1; JSON-shaped fields that are
    // never queried are TEXT holding JSON.
    sql: `
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id),
  login TEXT NOT NULL,
  -- The login before its last '@', for calls dialled by bare name.
  local_part TEXT NOT NULL,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (account_id, login),
  UNIQUE (account_id, username)
) STRICT;
CREATE INDEX users_by_local_part ON users (account_id, local_part);

CREATE TABLE channels (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  account_id TEXT NOT NULL,
  username TEXT NOT NULL,
  correlator TEXT,
  lifetime INTEGER NOT NULL,
  conn_check_role TEXT NOT NULL CHECK (conn_check_role IN ('client', 'server')),
  created_at INTEGER NOT NULL,
  last_active_at INTEGER NOT NULL,
  ever_connected INTEGER NOT NULL CHECK (ever_connected IN (0, 1)),
  -- Last outbox seq handed out. A counter rather than max(outbox.seq), so that pruning delivered frames
  -- never lets a seq be reused while a node still holds it as its high-water mark.
  last_seq INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX channels_by_user ON channels (user_id, created_at);

-- One call subscription per channel (protocol §6.2, Parley's choice).
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  channel_id TEXT NOT NULL UNIQUE REFERENCES channels (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  correlator TEXT,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX subscriptions_by_user ON subscriptions (user_id);

-- Per-channel FIFO queue and short replay buffer (protocol §5.7).
CREATE TABLE outbox (
  channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  leg_id TEXT,
  frame TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  delivered_at INTEGER,
  PRIMARY KEY (channel_id, seq)
) STRICT;
CREATE INDEX outbox_undelivered ON outbox (channel_id, seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered_at ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;

-- Calls and legs are call records, kept after their users and channels are gone: no cascades into them,
-- and no foreign keys from them to users or channels.
CREATE TABLE calls (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('initiated', 'ringing', 'connected', 'ended')),
  caller_leg_id TEXT NOT NULL,
  answered_leg_id TEXT,
  negotiation TEXT NOT NULL,
  offer_sdp TEXT NOT NULL,
  originator_address TEXT NOT NULL,
  originator_name TEXT NOT NULL,
  t_participant_address TEXT NOT NULL,
  caller_username TEXT NOT NULL,
  callee_username TEXT NOT NULL,
  transfer TEXT,
  replaces_call_ids TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  answered_at INTEGER,
  ended_at INTEGER,
  end_reason TEXT,
  version INTEGER NOT NULL
) STRICT;
CREATE INDEX calls_by_created_at ON calls (created_at);
CREATE INDEX calls_by_account_created_at ON calls (account_id, created_at);

CREATE TABLE legs (
  id TEXT PRIMARY KEY,
  call_id TEXT NOT NULL REFERENCES calls (id),
  user_id TEXT NOT NULL,
  username TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('caller', 'callee')),
  channel_id TEXT,
  state TEXT NOT NULL CHECK (state IN ('active', 'ended', 'cancelled')),
  terminal TEXT,
  liveness_armed INTEGER NOT NULL CHECK (liveness_armed IN (0, 1)),
  last_seen_at INTEGER,
  acceptance_pushed_at INTEGER,
  guard_released INTEGER NOT NULL CHECK (guard_released IN (0, 1)),
  held TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  version INTEGER NOT NULL
) STRICT;
CREATE INDEX legs_by_call ON legs (call_id, created_at);
CREATE INDEX legs_active_by_channel ON legs (channel_id) WHERE state = 'active';
-- The liveness sweep (protocol §11.13) only looks at armed, active legs.
CREATE INDEX legs_silent ON legs (last_seen_at) WHERE state = 'active' AND liveness_armed = 1;

CREATE TABLE timers (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  due_at INTEGER NOT NULL,
  payload TEXT NOT NULL
) STRICT;
CREATE INDEX timers_by_due_at ON timers (due_at);

CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
`,
  },
  {
    version: 2,
    name: 'active legs by user',
    // The per-user cap on concurrent calls counts a user's active legs.
    sql: `CREATE INDEX legs_active_by_user ON legs (user_id) WHERE state = 'active';`,
  },
  {
    version: 3,
    name: 'anonymous calls',
    // Project keys, the allow-list of anonymous destinations and the marker of ephemeral identities (issue 15).
    // An identity goes with its user (cascade); its key_id is informative, the service removes the users of
    // a deleted key itself.
    sql: `
CREATE TABLE project_keys (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id),
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
) STRICT;
CREATE INDEX project_keys_by_account ON project_keys (account_id, created_at);

CREATE TABLE anonymous_destinations (
  account_id TEXT NOT NULL REFERENCES accounts (id),
  address TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, address)
) STRICT;

CREATE TABLE anonymous_identities (
  user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  account_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX anonymous_identities_by_expiry ON anonymous_identities (expires_at);
CREATE INDEX anonymous_identities_by_key ON anonymous_identities (key_id);
CREATE INDEX anonymous_identities_by_account ON anonymous_identities (account_id);
`,
  },
  {
    version: 4,
    name: 'telephone numbers',
    // Numbers of an account (issue 11), unique across the server (the primary key). A number goes with its
    // account (cascade); when its user goes it stays, unassigned (SET NULL; deleteUser also clears
    // assigned_at in the same transaction). That the user is of the number's account is checked by the
    // statements that assign, since a composite foreign key's SET NULL would clear account_id too.
    sql: `
CREATE TABLE phone_numbers (
  number TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
  assigned_at INTEGER,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX phone_numbers_by_account ON phone_numbers (account_id, created_at);
CREATE INDEX phone_numbers_by_user ON phone_numbers (user_id, assigned_at) WHERE user_id IS NOT NULL;
`,
  },
  {
    version: 5,
    name: 'call quality samples',
    // Issue 12: the SDK's quality samples, kept with the call record, at most MAX_QUALITY_SAMPLES_PER_LEG per
    // leg (the store trims on insert). Depends only on the legs table of version 1. `id` orders arrival.
    sql: `
CREATE TABLE quality_samples (
  id INTEGER PRIMARY KEY,
  leg_id TEXT NOT NULL REFERENCES legs (id) ON DELETE CASCADE,
  call_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  sample TEXT NOT NULL
) STRICT;
CREATE INDEX quality_samples_by_leg ON quality_samples (leg_id, id);
CREATE INDEX quality_samples_by_call ON quality_samples (call_id, at, id);
`,
  },
  {
    version: 6,
    name: 'pstn calls',
    // Issue 11: the telephone side of a call (numbers, the media gateway's call id, the SIP dialog, the SIP
    // status) as one JSON document on the call; NULL for browser-to-browser calls.
    sql: `
ALTER TABLE calls ADD COLUMN pstn TEXT;
`,
  },
  {
    version: 7,
    name: 'console administrators',
    // Issue 12, the operator console: administrators of one account (they go with it) and server-wide
    // operators (account_id NULL). Usernames are unique on the server, so sign-in needs no client id.
    // Numbered 7, not 6: a parallel branch may land a 6 (migrate() fills gaps).
    sql: `
CREATE TABLE admins (
  id TEXT PRIMARY KEY,
  account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX admins_by_account ON admins (account_id, created_at);
`,
  },
]
