import { randomBytes } from 'node:crypto'
import { ID_PREFIX } from '@parley/protocol'

/**
 * Random ids with a type prefix (protocol §2.4): URL-safe, no `/`, never `sessions/`, 96 random bits so
 * that they are never reused for the lifetime of the data.
 */
export function newId(kind: keyof typeof ID_PREFIX): string {
  return ID_PREFIX[kind] + randomBytes(12).toString('hex')
}
