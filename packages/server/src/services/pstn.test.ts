import { describe, expect, it } from 'vitest'
import { phoneNumberOf, sipFailureReason } from './pstn.js'

describe('phoneNumberOf (protocol §8.1 normalisation of a dialled number)', () => {
  it.each([
    ['sip:+15550100@example.com', '+15550100'],
    ['sips:+15550100@example.com', '+15550100'],
    ['tel:+15550100', '+15550100'],
    ['+15550100', '+15550100'],
    ['  sip:+1 (555) 010-0100@example.com ', '+15550100100'],
    ['sip:+15550100;user=phone@example.com', '+15550100'],
  ])('%s → %s', (address, number) => expect(phoneNumberOf(address)).toBe(number))

  it.each([
    'sip:bob@example.com',
    'sip:15550100@example.com',
    'sip:+0555@example.com',
    'tel:',
    '',
    'sip:+1234567890123456@x',
  ])('%s is no phone number', (address) => expect(phoneNumberOf(address)).toBeUndefined())
})

describe('sipFailureReason', () => {
  it('carries the SIP status and reason phrase, or names the status when the phrase is empty', () => {
    expect(sipFailureReason(486, 'Busy Here')).toEqual({
      eventType: 'SessionEnded',
      statusCode: 486,
      reasonText: 'Busy Here',
    })
    expect(sipFailureReason(503, '')).toMatchObject({ reasonText: 'SIP 503' })
  })
})
