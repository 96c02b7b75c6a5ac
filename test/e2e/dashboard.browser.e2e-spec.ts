import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Browser, chromium, type Page } from 'playwright-core';
import { AppModule } from '../../sample/src/app.module';
import { DEFAULT_CONFIG, SampleConfig } from '../../sample/src/config';
import { CHROMIUM, describeWithChromium } from '../utils/services';

const TOKEN = 'browser-test-token';
const GATEWAY = 'payments-gateway';
const ROOT = join(__dirname, '..', '..');
const ARTIFACT = join(ROOT, '.tmp', 'artifacts', 'dashboard.png');
const README_SCREENSHOT = join(ROOT, 'docs', 'dashboard.png');
const UPDATE_SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1';

const breaker = (name: string) => `[data-breaker="${name}"]`;

describeWithChromium('live dashboard in Chromium (sample app)', () => {
  let app: INestApplication | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let base: string;

  /** Boots the sample's AppModule on a free port of 127.0.0.1 (`port` to reuse one). */
  async function startSample(port = 0): Promise<void> {
    const config: SampleConfig = {
      ...DEFAULT_CONFIG,
      port,
      failureRate: 0,
      latencyMs: 5,
      dashboardToken: TOKEN,
    };
    const created = await NestFactory.create(AppModule.forRoot(config), { logger: false });
    try {
      await created.listen(port, '127.0.0.1');
    } catch (error) {
      await created.close();
      throw error;
    }
    app = created;
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  }

  const api = (path: string, method = 'GET', body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** Payments and rate look-ups for `ms`, two at a time, so the page has figures to show. */
  async function traffic(ms: number): Promise<void> {
    const end = Date.now() + ms;
    let n = 0;
    const worker = async () => {
      while (Date.now() < end) {
        n++;
        const amount = 500 + ((n * 137) % 4_000);
        await api('/payments', 'POST', { customerId: `c${n % 7}`, amount, currency: 'EUR' });
        if (n % 3 === 0) await api('/rates/usd');
      }
    };
    await Promise.all([worker(), worker()]);
  }

  beforeAll(async () => {
    await startSample();
    browser = await chromium.launch({
      executablePath: CHROMIUM.path,
      args: CHROMIUM.args,
      headless: true,
      timeout: 15_000,
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('shows the payments-gateway breaker open within 1 s of tripping it, then closed', async () => {
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });

    await page.goto(`${base}/resilience/dashboard?token=${TOKEN}`);
    await page.waitForSelector('#conn[data-status="live"]', { timeout: 5_000 });
    await page.waitForSelector(`${breaker(GATEWAY)}[data-state="closed"]`, { timeout: 5_000 });

    // some traffic, with failures the retries absorb, so the page has figures and events
    await api('/downstream', 'PUT', { failureRate: 0.08, latencyMs: 15 });
    await traffic(UPDATE_SCREENSHOT ? 8_000 : 2_500);
    await api('/downstream', 'PUT', { failureRate: 0, latencyMs: 5 });
    // the calls/s figure has a value once two snapshots have come in
    const callsPerSecond = page.locator(`${breaker(GATEWAY)} .figure .v`).first();
    await page.waitForFunction(
      (element) => element !== null && element.textContent !== '–',
      await callsPerSecond.elementHandle(),
      { timeout: 3_000 },
    );
    expect(await page.textContent(`${breaker(GATEWAY)} .line`)).toMatch(/^ok [1-9]/);
    // the SLO of the gateway (sample's module option `slo`): one row with its figures
    const slo = page.locator(`[data-slo="${GATEWAY}"]`);
    await slo.waitFor({ timeout: 3_000 });
    expect(await page.locator('#slos-panel').isVisible()).toBe(true);
    const cells = await slo.locator('td').allTextContents();
    expect(cells.slice(0, 3)).toEqual([GATEWAY, expect.stringMatching(/^\d+(\.\d+)?%$/), '95%']);
    expect(cells[3]).toMatch(/^\d+(\.\d+)?% left$/);
    expect(cells.slice(6)).toEqual(['1 min', expect.stringMatching(/^(met|violated)$/)]);

    // the flaky traffic may have opened the breaker by itself: start from closed
    await api(`/resilience/breakers/${GATEWAY}/close`, 'POST');
    await page.waitForSelector(`${breaker(GATEWAY)}[data-state="closed"]`, { timeout: 1_000 });

    const started = performance.now();
    const opened = await api(`/resilience/breakers/${GATEWAY}/open`, 'POST');
    expect(opened.status).toBe(200);
    await page.waitForSelector(`${breaker(GATEWAY)}[data-state="open"]`, { timeout: 1_000 });
    const tookOpen = performance.now() - started;
    console.log(`dashboard showed ${GATEWAY} open ${tookOpen.toFixed(0)} ms after the POST`);
    expect(tookOpen).toBeLessThan(1_000);
    expect(await page.textContent(`${breaker(GATEWAY)} .state`)).toBe('open');
    expect(await page.textContent('#events li[data-event="state-change"]')).toContain(
      'closed → open (manual)',
    );

    // calls now fail fast: rejections show up in the events
    await api('/payments', 'POST', { customerId: 'c1', amount: 990, currency: 'EUR' });
    await page.waitForSelector('#events li[data-event="call-rejected"]', { timeout: 2_000 });
    await page.waitForTimeout(1_200); // one stats interval, so the counters catch up

    mkdirSync(join(ROOT, '.tmp', 'artifacts'), { recursive: true });
    await page.screenshot({ path: ARTIFACT, fullPage: false });
    if (UPDATE_SCREENSHOT) {
      mkdirSync(join(ROOT, 'docs'), { recursive: true });
      await page.screenshot({ path: README_SCREENSHOT, fullPage: false });
    }

    const closeStarted = performance.now();
    await api(`/resilience/breakers/${GATEWAY}/close`, 'POST');
    await page.waitForSelector(`${breaker(GATEWAY)}[data-state="closed"]`, { timeout: 1_000 });
    console.log(
      `dashboard showed ${GATEWAY} closed ${(performance.now() - closeStarted).toFixed(0)} ms after the POST`,
    );
    expect(await page.textContent(`${breaker(GATEWAY)} .state`)).toBe('closed');
    expect(errors).toEqual([]);
  });

  it('serves nothing without the token, and says Unauthorized when the stream is refused', async () => {
    const other = await browser!.newPage();
    try {
      const response = await other.goto(`${base}/resilience/dashboard?token=not-the-token`);
      expect(response?.status()).toBe(401);
      expect(await other.content()).not.toContain('Resilience dashboard');

      // the token stops working while the page is open (rotated on the server): the page
      // tells that apart from a dropped connection and stops retrying
      await other.route(/\/resilience\/dashboard\/(stream|stats)/, (route) =>
        route.fulfill({ status: 401, contentType: 'application/json', body: '{}' }),
      );
      await other.goto(`${base}/resilience/dashboard?token=${TOKEN}`);
      await other.waitForSelector('#conn[data-status="denied"]', { timeout: 3_000 });
      expect(await other.textContent('#conn')).toContain('Unauthorized');
    } finally {
      await other.close();
    }
  });

  it('reconnects after the application restarts, and says so meanwhile', async () => {
    await page.waitForSelector('#conn[data-status="live"]');
    const port = Number(new URL(base).port);
    await app!.close();
    app = undefined;
    await page.waitForSelector('#conn:is([data-status="reconnecting"], [data-status="offline"])', {
      timeout: 5_000,
    });

    await startSample(port);
    await page.waitForSelector('#conn[data-status="live"]', { timeout: 10_000 });
    // a new instance: the old events are gone, the breaker is there again
    await page.waitForSelector(`${breaker(GATEWAY)}[data-state="closed"]`, { timeout: 3_000 });
  });

  it('shows an SLO violation as it happens: the event and the violated row', async () => {
    // a fresh instance (the test before restarted it): the SLO has seen no call yet
    await page.waitForSelector(`[data-slo="${GATEWAY}"][data-violated="false"]`, {
      timeout: 3_000,
    });
    await api('/downstream', 'PUT', { failureRate: 1, latencyMs: 1 });
    for (let n = 0; n < 25; n++) {
      await api('/payments', 'POST', { customerId: `c${n % 5}`, amount: 100, currency: 'EUR' });
    }
    await api('/downstream', 'PUT', { failureRate: 0, latencyMs: 5 });
    const event = page.locator('#events li[data-event="slo-violation"]');
    await event.waitFor({ timeout: 2_000 });
    expect(await event.locator('.ev-name').textContent()).toBe(GATEWAY);
    expect(await event.locator('.ev-detail').textContent()).toMatch(
      /^success \d+(\.\d+)?% below the 95% target: \d+ of 20 call\(s\) failed in the last 1 min$/,
    );
    await page.waitForSelector(`[data-slo="${GATEWAY}"][data-violated="true"]`, {
      timeout: 1_000,
    });
    expect(await page.textContent(`[data-slo="${GATEWAY}"] .verdict`)).toBe('violated');
    expect(await page.textContent('#slos-count')).toBe('1 total · 1 violated');
  });
});
