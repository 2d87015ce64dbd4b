// Runs in the browser: the module as a page would import it, against the real server whose
// address the test passes. Each check's result is shown in the page (for the screenshot) and
// returned to the test through WebDriver.

import { Client, Code, RpcError } from '/src/index.js';

async function expectError(promise, code) {
  try {
    await promise;
  } catch (e) {
    if (e instanceof RpcError && e.code === code) return `${e.name}: ${e.message}`;
    throw new Error(`expected status ${code}, got ${e?.name}: ${e?.message}`);
  }
  throw new Error(`expected status ${code}, got success`);
}

const checks = {
  async unary(client) {
    const hello = await client.call('Echo', 'hello', 'browser');
    const sum = await client.call('Echo', 'add', [2, 3], { codec: 'json' });
    if (hello !== 'hello, browser' || sum !== 5) throw new Error(`got ${hello} and ${sum}`);
    return `${hello}; 2 + 3 = ${sum}`;
  },
  async 'server stream'(client) {
    const got = [];
    for await (const n of await client.serverStream('Feed', 'count', 4)) got.push(n);
    if (got.join() !== '0,1,2,3') throw new Error(`got ${got}`);
    let bytes = 0;
    for await (const part of await client.serverStream('Feed', 'blob', [12, 100_000])) bytes += part.length;
    if (bytes !== 1_200_000) throw new Error(`got ${bytes} bytes`);
    return `count(4) = [${got}]; 1.2 MB through the 256 KiB window`;
  },
  async 'client and bidi streams'(client) {
    const sum = await client.clientStream('Feed', 'sum', [1, 2, 3, 4]);
    const doubled = [];
    for await (const n of await client.bidiStream('Feed', 'double', [1, 2, 3])) doubled.push(n);
    if (sum !== 10 || doubled.join() !== '2,4,6') throw new Error(`got ${sum} and ${doubled}`);
    return `sum = ${sum}; doubled = [${doubled}]`;
  },
  async deadline(client) {
    const t0 = performance.now();
    const what = await expectError(client.call('Echo', 'sleep', 5_000, { timeout: 150 }), Code.DEADLINE_EXCEEDED);
    return `${what} after ${Math.round(performance.now() - t0)} ms`;
  },
  async cancel(client) {
    const controller = new AbortController();
    const call = client.call('Echo', 'sleep', 30_000, { signal: controller.signal });
    setTimeout(() => controller.abort('the user left'), 100);
    return expectError(call, Code.CANCELLED);
  },
  async 'server-side error'(client) {
    try {
      await client.call('Echo', 'fail', [7, 'not for you']);
    } catch (e) {
      const details = new TextDecoder().decode(e.details);
      if (!(e instanceof RpcError) || e.code !== 7 || e.name !== 'permission_denied' || details !== 'details: not for you') {
        throw new Error(`got ${e.name} ${e.code} ${e.message} ${details}`);
      }
      return `${e.code} ${e.name}: ${e.message} (details "${details}")`;
    }
    throw new Error('the call succeeded');
  },
};

function show(name, ok, detail) {
  const row = document.createElement('tr');
  row.innerHTML = `<td class="${ok ? 'pass' : 'fail'}">${ok ? '✔' : '✘'} ${name}</td><td></td>`;
  row.lastChild.textContent = detail;
  document.getElementById('results').append(row);
}

/** Runs every check against `url`; resolves `[{ name, ok, detail }]`. */
window.runChecks = async (url) => {
  document.getElementById('where').textContent = `${navigator.userAgent} → ${url}`;
  const client = new Client(url);
  const results = [];
  for (const [name, check] of Object.entries(checks)) {
    try {
      const detail = await check(client);
      results.push({ name, ok: true, detail });
    } catch (e) {
      results.push({ name, ok: false, detail: String(e?.stack ?? e) });
    }
    const last = results.at(-1);
    show(last.name, last.ok, last.detail);
  }
  client.close();
  return { userAgent: navigator.userAgent, results };
};
