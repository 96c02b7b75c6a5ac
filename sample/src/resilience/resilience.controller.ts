import {
  Controller,
  DefaultValuePipe,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  ParseIntPipe,
  Post,
  Query,
} from '@nestjs/common';
import { CircuitState, ResilienceRegistry, ResilienceStats } from '../../../lib';
import { EventLog, LoggedEvent } from './event-log';

/**
 * Looks inside the policies: live counters, recent events, and manual control of the
 * circuit breakers (for demos and for operators during an incident).
 */
@Controller('resilience')
export class ResilienceController {
  constructor(
    private readonly registry: ResilienceRegistry,
    private readonly log: EventLog,
  ) {}

  @Get('stats')
  stats(): ResilienceStats {
    return this.registry.stats();
  }

  /** `GET /resilience/events?limit=20`: the last events, oldest first. */
  @Get('events')
  events(@Query('limit', new DefaultValuePipe(50), ParseIntPipe) limit: number): LoggedEvent[] {
    return this.log.recent(limit);
  }

  /** Forces a breaker open: calls fail fast with 503 until `/close` or its reset timeout. */
  @Post('breakers/:name/open')
  @HttpCode(200)
  open(@Param('name') name: string): { name: string; state: CircuitState } {
    const breaker = this.breaker(name);
    breaker.open();
    return { name, state: breaker.state };
  }

  /** Resets a breaker to closed, counters of the state machine included. */
  @Post('breakers/:name/close')
  @HttpCode(200)
  close(@Param('name') name: string): { name: string; state: CircuitState } {
    const breaker = this.breaker(name);
    breaker.close();
    return { name, state: breaker.state };
  }

  private breaker(name: string) {
    const breaker = this.registry.circuitBreaker(name);
    if (!breaker) throw new NotFoundException(`No circuit breaker named '${name}'`);
    return breaker;
  }
}
