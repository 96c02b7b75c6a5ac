import {
  BadRequestException,
  Body,
  Controller,
  Get,
  NotFoundException,
  Param,
  Put,
} from '@nestjs/common';
import { ChaosStats, ResilienceRegistry } from '../../../lib';
import { ChaosDemoService, DemoAnswer } from './chaos-demo.service';

const SCENARIOS = ['retry', 'breaker', 'timeout', 'fallback'] as const;
type Scenario = (typeof SCENARIOS)[number];

/**
 * `GET /chaos-demo/:scenario` (retry, breaker, timeout, fallback) runs one demo method;
 * `GET /chaos-demo` shows the chaos counters; `PUT /chaos-demo/:name { enabled?, rate? }`
 * switches one chaos policy at run time (404 while the sample runs without `CHAOS=1`).
 */
@Controller('chaos-demo')
export class ChaosDemoController {
  constructor(
    private readonly demo: ChaosDemoService,
    private readonly registry: ResilienceRegistry,
  ) {}

  @Get()
  stats(): Record<string, ChaosStats> {
    return this.registry.stats().chaos;
  }

  @Get(':scenario')
  run(@Param('scenario') scenario: string): Promise<DemoAnswer> {
    if (!(SCENARIOS as readonly string[]).includes(scenario)) {
      throw new NotFoundException(`Scenarios: ${SCENARIOS.join(', ')}`);
    }
    return this.demo[scenario as Scenario]();
  }

  @Put(':name')
  configure(@Param('name') name: string, @Body() body: unknown): ChaosStats {
    const policy = this.registry.chaos(name);
    if (!policy) {
      throw new NotFoundException(
        `No chaos policy '${name}' (is the sample running with CHAOS=1?)`,
      );
    }
    const { enabled, rate } = (body ?? {}) as { enabled?: unknown; rate?: unknown };
    if (enabled !== undefined && typeof enabled !== 'boolean') {
      throw new BadRequestException('enabled must be true or false');
    }
    if (rate !== undefined && (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))) {
      throw new BadRequestException('rate must be a number from 0 to 1');
    }
    if (enabled === true) policy.enable();
    if (enabled === false) policy.disable();
    if (rate !== undefined) policy.setRate(rate);
    return policy.stats();
  }
}
