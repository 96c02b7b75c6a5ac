import {
  CanActivate,
  Controller,
  Get,
  Header,
  Inject,
  MessageEvent,
  Res,
  Sse,
  Type,
  UseGuards,
} from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { DashboardSnapshot } from './dashboard-message.interface';
import { ResilienceDashboardFeed, StreamConnection } from './dashboard.feed';
import { DASHBOARD_PAGE, DASHBOARD_PAGE_HEADERS } from './dashboard.page';

const page = DASHBOARD_PAGE_HEADERS;

/**
 * Builds the dashboard's controller for one `forRoot()` call. Nest binds routes before any
 * lifecycle hook runs, so the path and the guards have to be on the class when the module
 * is declared: hence one class per call.
 * @internal
 */
export function createDashboardController(
  path: string,
  guards: (Type<CanActivate> | CanActivate)[],
): Type<unknown> {
  @Controller(path)
  @UseGuards(...guards)
  class ResilienceDashboardController {
    constructor(@Inject(ResilienceDashboardFeed) private readonly feed: ResilienceDashboardFeed) {}

    /** `GET <path>`: the page. */
    @Get()
    @Header('Content-Type', page['Content-Type'])
    @Header('Content-Security-Policy', page['Content-Security-Policy'])
    @Header('Cache-Control', page['Cache-Control'])
    @Header('X-Content-Type-Options', page['X-Content-Type-Options'])
    @Header('X-Frame-Options', page['X-Frame-Options'])
    @Header('Referrer-Policy', page['Referrer-Policy'])
    page(): string {
      return DASHBOARD_PAGE;
    }

    /** `GET <path>/stream`: Server-Sent Events, `stats` and `event` messages. */
    @Sse('stream')
    stream(
      // the raw response (Fastify: reply.raw), so that shutdown can close the connection
      @Res({ passthrough: true }) response: { raw?: StreamConnection } & StreamConnection,
    ): Observable<MessageEvent> {
      return this.feed.stream(response.raw ?? response);
    }

    /** `GET <path>/stats`: the current snapshot as JSON. */
    @Get('stats')
    @Header('Cache-Control', 'no-store')
    stats(): DashboardSnapshot {
      return this.feed.snapshot();
    }
  }
  return ResilienceDashboardController;
}
