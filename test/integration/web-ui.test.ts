/**
 * The Temporal Web UI, in a real browser (the system Chromium driven by playwright-core): a running job's page
 * shows the same progress as the job's own status, without opening any payload.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { getJobStatus, startImport } from '../../src/client';
import { launchChromium } from '../support/chromium';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents, waitFor } from '../support/wait';

const artifacts = resolve(__dirname, '../../test-artifacts');
let h: ImportHarness;
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
  h = await startImportHarness();
});

afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

it("shows a running job's progress in the Temporal UI, matching the job's status", async () => {
  const file = h.writeInput('ui.ndjson', ndjsonEvents(3000, 'ui'));
  const started = await startImport(h.sc, {
    file,
    targetChunkBytes: 30_000,
    concurrency: 1,
    maxEventsPerBatch: 50,
    rateLimit: { perSecond: 500, unit: 'events' },
  });
  await waitFor(async () => ((await getJobStatus(h.sc, started.jobId)).events as { sent: number }).sent > 0);
  // Paused and drained, the numbers hold still while the browser reads them.
  await h.sc.client.workflow.getHandle(started.jobId).signal('pause', {});
  await waitFor(async () => {
    const s = await getJobStatus(h.sc, started.jobId);
    return s.state === 'paused' && (s.chunks as { inFlight: number }).inFlight === 0;
  });
  const status = await getJobStatus(h.sc, started.jobId);
  const rows = status.rows as { read: number; rejected: number };
  const events = status.events as { sent: number };
  expect(events.sent).toBeGreaterThan(0);
  expect(events.sent).toBeLessThan(3000);

  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  await page.goto(`${inject('temporalUiUrl')}/namespaces/default/workflows/${started.jobId}`);
  mkdirSync(artifacts, { recursive: true });
  try {
    // Summary and current details live on the "User Metadata" tab.
    await page.getByText('User Metadata').first().click({ timeout: 30_000 });
    // Current details come from the worker through the UI's metadata query; wait for our table to render.
    await waitFor(async () => (await pageText(page)).includes('rows read'), 30_000, 'current details in the UI');
  } finally {
    await page.screenshot({ path: join(artifacts, 'web-ui-job.png'), fullPage: true });
  }
  const text = await pageText(page);

  expect(text).toContain('import ui.ndjson → source default'); // the static summary
  expect(text).toMatch(/paused/);
  // The progress row of the current-details table: rows read, events sent, rows rejected, batches.
  const progressRow = new RegExp(
    `${rows.read}\\s+${events.sent}\\s+${rows.rejected}\\s+${status.batches && (status.batches as { sent: number }).sent}`,
  );
  expect(text).toMatch(progressRow);

  await h.sc.client.workflow.getHandle(started.jobId).cancel();
}, 120_000);

/** Text of the page and its frames: the UI renders markdown details in a sandboxed iframe. */
async function pageText(page: import('playwright-core').Page): Promise<string> {
  const texts = await Promise.all(
    page.frames().map((frame) =>
      frame
        .locator('body')
        .innerText()
        .catch(() => ''),
    ),
  );
  return texts.join('\n');
}
