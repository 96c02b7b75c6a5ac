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
import {
  CircuitState,
  DeadLetter,
  DeadLetterQueue,
  DeadLetterStats,
  InjectDeadLetterQueue,
  InMemoryDeadLetterQueue,
  ResilienceRegistry,
  ResilienceStats,
} from '../../../lib';
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
    @InjectDeadLetterQueue() private readonly deadLetterQueue: DeadLetterQueue,
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

  /**
   * `GET /resilience/dead-letters?limit=20`: the oldest letters of the in-memory queue
   * (calls that finally failed) and the dead-letter counters. A queue backed by a broker
   * is read through the broker instead.
   */
  @Get('dead-letters')
  async deadLetters(
    @Query('limit', new DefaultValuePipe(50), ParseIntPipe) limit: number,
  ): Promise<{ letters: DeadLetter[]; stats: DeadLetterStats }> {
    const queue = this.deadLetterQueue;
    const letters =
      queue instanceof InMemoryDeadLetterQueue ? await queue.peek(Math.max(0, limit)) : [];
    return { letters, stats: this.registry.stats().deadLetters };
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
