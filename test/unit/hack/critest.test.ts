/**
 * The critest harness's own logic, without critest: the ucri config it writes is one ucri accepts with both
 * mirrors, the skip expression matches exactly the specs it names, ginkgo's summary is found, and the
 * stand-in catalogue covers every reference the suite pulls with the users, tags and setuid bit it checks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../cmd/ucri/config.js';
import { standInCatalogue } from '../../../hack/critest/catalogue.js';
import { mirrorConfig } from '../../../hack/critest/environment.js';
import { ginkgoCounts, ginkgoSummary } from '../../../hack/critest/ginkgo.js';
import { SKIPS, skipRegex } from '../../../hack/critest/skips.js';

describe('critest harness', () => {
  it('writes a config whose mirrors send registry.k8s.io and gcr.io to the local registry', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ucri-critest-unit-'));
    try {
      const file = path.join(dir, 'config.toml');
      writeFileSync(file, mirrorConfig('http://127.0.0.1:5123'));
      const config = loadConfig({ config: file }, {});
      assert.deepEqual(config.registry.mirrors, {
        'registry.k8s.io': { endpoints: ['http://127.0.0.1:5123'] },
        'gcr.io': { endpoints: ['http://127.0.0.1:5123'] },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('skips exactly the named specs', () => {
    const re = new RegExp(skipRegex() ?? 'never');
    assert.ok(SKIPS.length > 0);
    assert.ok(
      re.test('[k8s.io] Image Manager [It] public image with digest should be pulled and removed [Conformance]'),
    );
    assert.ok(re.test('[k8s.io] Security Context bucket [It] runtime should support MaskedPaths'));
    assert.ok(!re.test('[k8s.io] Image Manager [It] public image with tag should be pulled and removed [Conformance]'));
    assert.ok(!re.test('[k8s.io] Security Context bucket [It] runtime should support ReadonlyPaths'));
    assert.equal(skipRegex([]), undefined);
  });

  it('finds ginkgo summary and counts', () => {
    const out = [
      'noise',
      'Summarizing 1 Failure:',
      '  [FAIL] [k8s.io] X [It] y',
      '',
      'Ran 3 of 5 Specs in 1.0 seconds',
      'FAIL! -- 2 Passed | 1 Failed | 0 Pending | 2 Skipped',
    ].join('\n');
    assert.match(ginkgoSummary(out), /^Summarizing 1 Failure:\n {2}\[FAIL\].*\nRan 3 of 5/);
    assert.deepEqual(ginkgoCounts(out), { passed: 2, failed: 1, pending: 0, skipped: 2 });
    assert.equal(ginkgoCounts('nothing'), undefined);
    assert.equal(ginkgoSummary('Ran 1 of 1 Specs in 1 seconds\nSUCCESS!'), 'Ran 1 of 1 Specs in 1 seconds\nSUCCESS!');
  });

  it('has a stand-in for every reference the suite pulls', async () => {
    const list = await standInCatalogue({
      nginx: Buffer.from('nginx'),
      nonewprivs: Buffer.from('nnp'),
      pause: Buffer.from('pause'),
    });
    const refs = new Set(list.flatMap((s) => s.tags.map((t) => `${s.host}/${s.repository}:${t}`)));
    const cri = 'gcr.io/k8s-staging-cri-tools/';
    for (const ref of [
      'registry.k8s.io/e2e-test-images/busybox:1.29-2',
      'registry.k8s.io/e2e-test-images/nginx:1.14-2',
      'registry.k8s.io/e2e-test-images/httpd:2.4.39-4',
      'registry.k8s.io/e2e-test-images/nonewprivs:1.3',
      `${cri}hostnet-nginx-amd64:latest`,
      `${cri}test-image-latest:latest`,
      `${cri}test-image-tag:test`,
      `${cri}test-image-tag:all`,
      `${cri}test-image-1:latest`,
      `${cri}test-image-2:latest`,
      `${cri}test-image-3:latest`,
      `${cri}test-image-tags:1`,
      `${cri}test-image-tags:2`,
      `${cri}test-image-tags:3`,
      `${cri}test-image-user-uid:latest`,
      `${cri}test-image-user-username:latest`,
      `${cri}test-image-user-uid-group:latest`,
      `${cri}test-image-user-username-group:latest`,
      `${cri}test-image-predefined-group:latest`,
    ]) {
      assert.ok(refs.has(ref), `no stand-in for ${ref}`);
    }
    const byRepo = new Map(list.map((s) => [s.repository.split('/').pop(), s]));
    assert.equal(byRepo.get('test-image-user-uid')?.spec.config.User, '1002');
    assert.equal(byRepo.get('test-image-user-username')?.spec.config.User, 'www-data');
    assert.equal(byRepo.get('test-image-user-uid-group')?.spec.config.User, '1003:1003');
    // Every repository's config differs, so no two repositories share an image id (and so their tags).
    const configs = list.map((s) => JSON.stringify(s.spec.config));
    assert.equal(new Set(configs).size, list.length);
    const nnp = byRepo
      .get('nonewprivs')
      ?.spec.layers.flatMap((l) => l.entries)
      .find((e) => e.path === 'usr/local/bin/nnp');
    assert.equal(nnp?.mode, 0o4755);
    assert.equal(nnp?.uid, 0);
    // The applets are hard links, so masking one path does not mask busybox itself.
    const ls = list[0]?.spec.layers[0]?.entries.find((e) => e.path === 'bin/ls');
    assert.equal(ls?.kind, 'hardlink');
  });
});
