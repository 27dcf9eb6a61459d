import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IpcNamespaceIsolator } from '../../../pkg/mesos/isolators/namespaces/ipc.js';
import { PidNamespaceIsolator } from '../../../pkg/mesos/isolators/namespaces/pid.js';
import { isKind } from '../../../pkg/util/index.js';
import { containerSpec, ctx, pod } from './fake.js';

const ns = (pid: 'pod' | 'container' | 'node' | 'target', ipc: 'pod' | 'container' | 'node' = 'pod') => ({
  ...containerSpec().namespaces,
  pid,
  ipc,
});

describe('namespaces/pid and namespaces/ipc', () => {
  it('pid: POD joins the pinned namespace, CONTAINER is new, NODE is the host, TARGET joins the target', async () => {
    const iso = new PidNamespaceIsolator();
    const p = pod({}, { infraPid: 4321, pidns: '/run/ucri/pins/pod/pid' });
    assert.deepEqual((await iso.prepare(ctx({ pod: p, spec: { namespaces: ns('pod') } })))?.namespaces, [
      { type: 'pid', path: '/run/ucri/pins/pod/pid' },
    ]);
    // An infra pid alone (a record from before pid pins) is never joined: that pid may be a stranger's now.
    const unpinned = pod({}, { infraPid: 4321 });
    await assert.rejects(iso.prepare(ctx({ pod: unpinned, spec: { namespaces: ns('pod') } })), (e: unknown) =>
      isKind(e, 'FailedPrecondition'),
    );
    assert.deepEqual((await iso.prepare(ctx({ spec: { namespaces: ns('container') } })))?.namespaces, [
      { type: 'pid' },
    ]);
    assert.equal(await iso.prepare(ctx({ spec: { namespaces: ns('node') } })), undefined);
    const t = { ...ctx({ spec: { namespaces: { ...ns('target'), targetId: 'x' } } }), targetPid: 99 };
    assert.deepEqual((await iso.prepare(t))?.namespaces, [{ type: 'pid', path: '/proc/99/ns/pid' }]);
    await assert.rejects(iso.prepare(ctx({ spec: { namespaces: ns('pod') } })), (e: unknown) =>
      isKind(e, 'FailedPrecondition'),
    );
    await assert.rejects(iso.prepare(ctx({ spec: { namespaces: ns('target') } })), (e: unknown) =>
      isKind(e, 'FailedPrecondition'),
    );
  });

  it('ipc: POD joins the pin, NODE and host-IPC pods stay on the host, CONTAINER is new', async () => {
    const iso = new IpcNamespaceIsolator();
    assert.deepEqual((await iso.prepare(ctx()))?.namespaces, [{ type: 'ipc', path: '/run/ucri/ns/pod/ipc' }]);
    assert.equal(await iso.prepare(ctx({ spec: { namespaces: ns('container', 'node') } })), undefined);
    const hostIpc = pod({ namespaces: { network: 'pod', pid: 'container', ipc: 'node' } }, { ipcns: undefined });
    assert.equal(await iso.prepare(ctx({ pod: hostIpc })), undefined);
    assert.deepEqual((await iso.prepare(ctx({ spec: { namespaces: ns('container', 'container') } })))?.namespaces, [
      { type: 'ipc' },
    ]);
  });
});
