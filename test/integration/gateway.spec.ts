import { ResilienceEvent, ResilienceModule, ResilienceRegistry, RetryPolicy } from '../../lib';
import { UpstreamError } from '../fixtures/flaky-client';
import {
  ChatGateway,
  deliver,
  exploreMessageHandlers,
  MESSAGE_MAPPING_METADATA,
  MESSAGE_METADATA,
} from '../fixtures/gateway.fixtures';
import { rejectionOf, useTestApps } from '../fixtures/testing-app';

// A gateway-shaped provider (see gateway.fixtures.ts: @nestjs/websockets is not installed),
// with its handlers found and called the way the websockets package does it.
describe('a gateway message handler protected by @Retry(name, options)', () => {
  const apps = useTestApps();
  const setup = async () => {
    const app = await apps.compile({
      imports: [ResilienceModule.forRoot()],
      providers: [ChatGateway],
    });
    const gateway = app.get(ChatGateway);
    const handlers = exploreMessageHandlers(gateway); // before init, as a gateway is connected
    await app.init();
    const registry = app.get(ResilienceRegistry);
    const events: ResilienceEvent[] = [];
    registry.events$.subscribe((event) => events.push(event));
    const send = (message: string, clientId: string, data?: unknown) =>
      deliver(gateway, handlers.get(message)!, { id: clientId }, data);
    return { gateway, handlers, registry, events, send };
  };

  it('keeps the message metadata, so the handlers are found', async () => {
    const { handlers } = await setup();
    expect([...handlers.keys()].sort()).toEqual(['chat', 'typing']);
    const chat = handlers.get('chat')!;
    expect(Reflect.getMetadata(MESSAGE_MAPPING_METADATA, chat)).toBe(true);
    expect(Reflect.getMetadata(MESSAGE_METADATA, chat)).toBe('chat');
    expect(chat.name).toBe('onChat');
    expect(chat.length).toBe(2);
  });

  it("registers the retry under the given name, 'custom-name', and not under ClassName.methodName", async () => {
    const { registry } = await setup();
    const retry = registry.retry('custom-name');
    expect(retry).toBeInstanceOf(RetryPolicy);
    expect(retry!.name).toBe('custom-name');
    expect(retry!.options.maxAttempts).toBe(3);
    expect(registry.retry('ChatGateway.onChat')).toBeUndefined();
    expect(registry.retry('ChatGateway.onTyping')).toBeUndefined();
    expect(Object.keys(registry.stats().retries)).toEqual(['custom-name']);
  });

  it('retries a message delivered to the handler and counts the calls of both handlers under that name', async () => {
    const { gateway, registry, events, send } = await setup();

    await expect(send('chat', 'client-1', 'hello')).resolves.toBe('client-1: hello');
    await expect(send('typing', 'client-2')).resolves.toBe('client-2 is typing');

    expect(gateway.calls).toEqual({ chat: 2, typing: 1 });
    expect(registry.stats().retries['custom-name']).toEqual({
      calls: 2,
      successWithoutRetry: 1,
      successWithRetry: 1,
      failedWithRetry: 0,
      failedWithoutRetry: 0,
      attempts: 3,
    });
    expect(events).toEqual([
      expect.objectContaining({ type: 'retry', name: 'custom-name', attempt: 1 }),
    ]);
  });

  it('gives up after maxAttempts from the named options and rethrows the last error', async () => {
    const { gateway, registry, send } = await setup();
    gateway.chatFailures = 10;

    const error = await rejectionOf(send('chat', 'client-1', 'hello'));

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.message).toBe('chat failure #3');
    expect(gateway.calls.chat).toBe(3);
    expect(registry.stats().retries['custom-name']).toMatchObject({
      calls: 1,
      failedWithRetry: 1,
      attempts: 3,
    });
  });

  it('counts a direct call of the provider method under the same name', async () => {
    const { gateway, registry } = await setup();
    await expect(gateway.onChat({ id: 'direct' }, 'hi')).resolves.toBe('direct: hi');
    expect(registry.retry('custom-name')!.stats()).toMatchObject({
      calls: 1,
      successWithRetry: 1,
      attempts: 2,
    });
  });
});
