/**
 * The system Chromium (Debian's package, scripts/install-chromium.sh) driven by playwright-core, as the browser checks
 * of the Web UI launch it (test/integration/web-ui.test.ts, test/cluster/multi-host.test.ts).
 */
import { chromium, type Browser } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    // This machine's network is closed: keep Chromium from trying to reach anything but loopback.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
