import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DOWNSTREAM_OPTIONS } from './downstream.constants';

/** How the fake gateway misbehaves. Change it at run time with `PUT /downstream`. */
export interface DownstreamBehaviour {
  /** Share of requests answered with a 503, 0..1. */
  failureRate: number;
  /** Delay added to every answer, ms. */
  latencyMs: number;
}

export interface DownstreamOptions extends DownstreamBehaviour {
  /** Port to listen on (loopback only); 0 picks a free port. */
  port: number;
}

/** What `GET /downstream` shows. */
export interface DownstreamState extends DownstreamBehaviour {
  url: string;
  /** Requests received. */
  requests: number;
  /** Requests answered with a deliberate 503. */
  failures: number;
  /** Requests whose caller hung up before the answer (a `@Timeout` aborted the fetch). */
  aborted: number;
}

interface Charge {
  id: string;
  customerId: string;
  amount: number;
  currency: string;
  status: 'authorized';
  createdAt: string;
  events: { status: string; at: string }[];
}

/** Exchange rates against USD served by `GET /rates/:currency`. */
const RATES: Record<string, number> = { USD: 1, EUR: 0.92, GBP: 0.79, JPY: 151.2, CHF: 0.88 };
/** Charges kept in memory; the oldest ones are forgotten first. */
const MAX_CHARGES = 10_000;
const MAX_BODY_BYTES = 64 * 1024;

/**
 * A deliberately unreliable payment gateway: a real HTTP server on 127.0.0.1 that the
 * sample's `PaymentsClient` calls with `fetch`. Its failure rate and latency can be
 * changed while the app runs, to watch retries, timeouts and the circuit breaker react.
 *
 * Routes: `POST /charges`, `GET /charges/:id`, `GET /charges/:id/events`,
 * `GET /rates/:currency`.
 */
@Injectable()
export class FlakyGateway implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('FlakyGateway');
  private readonly server: Server = createServer((req, res) => this.handle(req, res));
  private readonly charges = new Map<string, Charge>();
  private readonly byIdempotencyKey = new Map<string, string>();
  private behaviour: DownstreamBehaviour;
  private counters = { requests: 0, failures: 0, aborted: 0 };
  private baseUrl?: string;

  constructor(@Inject(DOWNSTREAM_OPTIONS) private readonly options: DownstreamOptions) {
    this.behaviour = { failureRate: options.failureRate, latencyMs: options.latencyMs };
  }

  /** Base URL of the gateway, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    if (!this.baseUrl) throw new Error('The downstream gateway is not listening yet.');
    return this.baseUrl;
  }

  async onModuleInit(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.logger.log(
      `Flaky payment gateway listening on ${this.baseUrl} ` +
        `(failureRate ${this.behaviour.failureRate}, latency ${this.behaviour.latencyMs}ms)`,
    );
  }

  /** Runs after the resilience module has let in-flight calls finish. */
  async onApplicationShutdown(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  state(): DownstreamState {
    return { url: this.baseUrl ?? '', ...this.behaviour, ...this.counters };
  }

  /** Changes the failure rate and/or the latency of every later request. */
  configure(change: Partial<DownstreamBehaviour>): DownstreamState {
    this.behaviour = { ...this.behaviour, ...change };
    this.logger.log(
      `Now failing ${Math.round(this.behaviour.failureRate * 100)}% of requests ` +
        `with ${this.behaviour.latencyMs}ms latency`,
    );
    return this.state();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.counters.requests++;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const { failureRate, latencyMs } = this.behaviour;
      const timer = setTimeout(() => {
        if (Math.random() < failureRate) {
          this.counters.failures++;
          send(res, 503, { error: 'The gateway is having a bad day' });
          return;
        }
        this.route(req, Buffer.concat(chunks).toString('utf8'), res);
      }, latencyMs);
      // the caller gave up (timeout, shutdown): stop working on its request
      res.once('close', () => {
        if (res.writableFinished) return;
        clearTimeout(timer);
        this.counters.aborted++;
      });
    });
  }

  private route(req: IncomingMessage, body: string, res: ServerResponse): void {
    let path: string[];
    try {
      const segments = new URL(req.url ?? '/', 'http://gateway').pathname.split('/');
      path = segments.filter(Boolean).map((segment) => decodeURIComponent(segment));
    } catch {
      return send(res, 400, { error: 'Malformed URL' });
    }
    const [resource, id, sub] = path;
    if (req.method === 'POST' && resource === 'charges' && path.length === 1) {
      return this.createCharge(req, body, res);
    }
    if (req.method === 'GET' && resource === 'charges' && id !== undefined && path.length <= 3) {
      const charge = this.charges.get(id);
      if (!charge) return send(res, 404, { error: `No charge ${id}` });
      if (sub === undefined) return send(res, 200, withoutEvents(charge));
      if (sub === 'events') return send(res, 200, charge.events);
    }
    if (req.method === 'GET' && resource === 'rates' && id !== undefined && path.length === 2) {
      const currency = id.toUpperCase();
      const rate = RATES[currency];
      if (rate === undefined) return send(res, 404, { error: `No rate for ${currency}` });
      return send(res, 200, { currency, base: 'USD', rate, at: new Date().toISOString() });
    }
    send(res, 404, { error: 'Not found' });
  }

  private createCharge(req: IncomingMessage, body: string, res: ServerResponse): void {
    let input: Partial<Charge>;
    try {
      input = JSON.parse(body) as Partial<Charge>;
    } catch {
      return send(res, 400, { error: 'The body must be JSON' });
    }
    // a retried request with the same key gets the charge made the first time
    const key = req.headers['idempotency-key'];
    const known = typeof key === 'string' ? this.byIdempotencyKey.get(key) : undefined;
    const existing = known === undefined ? undefined : this.charges.get(known);
    if (existing) return send(res, 200, withoutEvents(existing));

    const now = new Date().toISOString();
    const charge: Charge = {
      id: `ch_${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      customerId: String(input.customerId),
      amount: Number(input.amount),
      currency: String(input.currency),
      status: 'authorized',
      createdAt: now,
      events: [
        { status: 'created', at: now },
        { status: 'authorized', at: now },
      ],
    };
    if (this.charges.size >= MAX_CHARGES) this.forgetOldest();
    this.charges.set(charge.id, charge);
    if (typeof key === 'string') this.byIdempotencyKey.set(key, charge.id);
    send(res, 201, withoutEvents(charge));
  }

  private forgetOldest(): void {
    const oldest = this.charges.keys().next().value;
    if (oldest !== undefined) this.charges.delete(oldest);
    for (const [key, id] of this.byIdempotencyKey) {
      if (id === oldest) this.byIdempotencyKey.delete(key);
    }
  }
}

function withoutEvents({ events: _events, ...charge }: Charge): Omit<Charge, 'events'> {
  return charge;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
