import { isIP } from 'node:net'
import type { SipTrunkTarget } from './types.js'

/**
 * Parses `--sip-trunk sip:HOST[:PORT][;transport=udp|tcp]` (port 5060, UDP by default). Throws a RangeError
 * with a message fit for the operator.
 */
export function parseTrunkUri(text: string): SipTrunkTarget {
  const m =
    /^sip:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:;[A-Za-z0-9_-]+(?:=[A-Za-z0-9_.-]+)?)*)$/.exec(
      text.trim(),
    )
  if (!m) throw new RangeError(`--sip-trunk must be sip:HOST[:PORT][;transport=udp|tcp], got "${text}"`)
  const host = m[1]!.replace(/^\[|\]$/g, '')
  if (m[1]!.startsWith('[') && isIP(host) !== 6)
    throw new RangeError(`--sip-trunk: "${m[1]}" is not an IPv6 address`)
  const port = m[2] ? Number(m[2]) : 5060
  if (port < 1 || port > 65535) throw new RangeError(`--sip-trunk: port ${port} is out of range`)
  let transport: SipTrunkTarget['transport'] = 'udp'
  for (const param of (m[3] ?? '').split(';').filter(Boolean)) {
    const [name = '', value = ''] = param.split('=')
    if (name.toLowerCase() !== 'transport') continue
    const t = value.toLowerCase()
    if (t !== 'udp' && t !== 'tcp')
      throw new RangeError(`--sip-trunk: transport must be udp or tcp, got "${value}"`)
    transport = t
  }
  return { host, port, transport }
}

/** Parses `--sip-listen HOST:PORT` (`[v6]:PORT` for IPv6; port 0: any free port). */
export function parseHostPort(text: string, flag = '--sip-listen'): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(text.trim())
  const host = m?.[1]?.replace(/^\[|\]$/g, '')
  if (!m || !host || isIP(host) === 0)
    throw new RangeError(`${flag} must be IP:PORT (e.g. 127.0.0.1:5060), got "${text}"`)
  const port = Number(m[2])
  if (port > 65535) throw new RangeError(`${flag}: port ${port} is out of range`)
  return { host, port }
}
