import { describe, expect, it } from 'vitest'
import { normalizeDestination, stripScheme } from './destination.js'

describe('destination normalisation (protocol.md §8.1)', () => {
  it.each([
    ['bob', 'alice@example.com', 'sip:bob@example.com'],
    ['bob@other.org', 'alice@example.com', 'sip:bob@other.org'],
    ['  bob1@example.com ', 'alice@example.com', 'sip:bob1@example.com'],
    ['+1 (555) 010-9999', 'alice@example.com', 'sip:+15550109999@example.com'],
    ['sip:bob@example.com', undefined, 'sip:bob@example.com'],
    ['tel:+15551230000', 'alice@example.com', 'sip:+15551230000@example.com'],
    ['bob@', 'alice@example.com', 'sip:bob@example.com'],
  ])('%s dialled by %s → %s', (raw, own, expected) => {
    expect(normalizeDestination(raw, own)).toBe(expected)
  })

  it('rejects an empty destination', () => {
    expect(normalizeDestination('   ', 'a@b')).toBeUndefined()
  })

  it('stripScheme', () => {
    expect(stripScheme('sip:alice@example.com')).toBe('alice@example.com')
    expect(stripScheme(undefined)).toBe('')
  })
})
