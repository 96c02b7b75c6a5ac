import { BadRequestException, Body, Controller, Get, Put } from '@nestjs/common';
import { DownstreamBehaviour, DownstreamState, FlakyGateway } from './flaky-gateway';

/**
 * Remote control for the flaky gateway:
 * `PUT /downstream { "failureRate": 0..1, "latencyMs": 0.. }` and `GET /downstream`.
 */
@Controller('downstream')
export class DownstreamController {
  constructor(private readonly gateway: FlakyGateway) {}

  @Get()
  state(): DownstreamState {
    return this.gateway.state();
  }

  @Put()
  configure(@Body() body: unknown): DownstreamState {
    return this.gateway.configure(parseBehaviour(body));
  }
}

function parseBehaviour(body: unknown): Partial<DownstreamBehaviour> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestException('Send a JSON object: { "failureRate": 0..1, "latencyMs": ms }');
  }
  const { failureRate, latencyMs, ...rest } = body as Record<string, unknown>;
  const unknownKeys = Object.keys(rest);
  if (unknownKeys.length > 0) {
    throw new BadRequestException(`Unknown setting(s): ${unknownKeys.join(', ')}`);
  }
  const change: Partial<DownstreamBehaviour> = {};
  if (failureRate !== undefined) {
    if (typeof failureRate !== 'number' || !(failureRate >= 0 && failureRate <= 1)) {
      throw new BadRequestException('failureRate must be a number from 0 to 1');
    }
    change.failureRate = failureRate;
  }
  if (latencyMs !== undefined) {
    if (typeof latencyMs !== 'number' || !(latencyMs >= 0 && latencyMs <= 60_000)) {
      throw new BadRequestException('latencyMs must be a number of ms from 0 to 60000');
    }
    change.latencyMs = latencyMs;
  }
  return change;
}
