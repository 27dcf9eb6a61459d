/**
 * The crash-point hook is inert unless UCRI_CRASH_AT is set and armed, and then kills only at the named step.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const UTIL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../pkg/util/index.js');

/** Runs `body` in a fresh node with `crashAt` in the environment; returns how it ended. */
function runWith(crashAt: string | undefined, body: string): { signal: NodeJS.Signals | null; stdout: string } {
  const script = `import * as u from ${JSON.stringify(UTIL)};\n${body}\nconsole.log('survived');`;
  const env = { ...process.env };
  delete env.UCRI_CRASH_AT;
  if (crashAt !== undefined) env.UCRI_CRASH_AT = crashAt;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  return { signal: r.signal, stdout: r.stdout };
}

describe('crash points', () => {
  it('do nothing when unset, before arming, or at another step', () => {
    const all = 'for (const [v, steps] of Object.entries(u.CRASH_POINTS)) for (const s of steps) u.crashPoint(v, s);';
    assert.equal(runWith(undefined, `u.armCrashPoints(); ${all}`).stdout.trim(), 'survived');
    assert.equal(runWith('StartContainer:intent', all).stdout.trim(), 'survived');
    const other = "u.armCrashPoints(); u.crashPoint('StartContainer', 'running');";
    assert.equal(runWith('StartContainer:intent', other).stdout.trim(), 'survived');
  });

  it('SIGKILL the process at the named step once armed', () => {
    const r = runWith('StartContainer:intent', "u.armCrashPoints(); u.crashPoint('StartContainer', 'intent');");
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.stdout, '');
  });
});
