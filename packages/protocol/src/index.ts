/** The CPaaS wire contract shared by Parley's SDK and server (docs/protocol.md). */
export * from './paths.js'
export * from './errors.js'
export * from './schemas.js'
export * from './notifications.js'
export * from './notification-schemas.js'
export * from './quality.js'
