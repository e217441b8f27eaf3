/**
 * Row shape and mapper of the console's administrators table, and the WHERE clause of the call history query
 * (issue 12), shared by the SQLite and PostgreSQL adapters.
 */
import type { Admin, CallRecordQuery } from './types.js'

export interface AdminRow {
  id: string
  account_id: string | null
  username: string
  password_hash: string
  created_at: number | string
}

export const ADMIN_COLUMNS = 'id, account_id, username, password_hash, created_at'

export function toAdmin(row: AdminRow): Admin {
  return {
    id: row.id,
    accountId: row.account_id,
    username: row.username,
    passwordHash: row.password_hash,
    createdAt: Number(row.created_at),
  }
}

/**
 * The WHERE clause and parameters of `Store.queryCallRecords` over the `calls` table; `placeholder(n)` writes the
 * n-th parameter (1-based) in the driver's style (`?` or `$n`). The limit is the last parameter.
 */
export function callRecordFilter(
  query: CallRecordQuery,
  placeholder: (n: number) => string,
): { where: string; params: unknown[]; limit: string } {
  const clauses: string[] = []
  const params: unknown[] = []
  const p = (value: unknown) => {
    params.push(value)
    return placeholder(params.length)
  }
  if (query.accountId !== undefined) clauses.push(`account_id = ${p(query.accountId)}`)
  if (query.from !== undefined) clauses.push(`created_at >= ${p(query.from)}`)
  if (query.to !== undefined) clauses.push(`created_at < ${p(query.to)}`)
  if (query.username !== undefined)
    clauses.push(`(caller_username = ${p(query.username)} OR callee_username = ${p(query.username)})`)
  if (query.outcome === 'active') clauses.push(`state <> 'ended'`)
  if (query.outcome === 'answered') clauses.push(`state = 'ended' AND answered_at IS NOT NULL`)
  if (query.outcome === 'unanswered') clauses.push(`state = 'ended' AND answered_at IS NULL`)
  if (query.before !== undefined) {
    const at = query.before.createdAt
    clauses.push(`(created_at < ${p(at)} OR (created_at = ${p(at)} AND id < ${p(query.before.id)}))`)
  }
  const limit = p(query.limit)
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params, limit }
}
