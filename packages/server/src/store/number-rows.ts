/**
 * Row shape, column list and row → record mapper of the telephone numbers table (issue 11), shared by the
 * SQLite and PostgreSQL adapters.
 */
import type { PhoneNumber } from './types.js'

export interface PhoneNumberRow {
  number: string
  account_id: string
  user_id: string | null
  assigned_at: number | string | null
  created_at: number | string
}

export const NUMBER_COLUMNS = 'number, account_id, user_id, assigned_at, created_at'

/** A number row as a record (times as numbers whatever the driver returns). */
export function toPhoneNumber(row: PhoneNumberRow): PhoneNumber {
  return {
    number: row.number,
    accountId: row.account_id,
    userId: row.user_id,
    // A row whose user went is unassigned whatever its assigned_at says.
    assignedAt: row.user_id === null || row.assigned_at === null ? null : Number(row.assigned_at),
    createdAt: Number(row.created_at),
  }
}
