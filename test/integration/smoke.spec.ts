import { Controller, Get, Injectable, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Observable, defer, of, throwError, lastValueFrom, toArray } from 'rxjs';
import { ResilienceModule, Retry, CircuitBreaker, Timeout, ResilienceRegistry, Fallback, currentSignal, Bulkhead } from '../../lib';

@Injectable()
class Flaky {
  n = 0;
  @Retry({ maxAttempts: 3, backoff: { type: 'fixed', initialDelay: 1, jitter: 'none' } })
  async fetch(): Promise<string> { if (++this.n < 3) throw new Error('boom'); return 'ok'; }
  m = 0;
  @Retry({ maxAttempts: 3, backoff: { type: 'fixed', initialDelay: 1, jitter: 'none' } })
  stream(): Observable<number> { return defer(() => ++this.m < 3 ? throwError(() => new Error('x')) : of(1, 2)); }
  @Fallback('fb') @CircuitBreaker({ failureThreshold: 2 })
  bad(x: number): Promise<number> { throw new Error('bad' + x); }
  fb(e: Error, x: number) { return -x; }
  @Timeout(20)
  async slow(): Promise<boolean> { const s = currentSignal(); await new Promise(r => setTimeout(r, 50)); return s.aborted; }
  @Bulkhead({ maxConcurrent: 1 })
  syncy(a: number) { return a * 2; }
}
@Injectable({ scope: Scope.REQUEST })
class Scoped { @CircuitBreaker('shared-cb') async go() { throw new Error('s'); } }

describe('smoke', () => {
  it('works', async () => {
    const m = await Test.createTestingModule({ imports: [ResilienceModule.forRoot()], providers: [Flaky, Scoped] }).compile();
    await m.init();
    const f = m.get(Flaky);
    await expect(f.fetch()).resolves.toBe('ok');
    expect(await lastValueFrom(f.stream().pipe(toArray()))).toEqual([1, 2]);
    await expect(f.bad(3)).resolves.toBe(-3);
    await expect(f.slow()).rejects.toThrow('timed out');
    await expect(f.syncy(2)).resolves.toBe(4);
    const s = await m.resolve(Scoped);
    await expect(s.go()).rejects.toThrow('s');
    const reg = m.get(ResilienceRegistry);
    console.log(JSON.stringify(reg.stats(), null, 1));
    expect(f.fetch.name).toBe('fetch');
    expect(new Flaky().syncy(3)).toBe(6);
    await m.close();
  });
});
