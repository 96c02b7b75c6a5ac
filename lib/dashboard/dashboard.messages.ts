import { describe } from '../common/resilience.messages';

/** Messages of the dashboard module, in one place. @internal */
export const DASHBOARD = 'ResilienceDashboardModule';

export const DASHBOARD_INVALID_OPTION = (key: string, value: unknown, expected: string) =>
  `Invalid ${DASHBOARD} option "${key}": got ${describe(value)}; expected ${expected}.`;

/** For the token, whose value must not end up in logs. */
export const DASHBOARD_INVALID_TOKEN = (problem: string) =>
  `Invalid ${DASHBOARD} option "token": ${problem}; expected a string of at least 8 characters ` +
  'of printable ASCII without whitespace (the value is not shown here because it is a secret).';

export const DASHBOARD_UNKNOWN_OPTION = (key: string, known: readonly string[]) =>
  `Invalid ${DASHBOARD} option: unknown key "${key}". Known keys: ${known.join(', ')}.`;

export const DASHBOARD_UNPROTECTED =
  `${DASHBOARD}.forRoot() needs "token" or "guard": the dashboard exposes the internals of the ` +
  'application (policy names, states, counters, error messages) and is never served ' +
  'unprotected. Pass { token: process.env.DASHBOARD_TOKEN } or { guard: YourAuthGuard }.';

export const DASHBOARD_UNPROTECTED_ASYNC =
  `${DASHBOARD}.forRootAsync() needs "token" or "guard": useFactory returned no token and no ` +
  'guard was passed next to useFactory. The dashboard exposes the internals of the ' +
  'application (policy names, states, counters, error messages) and is never served ' +
  'unprotected. Return { token: config.get(...) } from useFactory, or pass ' +
  '{ guard: YourAuthGuard } to forRootAsync().';

/** `path` or `guard` returned by the factory of `forRootAsync()`. */
export const DASHBOARD_STATIC_FROM_FACTORY = (key: string) =>
  `Invalid ${DASHBOARD} option "${key}": useFactory of forRootAsync() returned it, but Nest binds ` +
  `the dashboard's routes and guards before any factory runs. Pass "${key}" to forRootAsync() ` +
  'itself, next to useFactory.';

export const DASHBOARD_NO_REGISTRY =
  `${DASHBOARD} found no ResilienceRegistry: import ResilienceModule.forRoot() in the ` +
  'application (it is global by default; with isGlobal: false, import it into the module ' +
  `that imports ${DASHBOARD}).`;

export const DASHBOARD_UNAUTHORIZED =
  'The resilience dashboard needs a token: send "Authorization: Bearer <token>" or add ?token=<token> to the URL.';

export const DASHBOARD_SHUTTING_DOWN =
  'The application is shutting down; the resilience dashboard stream is closed.';
