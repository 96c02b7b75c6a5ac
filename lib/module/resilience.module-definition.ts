import { ConfigurableModuleBuilder } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { INVALID_OPTION } from '../common/resilience.messages';
import { ResilienceExceptionFilter } from '../http/resilience-exception.filter';
import type { ResilienceModuleOptions } from './resilience-module-options.interface';

/**
 * Options read when the module is registered, before any factory runs. With
 * `forRootAsync`, pass them next to `useFactory` / `useClass`.
 * @publicApi
 */
export interface ResilienceModuleExtras {
  /** @default true */
  isGlobal?: boolean;
  /** Register `ResilienceExceptionFilter` globally. @default false */
  httpErrors?: boolean;
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: RESILIENCE_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ResilienceModuleOptions>({ moduleName: 'Resilience' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createResilienceOptions')
  .setExtras<ResilienceModuleExtras>(
    { isGlobal: true, httpErrors: false },
    (definition, extras) => ({
      ...checkExtras(extras),
      ...definition,
      global: extras.isGlobal !== false,
      providers: [
        ...(definition.providers ?? []),
        ...(extras.httpErrors === true
          ? [{ provide: APP_FILTER, useClass: ResilienceExceptionFilter }]
          : []),
      ],
    }),
  )
  .build();

function checkExtras(extras: ResilienceModuleExtras): object {
  for (const key of ['isGlobal', 'httpErrors'] as const) {
    const value = extras[key];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new ResilienceConfigError(
        INVALID_OPTION('ResilienceModule', key, value, 'true or false'),
        'ResilienceModule',
        key,
        value,
      );
    }
  }
  return {};
}
