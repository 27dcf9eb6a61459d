import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStreamArgs } from '../../../cmd/ucri/exec.js';
import { parsePortSpec } from '../../../cmd/ucri/port-forward.js';
import { exitCodeOf } from '../../../pkg/cri/streaming/spdy-client.js';
import { queryPorts } from '../../../pkg/cri/streaming/websocket.js';

describe('ucri exec/attach arguments', () => {
  it('takes flags before the id and everything after it as the command', () => {
    assert.deepEqual(parseStreamArgs(['-it', '--socket=/s', 'abc', 'ls', '-l', '--all']), {
      socket: '/s',
      stdin: true,
      tty: true,
      rest: ['abc', 'ls', '-l', '--all'],
    });
    assert.deepEqual(parseStreamArgs(['-i', '--socket', '/t', '--', 'abc', 'sh']).rest, ['abc', 'sh']);
    assert.equal(parseStreamArgs(['--tty', 'x']).tty, true);
    assert.throws(() => parseStreamArgs(['-x', 'abc']), /unknown flag "-x"/);
    assert.throws(() => parseStreamArgs(['--socket']), /needs a value/);
  });
});

describe('ucri port-forward ports', () => {
  it('parses LOCAL:REMOTE and PORT, refusing what is out of range', () => {
    assert.deepEqual(parsePortSpec('8080:80'), { local: 8080, remote: 80 });
    assert.deepEqual(parsePortSpec('0:80'), { local: 0, remote: 80 });
    assert.deepEqual(parsePortSpec('443'), { local: 443, remote: 443 });
    for (const bad of ['80:0', '70000:80', '1:70000', 'a:1', '', ':80', '1:2:3']) {
      assert.equal(parsePortSpec(bad), undefined, bad);
    }
  });
});

describe('remotecommand outcome', () => {
  it('reads the exit code from a v4 Status, the pre-v4 text, or fails with the message', () => {
    assert.equal(exitCodeOf(''), 0);
    assert.equal(exitCodeOf('{"metadata":{},"status":"Success"}'), 0);
    const status = {
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '7' }] },
    };
    assert.equal(exitCodeOf(JSON.stringify(status)), 7);
    assert.equal(exitCodeOf('command terminated with non-zero exit code: exit code 4'), 4);
    assert.throws(
      () => exitCodeOf('{"status":"Failure","message":"container not running","reason":"InternalError"}'),
      /container not running/,
    );
    assert.throws(() => exitCodeOf('something broke'), /something broke/);
  });
});

describe('WebSocket port-forward ports', () => {
  it('takes repeated and comma-separated port parameters, refusing bad ones', () => {
    assert.deepEqual(queryPorts('/portforward/t?port=80&port=8080,9090'), [80, 8080, 9090]);
    assert.match(String(queryPorts('/portforward/t')), /"port" is required/);
    assert.match(String(queryPorts('/portforward/t?port=0')), /invalid port "0"/);
    assert.match(String(queryPorts('/portforward/t?port=80,x')), /invalid port "x"/);
  });
});
