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

  it('lets only the mesos containerizer import the isolator table, the launcher and the provisioner', () => {
    const root = tree({
      'pkg/mesos/index.ts': "export * from './containerizer/index.js';\nexport { N } from './isolators/index.js';\n",
      'pkg/mesos/containerizer/index.ts':
        "import { N } from '../isolators/index.js';\nimport { L } from '../launcher/index.js';\nexport { N, L };\n",
      'pkg/mesos/isolators/index.ts': "import { h } from './hostname.js';\nexport const N = [h];\n",
      'pkg/mesos/isolators/hostname.ts': "export const h = 'x';\n",
      'pkg/mesos/launcher/index.ts': 'export const L = 1;\n',
      'pkg/mesos/provisioner/index.ts': 'export const P = 1;\n',
      'pkg/mesos/launch-info.ts': "import { N } from './isolators/index.js';\nexport const n = N;\n",
      'pkg/mesos/isolators/cgroups/cpu.ts': "import { L } from '../../launcher/index.js';\nexport const l = L;\n",
      'pkg/mesos/launcher/linux.ts': "import { P } from '../provisioner/index.js';\nexport const p = P;\n",
    });
    try {
      const problems = check(root);
      assert.equal(problems.length, 3, problems.join('\n'));
      const text = problems.join('\n');
      assert.match(text, /pkg\/mesos\/launch-info\.ts: only pkg\/mesos\/containerizer imports the isolator table/);
      assert.match(text, /pkg\/mesos\/isolators\/cgroups\/cpu\.ts: only .* imports the launcher/);
      assert.match(text, /pkg\/mesos\/launcher\/linux\.ts: only .* imports the provisioner/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
