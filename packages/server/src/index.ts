/** Parley's platform server as a library: start it in-process (tests, embedding) or through the CLI. */
export { startServer, selfSignedCertificate, type ServerHandle } from './main.js'
export { DEFAULT_COTURN, makeConfig, parseServeConfig, type Config, type Timings } from './config.js'
export { runCli } from './cli.js'
export { createAccount, createUser, listUsers, deleteUser } from './services/accounts.js'
export { createAdmin, deleteAdmin, listAdmins } from './services/admin.js'
export * from './media-gateway/index.js'
export { NumberService, addNumber, lookupInboundNumber, callerIdFor, isE164 } from './services/numbers.js'
export * from './sip/index.js'
