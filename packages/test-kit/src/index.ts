/** Private helpers for Parley's tests. */
export * from './wait.js'
export * from './protocol-client.js'
export * from './server-harness.js'
export * from './backing-services.js'
