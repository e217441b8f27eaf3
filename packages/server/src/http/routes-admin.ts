import { Type, type Static, type TSchema } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AdminActor, AdminService, AdminSession } from '../services/admin.js'
import { apiError } from '../services/errors.js'
import type { Limiters } from './rate-limits.js'
import { CONSOLE_SESSION, pathParams, protocolErrors, reply as response } from './openapi.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in console administrator, set by the console auth hook. */
    adminActor: AdminActor
    /** Its session with the idle clock restarted. */
    adminSession: AdminSession
  }
}

/** The console session cookie; scoped to the admin API's path. */
export const CONSOLE_COOKIE = 'parley_console'
/** The header that carries the session's CSRF token on POST, PUT and DELETE (double submit). */
export const CSRF_HEADER = 'x-parley-csrf'
const PREFIX = '/parley/admin/v1'
const COOKIE_PATH = '/parley/admin'

const Iso = Type.String({ description: 'ISO 8601 time' })
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

const AdminSchema = Type.Object({
  id: Type.String(),
  username: Type.String(),
  role: Type.Union([Type.Literal('operator'), Type.Literal('admin')]),
  accountId: Nullable(Type.String()),
  clientId: Nullable(Type.String()),
  createdAt: Iso,
})
const SessionSchema = Type.Object({
  admin: AdminSchema,
  csrfToken: Type.String({
    description: `send it back in the ${CSRF_HEADER} header of POST, PUT and DELETE`,
  }),
  expiresAt: Type.String({ description: 'when the session ends unless used before (idle timeout)' }),
})
const SignInBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
)
const UserSchema = Type.Object({
  id: Type.String(),
  accountId: Type.String(),
  clientId: Type.String(),
  login: Type.String(),
  username: Type.String(),
  createdAt: Iso,
  anonymous: Type.Optional(Type.Boolean()),
})
const CreateUserBody = Type.Object(
  {
    login: Type.String({ minLength: 3, maxLength: 255, description: 'user@domain' }),
    password: Type.String({ minLength: 1, maxLength: 1024, description: 'at least 8 characters' }),
    clientId: Type.Optional(
      Type.String({ maxLength: 200, description: 'the account (operators only need it)' }),
    ),
  },
  { additionalProperties: false },
)
const PasswordBody = Type.Object(
  { password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
)
const NumberSchema = Type.Object({
  number: Type.String(),
  accountId: Type.String(),
  clientId: Nullable(Type.String()),
  userId: Nullable(Type.String()),
  user: Nullable(Type.String({ description: 'login of the user it is assigned to' })),
  callerId: Type.Boolean({ description: "whether it is its user's caller ID (their first number)" }),
  assignedAt: Nullable(Iso),
  createdAt: Iso,
})
const AddNumberBody = Type.Object(
  {
    number: Type.String({ maxLength: 32, description: 'E.164, e.g. +15551234567' }),
    clientId: Type.Optional(Type.String({ maxLength: 200 })),
    userId: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  },
  { additionalProperties: false },
)
const AssignBody = Type.Object(
  { userId: Nullable(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
)
const Outcome = Type.Union([Type.Literal('active'), Type.Literal('answered'), Type.Literal('unanswered')])
const CallSchema = Type.Object({
  id: Type.String(),
  accountId: Type.String(),
  clientId: Nullable(Type.String()),
  caller: Type.String(),
  callee: Type.String(),
  state: Type.String(),
  outcome: Outcome,
  createdAt: Iso,
  answeredAt: Nullable(Iso),
  endedAt: Nullable(Iso),
  endReason: Nullable(Type.String()),
})
const Sample = Type.Record(Type.String(), Type.Unknown(), {
  description: 'a quality sample as the SDK reported it (README "Call quality")',
})
const LiveSchema = Type.Object({
  at: Iso,
  calls: Type.Array(
    Type.Intersect([
      CallSchema,
      Type.Object({
        quality: Type.Array(
          Type.Object({
            legId: Type.String(),
            username: Type.String(),
            role: Type.String(),
            sample: Nullable(Sample),
          }),
        ),
      }),
    ]),
  ),
})
const HistoryQuery = Type.Object(
  {
    from: Type.Optional(
      Type.String({ maxLength: 40, description: 'created at or after (ISO 8601 or epoch ms)' }),
    ),
    to: Type.Optional(Type.String({ maxLength: 40, description: 'created before (ISO 8601 or epoch ms)' })),
    user: Type.Optional(Type.String({ maxLength: 200, description: 'username of the caller or the callee' })),
    outcome: Type.Optional(Outcome),
    cursor: Type.Optional(Type.String({ maxLength: 400, description: 'the `next` of the previous page' })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 500, default 50' })),
  },
  { additionalProperties: false },
)
const HistorySchema = Type.Object({ calls: Type.Array(CallSchema), next: Nullable(Type.String()) })
const CallDetailSchema = Type.Object({
  call: CallSchema,
  legs: Type.Array(
    Type.Object({ legId: Type.String(), username: Type.String(), role: Type.String(), state: Type.String() }),
  ),
  samples: Type.Array(Sample, {
    description: "every leg's samples, oldest first, with legId, username, role",
  }),
})
const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Record(Type.String(), Type.String()),
  node: Type.Object({ pid: Type.Integer(), uptimeSeconds: Type.Integer() }),
  connectedSockets: Type.Integer({ description: 'channel websockets open on this node' }),
  activeCalls: Type.Integer({ description: 'calls in progress the administrator sees' }),
  at: Iso,
})
const AccountSchema = Type.Object({
  id: Type.String(),
  clientId: Type.String(),
  name: Type.String(),
  createdAt: Iso,
})

/** The value of one cookie of the request, or undefined. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/**
 * The session cookie (RFC 6265bis): HttpOnly (no script reads it), SameSite=Strict (no other site's page sends
 * it), scoped to the admin API's path, Secure over TLS; Max-Age the idle timeout, renewed on every request.
 */
function setSessionCookie(request: FastifyRequest, reply: FastifyReply, session: AdminSession | null): void {
  const secure = request.protocol === 'https' ? '; Secure' : ''
  const value = session ? session.token : ''
  const maxAge = session ? Math.max(0, Math.floor((session.idleExpiresAt - Date.now()) / 1000)) : 0
  reply.header(
    'Set-Cookie',
    `${CONSOLE_COOKIE}=${value}; Path=${COOKIE_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`,
  )
}

const sessionBody = (session: AdminSession) => ({
  admin: session.admin,
  csrfToken: session.csrf,
  expiresAt: new Date(session.idleExpiresAt).toISOString(),
})

/**
 * A state-changing request from another site is refused whatever it carries (defence in depth to SameSite and
 * the CSRF token): its `Origin` must name this server's host. Host names are compared without the port, since a
 * reverse proxy may pass `Host` without it (deploy/nginx-parley.conf: `proxy_set_header Host $host`).
 */
function checkOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin
  if (!origin) return
  let originHost: string
  let ownHost: string
  try {
    originHost = new URL(origin).hostname
    ownHost = new URL(`http://${request.headers.host ?? ''}`).hostname
  } catch {
    throw apiError('CSRF_REFUSED', 'Origin')
  }
  if (originHost !== ownHost) throw apiError('CSRF_REFUSED', 'Origin')
}

/**
 * The admin API of the operator console (Parley extension, issue 12, README "Operator console"). Sign-in gives
 * a session cookie; every other route needs it, and POST, PUT and DELETE also the session's CSRF token in the
 * `X-Parley-CSRF` header (a page of another site can neither read the token nor, the header not being allowed
 * by CORS, send it). Administrators of an account see only it: another account's objects are 404.
 */
export function adminRoutes(
  app: FastifyInstance,
  admin: AdminService,
  limits: Pick<Limiters, 'consoleByAddress' | 'consoleByUsername'>,
): void {
  const noStore = async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('Cache-Control', 'no-store')
  }
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('Cache-Control', 'no-store')
    const { actor, session } = await admin.authenticate(readCookie(request, CONSOLE_COOKIE))
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      checkOrigin(request)
      const given = request.headers[CSRF_HEADER]
      if (!admin.csrfMatches(actor, typeof given === 'string' ? given : undefined))
        throw apiError('CSRF_REFUSED', 'X-Parley-CSRF')
    }
    request.adminActor = actor
    request.adminSession = session
    setSessionCookie(request, reply, session)
  }
  const errors = (...statuses: number[]) => protocolErrors(...statuses)
  const base = (operationId: string, summary: string) => ({
    tags: ['Console'],
    operationId,
    summary,
    security: CONSOLE_SESSION,
  })

  app.post<{ Body: Static<typeof SignInBody> }>(
    `${PREFIX}/session`,
    {
      onRequest: async (request, reply) => {
        await noStore(request, reply)
        checkOrigin(request)
        // A form of another site cannot add a header; a script of another site cannot send this one (CORS).
        if (typeof request.headers[CSRF_HEADER] !== 'string') throw apiError('CSRF_REFUSED', 'X-Parley-CSRF')
      },
      // Password guessing: the token endpoint's budgets, per address and per username (README "Limits").
      preHandler: async (request, reply) => {
        if (
          !(await limits.consoleByAddress(request, reply)) ||
          !(await limits.consoleByUsername(request, reply))
        )
          throw apiError('TOO_MANY_REQUESTS')
      },
      schema: {
        tags: ['Console'],
        operationId: 'consoleSignIn',
        summary: 'Sign in to the console',
        description:
          `Sets the session cookie \`${CONSOLE_COOKIE}\` (HttpOnly, SameSite=Strict, Path=${COOKIE_PATH}) and returns ` +
          `the CSRF token. The request needs the ${CSRF_HEADER} header (any value: there is no session yet).`,
        body: SignInBody,
        response: { 201: response('Signed in', SessionSchema), ...errors(400, 401, 403, 415, 429) },
      },
    },
    async (request, reply) => {
      const session = await admin.signIn(request.body.username, request.body.password)
      setSessionCookie(request, reply, session)
      return reply.code(201).send(sessionBody(session))
    },
  )

  app.get(
    `${PREFIX}/session`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleSession', 'The signed-in administrator and the CSRF token (renews the idle timeout)'),
        response: { 200: response('The session', SessionSchema), ...errors(401) },
      },
    },
    async (request, reply) => reply.send(sessionBody(request.adminSession)),
  )

  app.delete(
    `${PREFIX}/session`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleSignOut', 'Sign out: clears the cookie'),
        response: { 204: response('Signed out'), ...errors(401, 403) },
      },
    },
    async (request, reply) => {
      reply.removeHeader('set-cookie')
      setSessionCookie(request, reply, null)
      return reply.code(204).send()
    },
  )

  app.get(
    `${PREFIX}/accounts`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleAccounts', 'Accounts the administrator sees (an operator: all)'),
        response: {
          200: response('Accounts', Type.Object({ accounts: Type.Array(AccountSchema) })),
          ...errors(401),
        },
      },
    },
    async (request, reply) =>
      reply.send({
        accounts: (await admin.accounts(request.adminActor)).map((a) => ({
          id: a.id,
          clientId: a.clientId,
          name: a.name,
          createdAt: new Date(a.createdAt).toISOString(),
        })),
      }),
  )

  app.get(
    `${PREFIX}/users`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleUsers', 'Users of the account (an operator: of every account)'),
        response: { 200: response('Users', Type.Object({ users: Type.Array(UserSchema) })), ...errors(401) },
      },
    },
    async (request, reply) => reply.send({ users: await admin.listUsers(request.adminActor) }),
  )

  app.post<{ Body: Static<typeof CreateUserBody> }>(
    `${PREFIX}/users`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleCreateUser', 'Create a user'),
        body: CreateUserBody,
        response: { 201: response('Created', UserSchema), ...errors(400, 401, 403, 404, 409, 415) },
      },
    },
    async (request, reply) => reply.code(201).send(await admin.createUser(request.adminActor, request.body)),
  )

  app.delete<{ Params: { userId: string } }>(
    `${PREFIX}/users/:userId`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleDeleteUser', 'Delete a user (their numbers stay with the account, unassigned)'),
        params: pathParams('userId'),
        response: { 204: response('Deleted'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await admin.deleteUser(request.adminActor, request.params.userId)
      return reply.code(204).send()
    },
  )

  app.put<{ Params: { userId: string }; Body: Static<typeof PasswordBody> }>(
    `${PREFIX}/users/:userId/password`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleResetPassword', "Set a new password; the user's earlier tokens stop working"),
        params: pathParams('userId'),
        body: PasswordBody,
        response: { 204: response('Changed'), ...errors(400, 401, 403, 404, 415) },
      },
    },
    async (request, reply) => {
      await admin.resetPassword(request.adminActor, request.params.userId, request.body.password)
      return reply.code(204).send()
    },
  )

  app.get(
    `${PREFIX}/numbers`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleNumbers', 'Telephone numbers of the account'),
        response: {
          200: response('Numbers', Type.Object({ numbers: Type.Array(NumberSchema) })),
          ...errors(401),
        },
      },
    },
    async (request, reply) => reply.send({ numbers: await admin.listNumbers(request.adminActor) }),
  )

  app.post<{ Body: Static<typeof AddNumberBody> }>(
    `${PREFIX}/numbers`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleAddNumber', 'Add a number (unique on the server), optionally assigned to a user'),
        body: AddNumberBody,
        response: { 201: response('Added', NumberSchema), ...errors(400, 401, 403, 404, 409, 415) },
      },
    },
    async (request, reply) => reply.code(201).send(await admin.addNumber(request.adminActor, request.body)),
  )

  app.put<{ Params: { number: string }; Body: Static<typeof AssignBody> }>(
    `${PREFIX}/numbers/:number/user`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleAssignNumber', 'Assign the number to a user of its account (null: unassign)'),
        params: pathParams('number'),
        body: AssignBody,
        response: { 200: response('Assigned', NumberSchema), ...errors(400, 401, 403, 404, 415) },
      },
    },
    async (request, reply) =>
      reply.send(await admin.assignNumber(request.adminActor, request.params.number, request.body.userId)),
  )

  app.delete<{ Params: { number: string } }>(
    `${PREFIX}/numbers/:number`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleDeleteNumber', 'Delete a number'),
        params: pathParams('number'),
        response: { 204: response('Deleted'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await admin.deleteNumber(request.adminActor, request.params.number)
      return reply.code(204).send()
    },
  )

  app.get(
    `${PREFIX}/calls/live`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleLiveCalls', "Calls in progress, each with every leg's latest quality sample"),
        response: { 200: response('Live calls', LiveSchema), ...errors(401) },
      },
    },
    async (request, reply) => reply.send(await admin.liveCalls(request.adminActor)),
  )

  app.get<{ Querystring: Static<typeof HistoryQuery> }>(
    `${PREFIX}/calls`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleCallHistory', 'Call history, newest first, filtered and paginated'),
        querystring: HistoryQuery,
        response: { 200: response('A page of calls', HistorySchema), ...errors(400, 401) },
      },
    },
    async (request, reply) => reply.send(await admin.history(request.adminActor, request.query)),
  )

  app.get<{ Params: { callId: string } }>(
    `${PREFIX}/calls/:callId`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleCall', 'One call with its legs and quality timeline (the stored samples)'),
        params: pathParams('callId'),
        response: { 200: response('The call', CallDetailSchema), ...errors(401, 404) },
      },
    },
    async (request, reply) => reply.send(await admin.call(request.adminActor, request.params.callId)),
  )

  app.get(
    `${PREFIX}/health`,
    {
      onRequest: authenticate,
      schema: {
        ...base('consoleHealth', 'This node: sockets, calls in progress, store and bus readiness'),
        response: { 200: response('Node health', HealthSchema), ...errors(401) },
      },
    },
    async (request, reply) => reply.send(await admin.health(request.adminActor)),
  )
}
