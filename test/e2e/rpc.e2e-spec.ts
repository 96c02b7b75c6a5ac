import { Controller, INestMicroservice } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, MessagePattern, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { createServer } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { currentSignal, ResilienceModule, Timeout } from '../../lib';

/** A port of 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}

/** Ports tried before giving up when each one is taken by the time listen() runs. */
const LISTEN_ATTEMPTS = 5;

const NO_ANSWER = Symbol('no answer');

/** How `promise` settled within `ms` of real time (NO_ANSWER when it had not). */
async function settleWithin(promise: Promise<unknown>, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof NO_ANSWER>((resolve) => {
    timer = setTimeout(() => resolve(NO_ANSWER), ms);
  });
  try {
    const outcome = await Promise.race([
      promise.then(
        (value) => ({ status: 'resolved' as const, value }),
        (error: unknown) => ({ status: 'rejected' as const, error }),
      ),
      deadline,
    ]);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

@Controller()
class SlowHandlers {
  calls = 0;

  /** Takes far longer than its timeout; stops when the call is cancelled. */
  @Timeout(20)
  @MessagePattern('slow')
  async slow(): Promise<string> {
    this.calls++;
    const signal = currentSignal();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return 'too late';
  }

  @Timeout(1_000)
  @MessagePattern('fast')
  async fast(): Promise<string> {
    return 'fast';
  }
}

describe('microservice (TCP) handlers with httpErrors: true', () => {
  let app: INestMicroservice | undefined;
  let client: ClientProxy | undefined;

  afterEach(async () => {
    const [openClient, openApp] = [client, app];
    client = undefined;
    app = undefined;
    try {
      await openClient?.close();
    } finally {
      await openApp?.close();
    }
  });

  /**
   * Starts the microservice on a port freePort() found. Another process may take that
   * port between the probe and listen(): on EADDRINUSE, try again on a new port.
   */
  const listenOnFreePort = async (): Promise<{ app: INestMicroservice; port: number }> => {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const moduleRef = await Test.createTestingModule({
        imports: [ResilienceModule.forRoot({ httpErrors: true })],
        controllers: [SlowHandlers],
      }).compile();
      const microservice = moduleRef.createNestMicroservice({
        transport: Transport.TCP,
        options: { host: '127.0.0.1', port },
        logger: false,
      });
      try {
        await microservice.listen();
        return { app: microservice, port };
      } catch (error) {
        await microservice.close().catch(() => undefined);
        const taken = (error as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
        if (!taken || attempt >= LISTEN_ATTEMPTS) throw error;
      }
    }
  };

  const start = async () => {
    const listening = await listenOnFreePort();
    app = listening.app;
    client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: listening.port },
    });
    await client.connect();
    return { client, handlers: app.get(SlowHandlers) };
  };

  it('a timed-out handler answers the client with an error instead of leaving it waiting', async () => {
    const { client, handlers } = await start();

    const outcome = await settleWithin(firstValueFrom(client.send<string>('slow', {})), 2_000);

    expect(outcome).not.toBe(NO_ANSWER);
    expect(outcome).toMatchObject({
      status: 'rejected',
      // the transport serialises the error it was handed: the TimeoutError's fields arrive
      error: expect.objectContaining({ name: 'TimeoutError', timeout: 20 }),
    });
    expect(handlers.calls).toBe(1);
  });

  it('the transport keeps answering after an error reply', async () => {
    const { client } = await start();

    const failed = await settleWithin(firstValueFrom(client.send<string>('slow', {})), 2_000);
    expect(failed).toMatchObject({ status: 'rejected' });

    const answered = await settleWithin(firstValueFrom(client.send<string>('fast', {})), 2_000);
    expect(answered).toEqual({ status: 'resolved', value: 'fast' });
  });
});
