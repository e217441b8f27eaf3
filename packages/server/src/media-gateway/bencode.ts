/**
 * Bencode (BEP 3 "The BitTorrent Protocol Specification", section "bencoding"), the body format of rtpengine's
 * ng control protocol. Only what ng uses: byte strings (read and written as UTF-8 text: SDP, tags, option
 * names), integers, lists and dictionaries. Dictionary keys are written sorted by their bytes, as BEP 3 asks.
 *
 * Written here rather than taken from npm: `bencode` 4.0.1 (the maintained package) throws a TypeError on every
 * dictionary when asked to decode strings as text on Node 20, and reports malformed input as TypeErrors from
 * deep inside; a datagram from the network must fail with a clear error and never crash the server.
 */

/** A bencodable value. */
export type BencodeValue = string | number | BencodeValue[] | { [key: string]: BencodeValue }

/** A malformed bencoded message. */
export class BencodeError extends Error {
  override readonly name = 'BencodeError'
}

/** Deepest nesting accepted when decoding (ng messages nest two or three levels). */
const MAX_DEPTH = 32

/** Encodes `value`; throws BencodeError for values bencode cannot carry (fractions, NaN, booleans, null). */
export function encode(value: BencodeValue): Buffer {
  const parts: Buffer[] = []
  write(value, parts, 0)
  return Buffer.concat(parts)
}

function write(value: BencodeValue, parts: Buffer[], depth: number): void {
  if (depth > MAX_DEPTH) throw new BencodeError('value nested too deeply')
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8')
    parts.push(Buffer.from(`${bytes.length}:`), bytes)
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      throw new BencodeError(`bencode integers are whole numbers, got ${value}`)
    parts.push(Buffer.from(`i${value}e`))
  } else if (Array.isArray(value)) {
    parts.push(Buffer.from('l'))
    for (const item of value) write(item, parts, depth + 1)
    parts.push(Buffer.from('e'))
  } else if (typeof value === 'object' && value !== null) {
    parts.push(Buffer.from('d'))
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .map((k) => [k, Buffer.from(k, 'utf8')] as const)
      .sort((a, b) => Buffer.compare(a[1], b[1]))
    for (const [key, bytes] of keys) {
      parts.push(Buffer.from(`${bytes.length}:`), bytes)
      write(value[key]!, parts, depth + 1)
    }
    parts.push(Buffer.from('e'))
  } else {
    throw new BencodeError(`bencode cannot carry ${value === null ? 'null' : typeof value}`)
  }
}

/** Decodes exactly one value filling all of `data`; throws BencodeError (with the offset) when malformed. */
export function decode(data: Buffer): BencodeValue {
  const reader = { data, at: 0 }
  const value = read(reader, 0)
  if (reader.at !== data.length) fail(reader, 'trailing bytes after the value')
  return value
}

interface Reader {
  data: Buffer
  at: number
}

function fail(r: Reader, what: string): never {
  throw new BencodeError(`malformed bencode at byte ${r.at}: ${what}`)
}

const COLON = 0x3a
const END = 0x65 // 'e'

function read(r: Reader, depth: number): BencodeValue {
  if (depth > MAX_DEPTH) fail(r, 'nested too deeply')
  const byte = r.data[r.at]
  if (byte === undefined) fail(r, 'unexpected end')
  if (byte === 0x69 /* i */) return readInteger(r)
  if (byte === 0x6c /* l */) {
    r.at++
    const list: BencodeValue[] = []
    while (r.data[r.at] !== END) {
      if (r.at >= r.data.length) fail(r, 'unterminated list')
      list.push(read(r, depth + 1))
    }
    r.at++
    return list
  }
  if (byte === 0x64 /* d */) {
    r.at++
    const dict: Record<string, BencodeValue> = Object.create(null) as Record<string, BencodeValue>
    while (r.data[r.at] !== END) {
      if (r.at >= r.data.length) fail(r, 'unterminated dictionary')
      const key = readString(r)
      if (Object.prototype.hasOwnProperty.call(dict, key)) fail(r, `duplicate key "${key}"`)
      dict[key] = read(r, depth + 1)
    }
    r.at++
    // A plain object again, so that callers may use it as any other.
    return { ...dict }
  }
  if (byte >= 0x30 && byte <= 0x39) return readString(r)
  fail(r, `unexpected byte 0x${byte.toString(16)}`)
}

function readInteger(r: Reader): number {
  const end = r.data.indexOf(END, r.at + 1)
  if (end < 0) fail(r, 'unterminated integer')
  const text = r.data.toString('latin1', r.at + 1, end)
  // BEP 3: no leading zeros, no negative zero.
  if (!/^(0|-?[1-9]\d*)$/.test(text)) fail(r, `bad integer "${text.slice(0, 20)}"`)
  const value = Number(text)
  if (!Number.isSafeInteger(value)) fail(r, 'integer out of range')
  r.at = end + 1
  return value
}

function readString(r: Reader): string {
  const colon = r.data.indexOf(COLON, r.at)
  if (colon < 0 || colon - r.at > 10) fail(r, 'bad string length')
  const text = r.data.toString('latin1', r.at, colon)
  if (!/^(0|[1-9]\d*)$/.test(text)) fail(r, `bad string length "${text}"`)
  const length = Number(text)
  const start = colon + 1
  if (start + length > r.data.length) fail(r, 'string runs past the end')
  r.at = start + length
  return r.data.toString('utf8', start, start + length)
}
