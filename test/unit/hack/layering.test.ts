import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { check } from '../../../hack/check-layering.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ucri-layering-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe('layering check', () => {
  it('passes on this repository', () => {
    assert.deepEqual(check(repo), []);
  });

  it('catches an upward import, a deep import and a cycle', () => {
    const root = tree({
      'pkg/util/index.ts': "export * from './a.js';\n",
      'pkg/util/a.ts': "import { x } from '../cri/index.js';\nexport const a = x;\n",
      'pkg/cri/index.ts': "export const x = 1;\nimport { y } from '../mesos/deep.js';\n",
      'pkg/mesos/deep.ts': "export const y = 2;\nimport { z } from './loop.js';\n",
      'pkg/mesos/loop.ts': "export const z = 3;\nimport { y } from './deep.js';\n",
    });
    try {
      const problems = check(root).join('\n');
      assert.match(problems, /pkg\/util must not import pkg\/cri/);
      assert.match(problems, /pkg\/cri must not import pkg\/mesos/);
      assert.match(problems, /deep import pkg\/mesos\/deep\.ts/);
      assert.match(problems, /import cycle: .*deep\.ts → .*loop\.ts → .*deep\.ts/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
