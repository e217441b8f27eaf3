import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  frameLength,
  parseMessage,
  parseNameAddr,
  parseUri,
  parseVia,
  serialize,
  splitList,
} from './message.js'

const INVITE = [
  'INVITE sip:+15550100@trunk.example SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport',
  'v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKabc, SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKdef',
  'Max-Forwards: 70',
  'To: <sip:+15550100@trunk.example>',
  'From: "Alice, A." <sip:+15550199@parley.example>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.example',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@192.0.2.1:5060>',
  'Record-Route: <sip:p1.example;lr>,<sip:p2.example;lr>',
  'Subject: folded',
  '  continuation',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\r\nextra',
].join('\r\n')

describe('parseMessage', () => {
  it('parses a request with compact, list and folded headers and cuts the body at Content-Length', () => {
    const r = parseMessage(Buffer.from(INVITE))
    expect(r.error).toBeUndefined()
    const m = r.message!
    expect(m.kind).toBe('request')
    if (m.kind !== 'request') return
    expect(m.method).toBe('INVITE')
    expect(m.uri).toBe('sip:+15550100@trunk.example')
    expect(m.headers.getAll('via')).toHaveLength(3)
    expect(parseVia(m.headers.getAll('via')[2]!)).toMatchObject({
      transport: 'TCP',
      host: '2001:db8::1',
      port: 5070,
    })
    expect(m.headers.getAll('record-route')).toEqual(['<sip:p1.example;lr>', '<sip:p2.example;lr>'])
    expect(m.headers.get('subject')).toBe('folded continuation')
    expect(m.body).toBe('v=0\r')
    const from = parseNameAddr(m.headers.get('from')!)!
    expect(from.display).toBe('Alice, A.')
    expect(from.params.get('tag')).toBe('1928301774')
  })

  it('round-trips through serialize with a recomputed Content-Length', () => {
    const m = parseMessage(Buffer.from(INVITE)).message!
    const again = parseMessage(serialize(m)).message!
    expect(again.headers.get('content-length')).toBe('4')
    expect(again.headers.getAll('via')).toEqual(m.headers.getAll('via'))
    expect(again.body).toBe(m.body)
  })

  it('parses a response', () => {
    const text = INVITE.replace('INVITE sip:+15550100@trunk.example SIP/2.0', 'SIP/2.0 180 Ringing')
    const m = parseMessage(Buffer.from(text)).message!
    expect(m).toMatchObject({ kind: 'response', status: 180, reason: 'Ringing' })
  })

  it.each([
    ['no end of headers', 'INVITE sip:a@b SIP/2.0\r\nVia: x'],
    ['a bad start line', 'HELLO\r\n\r\n'],
    ['a missing Call-ID', INVITE.replace(/Call-ID:.*\r\n/, '')],
    ['a bad CSeq', INVITE.replace('CSeq: 314159 INVITE', 'CSeq: abcdefg')],
    ['a CSeq of another method', INVITE.replace('CSeq: 314159 INVITE', 'CSeq: 1 BYE')],
    ['a body shorter than Content-Length', INVITE.replace('Content-Length: 4', 'Content-Length: 400')],
    ['a bad Via', INVITE.replace('Via: SIP/2.0/UDP 192.0.2.1:5060', 'Via: nonsense')],
  ])('reports %s as malformed', (_, text) => {
    const r = parseMessage(Buffer.from(text))
    expect(r.error?.kind).toBe('malformed')
  })

  it('keeps what identifies a malformed request, so that it can be answered 400', () => {
    const r = parseMessage(Buffer.from(INVITE.replace('CSeq: 314159 INVITE', 'CSeq: 1 BYE')))
    expect(r.error?.partial?.headers.get('call-id')).toBe('a84b4c76e66710@pc33.example')
  })

  it('rejects binary and oversized input', () => {
    expect(parseMessage(Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x0d, 0x0a, 0x0d, 0x0a])).error?.kind).toBe(
      'binary',
    )
    expect(
      parseMessage(Buffer.from(INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 7\u00010'))).error?.kind,
    ).toBe('binary')
    expect(parseMessage(Buffer.alloc(70_000, 0x41)).error?.kind).toBe('oversized')
  })

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        parseMessage(Buffer.from(bytes))
      }),
      { numRuns: 2000 },
    )
    // Mutations of a valid message: each line replaced by random text.
    const lines = INVITE.split('\r\n')
    fc.assert(
      fc.property(fc.nat(lines.length - 1), fc.string({ maxLength: 80 }), (i, junk) => {
        const copy = [...lines]
        copy[i] = junk
        parseMessage(Buffer.from(copy.join('\r\n')))
      }),
      { numRuns: 2000 },
    )
  })
})

describe('frameLength (TCP)', () => {
  it('waits for the whole body, then cuts at Content-Length', () => {
    const text = Buffer.from(INVITE)
    const full = text.indexOf('\r\n\r\n') + 4 + 4
    expect(frameLength(text.subarray(0, 20))).toBeNull()
    expect(frameLength(text.subarray(0, full - 1))).toBeNull()
    expect(frameLength(text)).toBe(full)
  })
  it('declares an oversized frame invalid', () => {
    expect(frameLength(Buffer.from('INVITE x SIP/2.0\r\nContent-Length: 999999\r\n\r\n'))).toBe('invalid')
    expect(frameLength(Buffer.alloc(70_000, 0x41))).toBe('invalid')
  })
})

describe('header grammar', () => {
  it('splits lists outside quotes and brackets', () => {
    expect(splitList('"a,b" <sip:x>, <sip:y;p=1,2>')).toEqual(['"a,b" <sip:x>', '<sip:y;p=1,2>'])
  })
  it('parses SIP and tel URIs', () => {
    expect(parseUri('sip:+15550100@10.0.0.1:5080;transport=tcp')).toMatchObject({
      scheme: 'sip',
      user: '+15550100',
      host: '10.0.0.1',
      port: 5080,
    })
    expect(parseUri('sip:%2B1555@h')?.user).toBe('+1555')
    expect(parseUri('tel:+15550100;phone-context=x')?.user).toBe('+15550100')
    expect(parseUri('http://x')).toBeNull()
    expect(parseUri('sip:a@h:99999')).toBeNull()
  })
  it('parses addr-spec headers whose parameters belong to the header', () => {
    expect(parseNameAddr('sip:a@b;tag=9')).toMatchObject({ uri: 'sip:a@b', params: new Map([['tag', '9']]) })
    expect(parseNameAddr('<sip:a@b')).toBeNull()
  })
})
