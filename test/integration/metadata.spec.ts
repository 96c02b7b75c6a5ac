import { RequestMethod } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { MetadataScanner, Reflector } from '@nestjs/core';
import { PATTERN_HANDLER_METADATA, PATTERN_METADATA } from '@nestjs/microservices/constants';
import { ListenerMetadataExplorer } from '@nestjs/microservices/listener-metadata-explorer';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { ResilienceModule, ResilienceRegistry } from '../../lib';
import {
  AuthGuard,
  NightlyJobs,
  OrdersController,
  PollingJob,
} from '../fixtures/metadata.fixtures';
import { useTestApps, waitFor } from '../fixtures/testing-app';

const proto = OrdersController.prototype;

describe("other libraries' metadata on protected methods", () => {
  const apps = useTestApps();

  describe('read from the class', () => {
    it('controller routes survive, whichever side of ours they are written on', () => {
      expect(Reflect.getMetadata(PATH_METADATA, proto.find)).toBe(':id');
      expect(Reflect.getMetadata(METHOD_METADATA, proto.find)).toBe(RequestMethod.GET);
      expect(Reflect.getMetadata(PATH_METADATA, proto.create)).toBe('/');
      expect(Reflect.getMetadata(METHOD_METADATA, proto.create)).toBe(RequestMethod.POST);
      expect(Reflect.getMetadata(PATH_METADATA, OrdersController)).toBe('orders');
    });

    it('guards survive', () => {
      expect(Reflect.getMetadata(GUARDS_METADATA, proto.find)).toEqual([AuthGuard]);
      expect(Reflect.getMetadata(GUARDS_METADATA, proto.create)).toEqual([AuthGuard]);
    });

    it('SetMetadata written above and below our decorators survives', () => {
      const reflector = new Reflector();
      expect(reflector.get('role', proto.find)).toBe('reader');
      expect(reflector.get('role', proto.create)).toBe('writer');
      expect(reflector.get('above', proto.tagged)).toBe('a');
      expect(reflector.get('below', proto.tagged)).toBe('b');
      expect(Reflect.getMetadata('above', proto.tagged)).toBe('a');
      expect(Reflect.getMetadata('below', proto.tagged)).toBe('b');
    });

    it('@MessagePattern and @EventPattern survive', () => {
      expect(Reflect.getMetadata(PATTERN_METADATA, proto.sum)).toEqual([{ cmd: 'sum' }]);
      expect(Reflect.getMetadata(PATTERN_HANDLER_METADATA, proto.sum)).toBeDefined();
      expect(Reflect.getMetadata(PATTERN_METADATA, proto.onCreated)).toEqual(['order.created']);
    });

    it('method name and length are kept', () => {
      expect(proto.find.name).toBe('find');
      expect(proto.find.length).toBe(2);
      expect(proto.create.name).toBe('create');
      expect(proto.create.length).toBe(1);
      expect(proto.tagged.length).toBe(0);
      expect(NightlyJobs.prototype.cleanUp.name).toBe('cleanUp');
    });
  });

  describe('in a running application', () => {
    it('controller methods are protected and keep their name on the instance', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot()],
        controllers: [OrdersController],
      });
      const controller = app.get(OrdersController);
      expect(controller.find.name).toBe('find');

      await expect(controller.find('7', true)).resolves.toBe('order 7 (verbose)');
      await expect(controller.create({ item: 'tea' })).resolves.toBe('created tea');
      expect(controller.calls).toMatchObject({ find: 3, create: 3 });
      const { circuitBreakers } = app.get(ResilienceRegistry).stats();
      expect(circuitBreakers['OrdersController.create']).toMatchObject({ failedCalls: 2 });
    });

    it('message handlers found by the microservices explorer call the protected method', async () => {
      const app = await apps.start({
        imports: [ResilienceModule.forRoot()],
        controllers: [OrdersController],
      });
      const controller = app.get(OrdersController);
      const handlers = new ListenerMetadataExplorer(new MetadataScanner()).explore(controller);
      const sum = handlers.find((h) => h.methodKey === 'sum');
      expect(sum?.patterns).toEqual([{ cmd: 'sum' }]);

      await expect(sum!.targetCallback.call(controller, [1, 2, 3])).resolves.toBe(6);
      expect(controller.calls.sum).toBe(3);
    });

    describe.each([
      ['before', (m: any) => [ScheduleModule.forRoot(), m]],
      ['after', (m: any) => [m, ScheduleModule.forRoot()]],
    ])('@Cron with the schedule module imported %s ours', (_order, imports) => {
      it.each(['nightly-above', 'nightly-below'])(
        'the cron job %s runs the protected method',
        async (name) => {
          const app = await apps.start({
            imports: imports(ResilienceModule.forRoot()),
            providers: [NightlyJobs],
          });
          const jobs = app.get(NightlyJobs);
          const job = app.get(SchedulerRegistry).getCronJob(name);

          await job.fireOnTick(); // waitForCompletion: resolves when the handler has finished

          const key = name === 'nightly-above' ? 'cleanUp' : 'report';
          expect(jobs.calls[key]).toBe(3); // two failures retried within one tick
          const { retries } = app.get(ResilienceRegistry).stats();
          expect(retries[`NightlyJobs.${key}`]).toMatchObject({ calls: 1, successWithRetry: 1 });
        },
      );
    });

    it('@Interval runs the protected method', async () => {
      const app = await apps.start({
        imports: [ScheduleModule.forRoot(), ResilienceModule.forRoot()],
        providers: [PollingJob],
      });
      const job = app.get(PollingJob);
      await waitFor(() => job.succeeded > 0, 2000);
      expect(job.calls.poll).toBe(3);
      const { retries } = app.get(ResilienceRegistry).stats();
      expect(retries['PollingJob.poll']).toMatchObject({ successWithRetry: 1, attempts: 3 });
    });
  });
});
