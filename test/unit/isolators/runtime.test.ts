import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppcRuntimeIsolator } from '../../../pkg/mesos/isolators/appc/runtime.js';
import { DockerRuntimeIsolator } from '../../../pkg/mesos/isolators/docker/runtime.js';
import { commandLine } from '../../../pkg/mesos/isolators/process.js';
import { isKind } from '../../../pkg/util/index.js';
import { ctx, imageConfig, signal } from './fake.js';

describe('docker/runtime', () => {
  it('follows kubelet rules for command and args', () => {
    const image = imageConfig({ entrypoint: ['/ep', 'e1'], cmd: ['c1', 'c2'] });
    const table: Array<[string[], string[], string[]]> = [
      [[], [], ['/ep', 'e1', 'c1', 'c2']],
      [['/cmd'], [], ['/cmd']],
      [[], ['a1'], ['/ep', 'e1', 'a1']],
      [['/cmd'], ['a1', 'a2'], ['/cmd', 'a1', 'a2']],
    ];
    for (const [command, args, want] of table) {
      assert.deepEqual(commandLine({ command, args }, image), want, `command=${command} args=${args}`);
    }
    assert.deepEqual(commandLine({ command: [], args: ['x'] }, imageConfig({ cmd: ['c'] })), ['x']);
    assert.deepEqual(commandLine({ command: [], args: [] }, imageConfig({ cmd: ['/c', '-v'] })), ['/c', '-v']);
    assert.throws(
      () => commandLine({ command: [], args: [] }, imageConfig({ cmd: [] })),
      (e: unknown) => isKind(e, 'FailedPrecondition') && /no command specified/.test(String(e)),
    );
  });

  it('merges env (image then CRI), sets HOSTNAME and picks the working dir', async () => {
    const iso = new DockerRuntimeIsolator();
    const info = await iso.prepare(
      ctx({
        spec: { env: [{ key: 'A', value: 'cri' }], workingDir: '' },
        image: { env: ['A=image', 'B=b=c', 'NOVALUE'], workingDir: 'rel/dir' },
      }),
    );
    assert.deepEqual(info?.env, [
      { key: 'HOSTNAME', value: 'web-0' },
      { key: 'A', value: 'image' },
      { key: 'B', value: 'b=c' },
      { key: 'A', value: 'cri' },
    ]);
    assert.equal(info?.workingDir, '/rel/dir');
    assert.equal(info?.user, undefined, 'linux/security owns the user');
    const cri = await iso.prepare(ctx({ spec: { workingDir: '/w' }, image: { workingDir: '/img' } }));
    assert.equal(cri?.workingDir, '/w');
    assert.equal((await iso.prepare(ctx()))?.workingDir, '/');
    await assert.rejects(iso.prepare(ctx({ spec: { workingDir: 'relative' } })), (e: unknown) =>
      isKind(e, 'InvalidArgument'),
    );
  });

  it('leaves appc images to appc/runtime and the other way round', async () => {
    assert.equal(await new DockerRuntimeIsolator().prepare(ctx({ kind: 'appc' })), undefined);
    assert.equal(await new AppcRuntimeIsolator().prepare(ctx({ kind: 'docker' })), undefined);
    const info = await new AppcRuntimeIsolator().prepare(
      ctx({ kind: 'appc', image: { entrypoint: ['/app', '--x'], cmd: [] }, spec: { args: ['y'] } }),
    );
    assert.deepEqual(info?.command, ['/app', '--x', 'y']);
    void signal;
  });
});
