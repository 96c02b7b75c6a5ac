import {
  BadRequestException,
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
  DrainableDeadLetterQueue,
  InjectDeadLetterQueue,
  InMemoryDeadLetterQueue,
  ResilienceRegistry,
  replayDeadLetters,
  ResilienceStats,
} from '../../../lib';
import { PaymentsClient } from '../payments/payments.client';
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
    private readonly payments: PaymentsClient,
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

  /**
   * `POST /resilience/dead-letters/replay?limit=100`: once the gateway is back, re-runs the
   * waiting letters, oldest first, through their methods (and policies), and removes each one
   * that went through. Stops at the first letter that fails again; it stays queued.
   */
  @Post('dead-letters/replay')
  @HttpCode(200)
  async replay(
    @Query('limit', new DefaultValuePipe(100), ParseIntPipe) limit: number,
  ): Promise<ReplaySummary> {
    const queue = this.deadLetterQueue as Partial<DrainableDeadLetterQueue>;
    if (typeof queue.drain !== 'function') {
      throw new BadRequestException('The configured dead-letter queue cannot be replayed.');
    }
    const { replayed, failed } = await replayDeadLetters(
      queue as DrainableDeadLetterQueue,
      this.registry,
      {
        limit: Math.max(0, limit),
        args: (letter) =>
          letter.target === 'PaymentsClient.charge'
            ? this.payments.restoreCharge(letter)
            : letter.args,
      },
    );
    return {
      replayed,
      failed: failed && {
        id: failed.letter.id,
        target: failed.letter.target,
        error: describe(failed.error),
      },
      stats: this.registry.stats().deadLetters,
    };
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

/** What `POST /resilience/dead-letters/replay` answers. */
export interface ReplaySummary {
  replayed: number;
  /** The letter that failed again (it stays queued), if any. */
  failed?: { id: string; target: string; error: { name: string; message: string } };
  stats: DeadLetterStats;
}

function describe(error: unknown): { name: string; message: string } {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'Error', message: String(error) };
}
