// The module in a real browser: headless Chromium, driven through chromedriver's W3C
// WebDriver HTTP API (a handful of requests, so no client library), loads a page served
// here that imports the module and runs calls against the real server. A screenshot of the
// page is kept under the OS temp dir.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startServer } from './support/server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMEDRIVER = process.env.CHROMEDRIVER ?? '/usr/bin/chromedriver';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.map': 'application/json' };

let server;
let http;
let driver;
let profile;

/** Serves the package directory read-only on a free loopback port; `/` is the test page. */
function serveStatic() {
  const httpServer = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = resolve(root, '.' + (path === '/' ? '/tests/browser/page.html' : decodeURIComponent(path)));
    if (!(file + sep).startsWith(root + sep) || !existsSync(file) || !TYPES[extname(file)]) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] }).end(readFileSync(file));
  });
  return new Promise((r) => httpServer.listen(0, '127.0.0.1', () => r(httpServer)));
}

function freePort() {
  return new Promise((r) => {
    const s = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => r(port));
    });
  });
}

/** One WebDriver command; throws with the driver's message on an error answer. */
async function webdriver(method, path, body) {
  const res = await fetch(`${driver.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await res.json();
  if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${answer.value?.error}: ${answer.value?.message}`);
  return answer.value;
}

before(async () => {
  for (const [what, path] of [['chromium', CHROMIUM], ['chromedriver', CHROMEDRIVER]]) {
    // Missing is a failure, not a skip: scripts/install-deps.sh installs both.
    assert.ok(existsSync(path), `${what} is not at ${path}: run scripts/install-deps.sh (Debian packages chromium and chromium-driver)`);
  }
  server = await startServer();
  http = await serveStatic();
  const port = await freePort();
  const child = spawn(CHROMEDRIVER, [`--port=${port}`], { stdio: 'ignore' });
  driver = { child, url: `http://127.0.0.1:${port}` };
  const until = performance.now() + 30_000;
  for (;;) {
    try {
      if ((await webdriver('GET', '/status')).ready) break;
    } catch {
      // not listening yet
    }
    assert.ok(performance.now() < until, 'chromedriver was not ready within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  profile = mkdtempSync(join(tmpdir(), 'erpc-chromium-'));
  const session = await webdriver('POST', '/session', {
    capabilities: {
      alwaysMatch: {
        browserName: 'chrome',
        'goog:chromeOptions': {
          binary: CHROMIUM,
          // Root in CI needs --no-sandbox; the rest keeps Chromium off the (closed) network.
          args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
            '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
            `--user-data-dir=${profile}`, '--window-size=1000,700'],
        },
      },
    },
  });
  driver.session = session.sessionId;
});

after(async () => {
  if (driver?.session) await webdriver('DELETE', `/session/${driver.session}`).catch(() => {});
  driver?.child.kill();
  http?.close();
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('in headless Chromium: unary, streams, deadline, cancel and a server-side error', async () => {
  const session = `/session/${driver.session}`;
  await webdriver('POST', `${session}/timeouts`, { script: 60_000 });
  await webdriver('POST', `${session}/url`, { url: `http://127.0.0.1:${http.address().port}/` });
  const outcome = await webdriver('POST', `${session}/execute/async`, {
    script: `const [url, done] = arguments;
      const go = () => window.runChecks ? window.runChecks(url).then(done, (e) => done({ error: String(e) })) : setTimeout(go, 10);
      go();`,
    args: [server.ws],
  });
  const png = await webdriver('GET', `${session}/screenshot`);
  const shot = join(tmpdir(), `erpc-js-browser-${process.pid}.png`);
  writeFileSync(shot, Buffer.from(png, 'base64'));
  console.log(`screenshot: ${shot}`);

  assert.equal(outcome.error, undefined, outcome.error);
  assert.match(outcome.userAgent, /HeadlessChrome|Chrome/);
  const results = outcome.results;
  assert.deepEqual(results.map((r) => r.name), ['unary', 'server stream', 'client and bidi streams', 'deadline', 'cancel', 'server-side error']);
  for (const r of results) {
    console.log(`${r.ok ? 'ok' : 'FAILED'} in the browser: ${r.name}: ${r.detail}`);
  }
  assert.deepEqual(results.filter((r) => !r.ok), []);
});
