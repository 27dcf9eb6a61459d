/**
 * Removes the nat rules the CNI plugins made for one network, whoever left them: the bridge plugin's
 * masquerade rule (`-A POSTROUTING … --comment "name: \"<net>\" id: …" -j CNI-<hash>`) and its chain, and
 * portmap's DNAT jump (`-A CNI-HOSTPORT-DNAT … --comment "dnat name: \"<net>\" …" -j CNI-DN-<hash>`) and its
 * chain. A pod that a test or the bench never tore down (a failure, a daemon killed on purpose) keeps these
 * after its netns and bridge are gone; the network names of tests and benches are unique per run, so
 * nothing of another run or another runtime matches.
 */
import { run } from '../../pkg/sys/index.js';

/** Splits an iptables-save rule into argv, honouring double quotes (comments). */
export function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) =>
    m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!,
  );
}

/** The nat rules (as `-A` lines) whose comment names `network`, and the CNI chains they jump to. */
export function natRulesOf(save: string, network: string): { rules: string[]; chains: string[] } {
  // iptables-save writes the comment with its quotes escaped: --comment "name: \"<net>\" id: \"…\"".
  const named = `name: \\"${network}\\"`;
  const rules = save.split('\n').filter((l) => l.startsWith('-A ') && l.includes(named));
  const chains = new Set<string>();
  for (const r of rules) {
    const target = / -j (CNI-\S+)/.exec(r)?.[1];
    if (target) chains.add(target);
  }
  // The chains' own rules name the network too; only jumps from elsewhere are removed one by one.
  return { rules: rules.filter((r) => !chains.has(r.split(' ')[1]!)), chains: [...chains] };
}

/** Deletes one nat rule as iptables-save prints it (`-A <chain> …`); true when iptables did. */
export async function deleteNatRule(line: string): Promise<boolean> {
  const [, chain, ...rest] = splitRule(line);
  return (await run('iptables', ['-t', 'nat', '-D', chain!, ...rest], { allowFailure: true })).code === 0;
}

/**
 * Empties every one of `chains`, then deletes them (emptied first, all of them: one may jump to another, which
 * keeps that one from being deleted); returns how many are gone.
 */
export async function dropNatChains(chains: readonly string[]): Promise<number> {
  for (const c of chains) await run('iptables', ['-t', 'nat', '-F', c], { allowFailure: true });
  let gone = 0;
  for (const c of chains) {
    if ((await run('iptables', ['-t', 'nat', '-X', c], { allowFailure: true })).code === 0) gone++;
  }
  return gone;
}

/** Deletes `network`'s nat rules and then its chains; returns how many rules and chains were removed. */
export async function removeNatRulesOf(network: string): Promise<{ rules: number; chains: number }> {
  const save = await run('iptables-save', ['-t', 'nat'], { allowFailure: true });
  if (save.code !== 0) return { rules: 0, chains: 0 };
  const { rules, chains } = natRulesOf(save.stdout, network);
  let removed = 0;
  for (const r of rules) if (await deleteNatRule(r)) removed++;
  return { rules: removed, chains: await dropNatChains(chains) };
}
