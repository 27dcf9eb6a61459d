/**
 * packaging/config.toml, which `make install` puts at /etc/ucri/config.toml: the daemon's own loader accepts
 * it, it changes nothing (it equals the built-in defaults, whatever they become), and it mentions every key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { configSchema, loadConfig } from '../../../cmd/ucri/config.js';

/** packaging/config.toml of the repository, from dist/test/unit/cmd. */
const PACKAGED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../packaging/config.toml');

const dir = mkdtempSync(path.join(os.tmpdir(), 'ucri-packaged-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('packaging/config.toml', () => {
  it('loads through the daemon loader and equals the built-in defaults', () => {
    const empty = path.join(dir, 'empty.toml');
    writeFileSync(empty, '');
    const packaged = loadConfig({ config: PACKAGED }, {});
    assert.deepEqual(packaged, loadConfig({ config: empty }, {}));
    assert.deepEqual(packaged, configSchema.parse({}));
  });

  it('names every configuration key, set or commented out', () => {
    const text = readFileSync(PACKAGED, 'utf8');
    const named = new Set(
      [...text.matchAll(/^(?:# )?([a-z_]+) = /gm)]
        .map((m) => m[1])
        .concat(text.includes('[registry]') ? ['registry'] : []),
    );
    const missing = Object.keys(configSchema.shape).filter((k) => !named.has(k));
    assert.deepEqual(missing, [], 'keys of the schema that packaging/config.toml does not mention');
  });

  it('is refused once a value is broken (the test reads the real file, not a copy of the defaults)', () => {
    const broken = path.join(dir, 'broken.toml');
    writeFileSync(broken, readFileSync(PACKAGED, 'utf8').replace('launcher = "auto"', 'launcher = "lxc"'));
    assert.throws(() => loadConfig({ config: broken }, {}), /launcher/);
  });
});
