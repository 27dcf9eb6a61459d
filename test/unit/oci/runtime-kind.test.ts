/**
 * `oci_runtime`: runc and crun are taken as given; auto means crun when it is installed (hack/deps.sh installs
 * it, and nsutil is built for hybrid hosts), else runc; an explicit path decides by its name.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { resolveRuntimeKind } from '../../../pkg/oci/index.js';
import { isKind } from '../../../pkg/util/index.js';

describe('resolveRuntimeKind', () => {
  it('takes runc and crun as given', async () => {
    assert.equal(await resolveRuntimeKind('runc'), 'runc');
    assert.equal(await resolveRuntimeKind('crun'), 'crun');
    assert.equal(await resolveRuntimeKind('runc', '/opt/crun'), 'runc');
  });

  it('decides auto by an explicit path name', async () => {
    assert.equal(await resolveRuntimeKind('auto', '/opt/bin/crun'), 'crun');
    assert.equal(await resolveRuntimeKind('auto', '/opt/bin/crun-1.9'), 'crun');
    assert.equal(await resolveRuntimeKind('auto', '/usr/sbin/runc'), 'runc');
  });

  it('takes crun for auto on this host, where it is installed', async () => {
    const installed = ['/usr/bin/crun', '/usr/local/bin/crun', '/usr/sbin/crun'].some((p) => existsSync(p));
    assert.ok(installed, 'hack/deps.sh installs crun');
    assert.equal(await resolveRuntimeKind('auto'), 'crun');
  });

  it('refuses other names', async () => {
    await assert.rejects(resolveRuntimeKind('kata'), (e: unknown) => isKind(e, 'InvalidArgument'));
  });
});
