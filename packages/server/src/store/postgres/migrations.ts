/**
 * Schema migrations of the PostgreSQL store. Kept as TypeScript (not .sql files) so that `tsc` ships them
 * in `dist` with nothing to copy.
 *
 * Rules (as for SQLite): one entry per version, versions 1, 2, 3… in order; never edit an entry that has
 * been released, because databases that already applied it will not run it again; add a new version
 * instead. The two adapters' schemas are separate histories: a version number means nothing across them.
 */

/** One schema step; `PostgresStore.migrate()` runs every pending one in one transaction. */
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
    // The same tables as the SQLite store's first migration, in PostgreSQL's types: times are epoch
    // milliseconds in BIGINT, flags are BOOLEAN, JSON-shaped fields that are never queried are TEXT holding
    // JSON (stored as written, unlike jsonb). `ord` identity columns stand in for SQLite's rowid as the
    // insertion-order tie-break of lists ordered by a time. Constraints are named so that a unique violation
    // can be mapped to the field it is about (DuplicateError).
    sql: `
CREATE TABLE accounts (
  id TEXT CONSTRAINT accounts_pkey PRIMARY KEY,
  client_id TEXT NOT NULL CONSTRAINT accounts_client_id_key UNIQUE,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  ord BIGINT GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE users (
  id TEXT CONSTRAINT users_pkey PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id),
  login TEXT NOT NULL,
  -- The login before its last '@', for calls dialled by bare name.
  local_part TEXT NOT NULL,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  ord BIGINT GENERATED ALWAYS AS IDENTITY,
  CONSTRAINT users_login_key UNIQUE (account_id, login),
  CONSTRAINT users_username_key UNIQUE (account_id, username)
);
CREATE INDEX users_by_local_part ON users (account_id, local_part);
CREATE INDEX users_by_created_at ON users (created_at, ord);

CREATE TABLE channels (
  id TEXT CONSTRAINT channels_pkey PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  account_id TEXT NOT NULL,
  username TEXT NOT NULL,
  correlator TEXT,
  lifetime INTEGER NOT NULL,
  conn_check_role TEXT NOT NULL CHECK (conn_check_role IN ('client', 'server')),
  created_at BIGINT NOT NULL,
  last_active_at BIGINT NOT NULL,
  ever_connected BOOLEAN NOT NULL,
  -- Last outbox seq handed out. A counter rather than max(outbox.seq), so that pruning delivered frames
  -- never lets a seq be reused while a node still holds it as its high-water mark. Its row lock also
  -- serialises appends to one channel across nodes.
  last_seq BIGINT NOT NULL DEFAULT 0,
  ord BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX channels_by_user ON channels (user_id, created_at);

-- One call subscription per channel (protocol §6.2, Parley's choice).
CREATE TABLE subscriptions (
  id TEXT CONSTRAINT subscriptions_pkey PRIMARY KEY,
  channel_id TEXT NOT NULL CONSTRAINT subscriptions_channel_id_key UNIQUE
    REFERENCES channels (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  correlator TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_by_user ON subscriptions (user_id);

-- Per-channel FIFO queue and short replay buffer (protocol §5.7).
CREATE TABLE outbox (
  channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  leg_id TEXT,
  frame TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  delivered_at BIGINT,
  PRIMARY KEY (channel_id, seq)
);
CREATE INDEX outbox_undelivered ON outbox (channel_id, seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered_at ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;

-- Calls and legs are call records, kept after their users and channels are gone: no cascades into them,
-- and no foreign keys from them to users or channels.
CREATE TABLE calls (
  id TEXT CONSTRAINT calls_pkey PRIMARY KEY,
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
  created_at BIGINT NOT NULL,
  answered_at BIGINT,
  ended_at BIGINT,
  end_reason TEXT,
  version INTEGER NOT NULL,
  ord BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX calls_by_created_at ON calls (created_at, ord);
CREATE INDEX calls_by_account_created_at ON calls (account_id, created_at, ord);

CREATE TABLE legs (
  id TEXT CONSTRAINT legs_pkey PRIMARY KEY,
  call_id TEXT NOT NULL REFERENCES calls (id),
  user_id TEXT NOT NULL,
  username TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('caller', 'callee')),
  channel_id TEXT,
  state TEXT NOT NULL CHECK (state IN ('active', 'ended', 'cancelled')),
  terminal TEXT,
  liveness_armed BOOLEAN NOT NULL,
  last_seen_at BIGINT,
  acceptance_pushed_at BIGINT,
  guard_released BOOLEAN NOT NULL,
  held TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  version INTEGER NOT NULL,
  ord BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX legs_by_call ON legs (call_id, created_at, ord);
CREATE INDEX legs_active_by_channel ON legs (channel_id) WHERE state = 'active';
-- The liveness sweep (protocol §11.13) only looks at armed, active legs.
CREATE INDEX legs_silent ON legs (last_seen_at) WHERE state = 'active' AND liveness_armed;

CREATE TABLE timers (
  id TEXT CONSTRAINT timers_pkey PRIMARY KEY,
  kind TEXT NOT NULL,
  due_at BIGINT NOT NULL,
  payload TEXT NOT NULL
);
CREATE INDEX timers_by_due_at ON timers (due_at, id);

CREATE TABLE secrets (
  name TEXT CONSTRAINT secrets_pkey PRIMARY KEY,
  value TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
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
  id TEXT CONSTRAINT project_keys_pkey PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id),
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT
);
CREATE INDEX project_keys_by_account ON project_keys (account_id, created_at);

CREATE TABLE anonymous_destinations (
  account_id TEXT NOT NULL REFERENCES accounts (id),
  address TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  CONSTRAINT anonymous_destinations_pkey PRIMARY KEY (account_id, address)
);

CREATE TABLE anonymous_identities (
  user_id TEXT CONSTRAINT anonymous_identities_pkey PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  account_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
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
  number TEXT CONSTRAINT phone_numbers_pkey PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
  assigned_at BIGINT,
  created_at BIGINT NOT NULL
);
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
  id BIGINT GENERATED ALWAYS AS IDENTITY CONSTRAINT quality_samples_pkey PRIMARY KEY,
  leg_id TEXT NOT NULL REFERENCES legs (id) ON DELETE CASCADE,
  call_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  sample TEXT NOT NULL
);
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
  id TEXT CONSTRAINT admins_pkey PRIMARY KEY,
  account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
  username TEXT NOT NULL CONSTRAINT admins_username_key UNIQUE,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX admins_by_account ON admins (account_id, created_at);
`,
  },
]
