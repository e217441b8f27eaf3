import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BencodeError, decode, encode, type BencodeValue } from './bencode.js'

const text = (v: BencodeValue) => encode(v).toString('utf8')

describe('bencode (BEP 3), the body of rtpengine ng messages', () => {
  it('encodes what ng sends: strings by UTF-8 byte length, integers, lists, dictionaries with sorted keys', () => {
    expect(text({ command: 'ping' })).toBe('d7:command4:pinge')
    expect(text({ sdp: 'v=0\r\n', 'call-id': 'c1', 'rtcp-mux': ['demux'], limit: 5 })).toBe(
      'd7:call-id2:c15:limiti5e8:rtcp-muxl5:demuxe3:sdp5:v=0\r\ne',
    )
    expect(text('ä')).toBe('2:ä')
    expect(text(-42)).toBe('i-42e')
    expect(text({ codec: { strip: ['all'], except: ['PCMU'] } })).toBe(
      'd5:codecd6:exceptl4:PCMUe5:stripl3:alleee',
    )
  })

  it('decodes an rtpengine answer to plain objects and strings', () => {
    expect(decode(Buffer.from('d6:result4:ponge'))).toStrictEqual({ result: 'pong' })
    expect(decode(Buffer.from('d5:callsl2:c12:c2e6:result2:oke'))).toStrictEqual({
      calls: ['c1', 'c2'],
      result: 'ok',
    })
    expect(decode(Buffer.from('d3:sdp3:äx1:nli1ei-2eee'))).toStrictEqual({ sdp: 'äx', n: [1, -2] })
  })

  it('decode(encode(v)) is v for any value ng can carry', () => {
    const value = fc.letrec<{ v: BencodeValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.string({ unit: 'grapheme' }),
        fc.maxSafeInteger(),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('v'), { maxKeys: 4, noNullPrototype: true }),
      ),
    })).v
    fc.assert(
      fc.property(value, (v) => {
        expect(decode(encode(v))).toStrictEqual(v)
      }),
    )
  })

  it('refuses malformed input with a BencodeError naming the offset, never another error', () => {
    const cases = [
      '',
      'd6:resul',
      'garbage',
      'i12',
      'i1.5e',
      'i-0e',
      'i01e',
      '3:ab',
      'l',
      'd1:ai1e1:ai2ee',
      'd6:result4:pongeX',
      '5x:hello',
      'di1ei2ee',
    ]
    for (const bad of cases) {
      expect(() => decode(Buffer.from(bad)), bad).toThrow(BencodeError)
    }
    expect(() => decode(Buffer.from('l'.repeat(100) + 'e'.repeat(100)))).toThrow(/nested too deeply/)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decode(Buffer.from(bytes))
        } catch (error) {
          expect(error).toBeInstanceOf(BencodeError)
        }
      }),
    )
  })

  it('refuses to encode what bencode cannot carry', () => {
    expect(() => encode(1.5)).toThrow(/whole numbers/)
    expect(() => encode({ a: null } as unknown as BencodeValue)).toThrow(/null/)
    expect(() => encode(true as unknown as BencodeValue)).toThrow(/boolean/)
  })
})
