/**
 * The nat-rule sweep of tests and benches (test/support/nat-rules.ts) against the real iptables: the rules a
 * never torn down pod of one network leaves (a masquerade jump from POSTROUTING and its chain, a DNAT jump
 * from a shared chain and its chain) are removed, another network's are kept, and a second sweep finds
 * nothing. Every chain and rule here is this test's own (names made for the run) and is removed at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { run } from '../../../pkg/sys/index.js';
import { dropNatChains, removeNatRulesOf } from '../../support/nat-rules.js';

const tag = randomBytes(4).toString('hex');
const net = `ucri-test-sweep-${tag}`;
const other = `${net}x`;
const masq = `CNI-${tag}sweepmasq000000`;
const dn = `CNI-DN-${tag}sweepdn`;
const shared = `CNI-SWEEP-${tag}`;
const otherChain = `CNI-${tag}sweepother00000`;

const ipt = (...args: string[]) => run('iptables', ['-t', 'nat', ...args]);
const save = async () => (await run('iptables-save', ['-t', 'nat'])).stdout;
const comment = (network: string, id: string) => ['-m', 'comment', '--comment', `name: "${network}" id: "${id}"`];
/** What the bridge plugin's ipMasq leaves per pod: a jump from POSTROUTING to the pod's chain. */
const masqJump = (network: string, ip: string, chain: string) => [
  'POSTROUTING',
  '-s',
  ip,
  ...comment(network, ip),
  '-j',
  chain,
];

describe('removeNatRulesOf', () => {
  after(async () => {
    for (const jump of [masqJump(net, '10.254.1.2/32', masq), masqJump(other, '10.254.1.3/32', otherChain)]) {
      await run('iptables', ['-t', 'nat', '-D', ...jump], { allowFailure: true });
    }
    await dropNatChains([shared, masq, dn, otherChain]);
  });

  it("removes one network's jumps and chains and keeps another's", async () => {
    for (const c of [shared, masq, dn, otherChain]) await ipt('-N', c);
    // Each pod's chain (its own rules name the network too), then the jump into it.
    await ipt('-A', masq, '-d', '10.254.1.0/24', ...comment(net, 'a'), '-j', 'ACCEPT');
    await ipt('-A', ...masqJump(net, '10.254.1.2/32', masq));
    await ipt('-A', otherChain, '-d', '10.254.1.0/24', ...comment(other, 'b'), '-j', 'ACCEPT');
    await ipt('-A', ...masqJump(other, '10.254.1.3/32', otherChain));
    // portmap's: a DNAT chain, entered from a chain other pods share.
    await ipt('-A', dn, '-p', 'tcp', '--dport', '40001', '-j', 'ACCEPT');
    await ipt('-A', shared, '-p', 'tcp', '-m', 'comment', '--comment', `dnat name: "${net}" id: "a"`, '-j', dn);

    assert.deepEqual(await removeNatRulesOf(net), { rules: 2, chains: 2 });
    const left = await save();
    assert.doesNotMatch(left, new RegExp(`name: \\\\"${net}\\\\"`));
    for (const c of [masq, dn]) assert.ok(!left.includes(`:${c} `), `chain ${c} still there`);
    assert.ok(left.includes(`:${shared} `), 'the shared chain stays');
    assert.ok(left.includes(`:${otherChain} `), "the other network's chain stays");
    assert.match(left, new RegExp(`name: \\\\"${other}\\\\"`));
    assert.deepEqual(await removeNatRulesOf(net), { rules: 0, chains: 0 });
  });
});
