import {
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ResolvedDashboardOptions } from './dashboard-options.interface';
import { DASHBOARD_OPTIONS } from './dashboard.constants';
import { DASHBOARD_UNAUTHORIZED } from './dashboard.messages';

interface HttpRequestLike {
  headers?: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
}

interface HttpResponseLike {
  header?(name: string, value: string): unknown;
  setHeader?(name: string, value: string): unknown;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Lets a request through when it carries the dashboard token, in
 * `Authorization: Bearer <token>` or in `?token=`; answers 401 otherwise. Both sides are
 * hashed first, so the comparison takes the same time whatever the token's length and
 * content. Works on Express and Fastify.
 * @internal
 */
export class DashboardTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequestLike>();
    const candidates = [bearerToken(request), queryToken(request)];
    // check every candidate, so the time taken does not tell which one was tried
    let accepted = false;
    for (const candidate of candidates) {
      if (candidate !== undefined && timingSafeEqual(digest(candidate), this.expected)) {
        accepted = true;
      }
    }
    if (accepted) return true;
    setHeader(
      http.getResponse<HttpResponseLike>(),
      'WWW-Authenticate',
      'Bearer realm="resilience-dashboard"',
    );
    throw new UnauthorizedException(DASHBOARD_UNAUTHORIZED);
  }
}

/**
 * The token check of `forRootAsync()`, whose token is known only once the options' factory
 * has run: Nest creates this guard in the dashboard's module, after the options. Without a
 * token (a `guard` protects the routes then) it lets every request through to that guard.
 * @internal
 */
@Injectable()
export class DashboardOptionsTokenGuard implements CanActivate {
  private readonly check?: DashboardTokenGuard;

  constructor(@Inject(DASHBOARD_OPTIONS) options: ResolvedDashboardOptions) {
    if (options.token !== undefined) this.check = new DashboardTokenGuard(options.token);
  }

  canActivate(context: ExecutionContext): boolean {
    return this.check ? this.check.canActivate(context) : true;
  }
}

function bearerToken(request: HttpRequestLike): string | undefined {
  const header = request.headers?.authorization;
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return match?.[1];
}

function queryToken(request: HttpRequestLike): string | undefined {
  const value = request.query?.token;
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function setHeader(response: HttpResponseLike | undefined, name: string, value: string): void {
  if (!response) return;
  if (typeof response.header === 'function')
    response.header(name, value); // Fastify, Express
  else if (typeof response.setHeader === 'function') response.setHeader(name, value); // node:http
}
