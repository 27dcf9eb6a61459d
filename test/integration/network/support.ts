/**
 * A CNI test bed for the network tests: a temp dir with a pin root, a config dir, host-local state and a
 * bridge named for this run on a 10.x/16 that no host route uses, built from the real Debian plugins.
 * `close()` removes what the bed and the plugins made: pins, the bridge, the shared CNI iptables chains when
 * they were not there before, and restores ip_forward (the bridge plugin turns it on for gateways).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PodSpec } from '../../../pkg/containerizer/index.js';
import type { PodContext } from '../../../pkg/mesos/isolator.js';
import { pickFreeSubnet } from '../../../pkg/mesos/isolators/network/index.js';
import {
  createPinnedNamespaces,
  ensurePinRoot,
  listPinnedIds,
  removePinnedNamespaces,
  run,
  unmountAllUnder,
} from '../../../pkg/sys/index.js';
import { basePodSpec } from '../../support/specs.js';
import { deleteNatRule, dropNatChains, removeNatRulesOf } from '../../support/nat-rules.js';

export const PLUGIN_DIRS = ['/usr/lib/cni'];
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** A complete PodSpec with test defaults. */
export function podSpec(id: string, over: Partial<PodSpec> = {}): PodSpec {
  return basePodSpec({
    id,
    name: `pod-${id.slice(0, 8)}`,
    namespace: 'ns-test',
    uid: `uid-${id.slice(0, 8)}`,
    hostname: `pod-${id.slice(0, 8)}`,
    ...over,
  });
}

export function newPodId(): string {
  return randomBytes(32).toString('hex');
}

/** Names of the nat/filter chains in iptables-save output. */
export async function chains(): Promise<Set<string>> {
  const r = await run('iptables-save', []);
  return new Set([...r.stdout.matchAll(/^:(\S+)/gm)].map((m) => m[1]!));
}

export interface TestBed {
  dir: string;
  pinRoot: string;
  configDir: string;
  stateDir: string;
  ipamDir: string;
  bridge: string;
  subnet: string;
  /** A pod with a pinned netns (+ uts/ipc when asked). */
  pod(over?: Partial<PodSpec>): Promise<PodContext>;
  /** Writes a conflist into the config dir (name `10-test.conflist` unless given). */
  writeConfig(conf: unknown, name?: string): Promise<void>;
  /** The standard list: bridge (+ host-local) and portmap. */
  bridgeConflist(extra?: Array<Record<string, unknown>>): Record<string, unknown>;
  /** Addresses host-local holds now (files named like IPs in its data dir). */
  leasedIps(): Promise<string[]>;
  /** Interfaces enslaved to the test bridge (the host ends of pods' veths). */
  bridgePorts(): Promise<string[]>;
  close(): Promise<void>;
}

/** Sets up a test bed; requires root. */
export async function testBed(prefix: string): Promise<TestBed> {
  if (process.getuid?.() !== 0) throw new Error('network tests need root');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `ucri-${prefix}-`));
  const pinRoot = path.join(dir, 'pins');
  const configDir = path.join(dir, 'cni');
  const stateDir = path.join(dir, 'state');
  const ipamDir = path.join(dir, 'ipam');
  await fs.mkdir(configDir);
  await ensurePinRoot(pinRoot);
  const bridge = `ucrit${randomBytes(4).toString('hex')}`;
  // A random start spreads concurrent runs over different /16s; each candidate is checked against the host.
  const start = 100 + (randomBytes(1)[0]! % 100);
  const candidates = Array.from({ length: 40 }, (_, i) => `10.${((start + i * 3) % 150) + 100}.0.0/16`);
  const subnet = await pickFreeSubnet(candidates);
  const chainsBefore = await chains();
  const forwardBefore = (await fs.readFile(IP_FORWARD, 'utf8')).trim();
  const netName = `ucri-test-${prefix}`;

  const bed: TestBed = {
    dir,
    pinRoot,
    configDir,
    stateDir,
    ipamDir,
    bridge,
    subnet,
    async pod(over = {}) {
      const id = newPodId();
      const pins = await createPinnedNamespaces(pinRoot, id, { kinds: ['net'] });
      return {
        spec: podSpec(id, over),
        state: { id, netns: pins.net!, dir: path.join(dir, 'pods', id), cgroup: '', ips: [], infraPid: 0, data: {} },
      };
    },
    async writeConfig(conf, name = '10-test.conflist') {
      await fs.writeFile(path.join(configDir, name), JSON.stringify(conf));
    },
    bridgeConflist(extra = []) {
      return {
        cniVersion: '1.0.0',
        name: netName,
        plugins: [
          {
            type: 'bridge',
            bridge,
            isGateway: true,
            ipMasq: true,
            hairpinMode: true,
            ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir },
          },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
          ...extra,
        ],
      };
    },
    async leasedIps() {
      let names: string[];
      try {
        names = await fs.readdir(path.join(ipamDir, netName));
      } catch {
        return [];
      }
      return names.filter((n) => /^[\d.]+$|:/.test(n) && !n.startsWith('last_reserved_ip'));
    },
    async bridgePorts() {
      const r = await run('ip', ['-o', 'link', 'show', 'master', bridge], { allowFailure: true });
      return r.stdout
        .split('\n')
        .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
        .filter((n) => n !== '');
    },
    async close() {
      // Every step runs even when an earlier one fails; the first failure is reported at the end.
      const errors: unknown[] = [];
      const step = async (fn: () => Promise<unknown>): Promise<void> => {
        await fn().catch((e: unknown) => errors.push(e));
      };
      for (const id of await listPinnedIds(pinRoot)) await step(() => removePinnedNamespaces(pinRoot, id));
      await step(() => run('ip', ['link', 'del', bridge], { allowFailure: true }));
      // A pod a failed test never tore down keeps its masquerade and DNAT rules, also in shared chains.
      await step(() => removeNatRulesOf(netName));
      await step(() => removeNewCniChains(chainsBefore));
      await step(() => fs.writeFile(IP_FORWARD, forwardBefore));
      await step(() => unmountAllUnder(dir, { lazy: true }));
      await step(() => fs.rm(dir, { recursive: true, force: true }));
      if (errors.length > 0) throw errors[0];
    },
  };
  return bed;
}

/**
 * Removes the shared chains portmap and the bridge plugin leave behind (CNI-HOSTPORT-*, CNI-*) that did not
 * exist before this run (test files run one at a time, so nobody else uses them).
 */
export async function removeNewCniChains(before: Set<string>): Promise<void> {
  const created = [...(await chains())].filter((c) => c.startsWith('CNI-') && !before.has(c));
  if (created.length === 0) return;
  const save = (await run('iptables-save', ['-t', 'nat'])).stdout;
  // Jumps into the new chains from the built-in chains are undone first, then the chains are emptied.
  for (const line of save.split('\n')) {
    const m = /^-A (PREROUTING|OUTPUT|POSTROUTING|INPUT) .*-j (CNI-\S+)/.exec(line);
    if (m && created.includes(m[2]!)) await deleteNatRule(line);
  }
  await dropNatChains(created);
}
