// The README's example runs as written (only its address is replaced by a live server's)
// and prints what the README says it prints.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startServer } from './support/server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

test('the README example prints what the README says', async () => {
  const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
  const [, example] = readme.match(/```js\n([\s\S]*?)```/);
  const [, expected] = readme.match(/prints[^\n]*\n\n```text\n([\s\S]*?)```/);
  assert.equal(example.trim().split('\n').length, 10, 'the example is ten lines');
  assert.match(example, /'ws:\/\/127\.0\.0\.1:7001\/erpc'/);
  const code = example.replace('ws://127.0.0.1:7001/erpc', server.ws);
  // Run from the package's directory, so `import 'erpc-client'` resolves to this package.
  const child = spawn(process.execPath, ['--input-type=module'], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.end(code);
  let stdout = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const status = await new Promise((r) => child.on('exit', r));
  assert.equal(status, 0);
  assert.equal(stdout, expected);
});
