/** The SIP trunk layer: one interface ({@link SipTrunk}) and its implementation ({@link SipUserAgent}). */
export * from './types.js'
export { addCidr } from './cidr.js'
export {
  SipUserAgent,
  DEFAULT_SIP_TIMERS,
  type SipTimers,
  type SipUserAgentOptions,
  type SipLog,
} from './user-agent.js'
export { parseTrunkUri, parseHostPort } from './trunk-uri.js'
