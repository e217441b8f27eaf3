/**
 * Destination normalisation for `tParticipantAddress` (protocol.md §8.1, `call.normalizeDestination`):
 * trim; take the domain after the last `@` (unless it is the first or last character), else the
 * caller's own domain; drop a leading scheme and put `sip:` in front; phone numbers lose their
 * separators. `bob` dialled by `alice@example.com` → `sip:bob@example.com`.
 */
const PHONE = /^[+#*]?[\d\s\-.()+#*]+$/

export function normalizeDestination(raw: string, ownIdentity: string | undefined): string | undefined {
  let d = raw.trim().replace(/^[a-z][a-z0-9+.-]*:/i, '')
  if (!d) return undefined
  let domain: string | undefined
  const at = d.lastIndexOf('@')
  if (at > 0 && at < d.length - 1) {
    domain = d.slice(at + 1)
    d = d.slice(0, at)
  } else {
    d = d.replace(/^@|@$/g, '')
    const ownAt = ownIdentity?.lastIndexOf('@') ?? -1
    if (ownIdentity && ownAt >= 0) domain = ownIdentity.slice(ownAt + 1)
  }
  if (!d) return undefined
  if (PHONE.test(d) && /\d/.test(d)) d = d.replace(/[\s\-.()]/g, '')
  return domain ? `sip:${d}@${domain}` : `sip:${d}`
}

/** `sip:bob@example.com` → `bob@example.com` (sdk-api §5.1.15). */
export function stripScheme(address: string | undefined): string {
  return (address ?? '').trim().replace(/^(sips?|tel):/i, '')
}
