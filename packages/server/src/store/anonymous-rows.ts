/**
 * Row shapes, column lists and row → record mappers of the anonymous-call tables (issue 15), shared by the
 * SQLite and PostgreSQL adapters. Kept apart from rows.ts so that the feature's storage reads as one piece.
 */
import type { AnonymousDestination, AnonymousIdentity, ProjectKey } from './types.js'

export interface ProjectKeyRow {
  id: string
  account_id: string
  name: string
  secret_hash: string
  created_at: number | string
  expires_at: number | string | null
}

export interface DestinationRow {
  account_id: string
  address: string
  created_at: number | string
}

export interface IdentityRow {
  user_id: string
  account_id: string
  key_id: string
  expires_at: number | string
  created_at: number | string
}

export const KEY_COLUMNS = 'id, account_id, name, secret_hash, created_at, expires_at'
export const DESTINATION_COLUMNS = 'account_id, address, created_at'
export const IDENTITY_COLUMNS = 'user_id, account_id, key_id, expires_at, created_at'

/** A project key row as a record (times as numbers whatever the driver returns). */
export function toProjectKey(row: ProjectKeyRow): ProjectKey {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    secretHash: row.secret_hash,
    createdAt: Number(row.created_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  }
}

/** An allow-list row as a record. */
export function toDestination(row: DestinationRow): AnonymousDestination {
  return { accountId: row.account_id, address: row.address, createdAt: Number(row.created_at) }
}

/** An anonymous identity row as a record. */
export function toIdentity(row: IdentityRow): AnonymousIdentity {
  return {
    userId: row.user_id,
    accountId: row.account_id,
    keyId: row.key_id,
    expiresAt: Number(row.expires_at),
    createdAt: Number(row.created_at),
  }
}
