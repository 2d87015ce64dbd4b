// The test vectors of PROTOCOL.md, read from the document itself so it cannot drift from
// what the client is tested against: each `<!-- vector: NAME -->` comment followed by a
// ```text block of hex bytes (anything after `|` on a line is an annotation).

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROTOCOL_MD = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../PROTOCOL.md');

/** `Map<name, Uint8Array>` of every vector in PROTOCOL.md, in document order. */
export function protocolVectors(text = readFileSync(PROTOCOL_MD, 'utf8')) {
  const vectors = new Map();
  const pattern = /<!-- vector: ([\w-]+) -->\s*```text\n([\s\S]*?)```/g;
  for (const [, name, block] of text.matchAll(pattern)) {
    const hex = block
      .split('\n')
      .map((line) => line.split('|')[0])
      .join(' ')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    for (const byte of hex) {
      if (!/^[0-9a-f]{2}$/.test(byte)) throw new Error(`vector ${name}: ${JSON.stringify(byte)} is not a hex byte`);
    }
    if (vectors.has(name)) throw new Error(`vector ${name} appears twice`);
    vectors.set(name, Uint8Array.from(hex, (b) => parseInt(b, 16)));
  }
  return vectors;
}
