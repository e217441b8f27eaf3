export {
  decode as decodeBencode,
  encode as encodeBencode,
  BencodeError,
  type BencodeValue,
} from './bencode.js'
export {
  GatewayCall,
  trunkSideOptions,
  webrtcSideOptions,
  G711_CODECS,
  type TranslationOptions,
} from './flag-sets.js'
export {
  RtpengineClient,
  parseRtpengineAddress,
  formatRtpengineAddress,
  type RtpengineAddress,
  type RtpengineClientOptions,
} from './rtpengine-client.js'
export {
  RtpengineSupervisor,
  RtpengineSpawnError,
  rtpengineArguments,
  type RtpengineSpawnOptions,
} from './rtpengine-supervisor.js'
export { sweepGatewayCalls, type SweepResult } from './sweep.js'
export { MediaGatewayError, type MediaGateway, type NgDictionary, type NgOptions } from './types.js'
