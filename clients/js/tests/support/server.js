// Starts the real erpc server the tests talk to: the workspace's `erpc-test-server`
// (clients/test-server), built with cargo unless ERPC_TEST_SERVER names the binary.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Client } from '../../src/index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

let binary;

/** The server binary: $ERPC_TEST_SERVER, else built once with cargo. */
export function serverBinary() {
  if (binary) return binary;
  if (process.env.ERPC_TEST_SERVER) {
    binary = process.env.ERPC_TEST_SERVER;
  } else {
    execFileSync('cargo', ['build', '-q', '-p', 'erpc-test-server'], { cwd: repo, stdio: 'inherit' });
    binary = join(process.env.CARGO_TARGET_DIR ?? join(repo, 'target'), 'debug', 'erpc-test-server');
  }
  if (!existsSync(binary)) throw new Error(`no erpc-test-server at ${binary}`);
  return binary;
}

/**
 * Spawns the server with `args` and waits for the JSON line naming its addresses.
 * Resolves `{ ws, tcp, addrs, child, stop() }`; `stop()` ends it (SIGKILL with `{ kill: true }`).
 */
export async function startServer(args = []) {
  // stdin is a pipe the server watches: if this process dies, the server ends too.
  const child = spawn(serverBinary(), args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const addrs = await new Promise((resolveAddrs, reject) => {
    const timer = setTimeout(() => reject(new Error('erpc-test-server printed no addresses within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`erpc-test-server exited (${code}) before printing its addresses`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolveAddrs(JSON.parse(line).addrs);
    });
  });
  const exited = new Promise((r) => child.once('exit', r));
  return {
    addrs,
    ws: addrs.find((a) => a.startsWith('ws://')),
    tcp: addrs.find((a) => a.startsWith('tcp://')),
    child,
    async stop({ kill = false } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        if (kill) child.kill('SIGKILL');
        else child.stdin.end();
      }
      await exited;
    },
  };
}

/** Polls `check` every 20 ms until it returns a truthy value; fails after `ms`. */
export async function eventually(check, ms = 10_000, what = 'condition') {
  const until = performance.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (performance.now() > until) throw new Error(`${what} not met within ${ms} ms (last: ${last?.message ?? last})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * One server and one client for a whole test file: started before its tests, stopped after.
 * Returns `{ server, client }`, filled in once the tests run.
 */
export function withServerAndClient() {
  const shared = {};
  before(async () => {
    shared.server = await startServer();
    shared.client = new Client(shared.server.ws);
  });
  after(async () => {
    shared.client?.close();
    await shared.server?.stop();
  });
  return shared;
}
