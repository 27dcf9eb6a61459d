/**
 * The critest specs that cannot run on this offline machine, each with the reason. Only specs whose failure
 * would say nothing about ucri belong here; a spec that fails because of ucri stays in the run.
 *
 * Not listed because critest does not even define them here: the AppArmor and SELinux specs register only
 * when the host has AppArmor / SELinux enabled (this host has neither). Not listed either: critest's five
 * benchmark specs (Container, PodSandbox lifecycle, Image basic operations, Image listing, start a container
 * from scratch), which it skips itself unless run with `-benchmark`; with the two below they are the 7 skipped
 * of its summary, for runtime handler `mesos` and `docker` alike.
 */
export interface Skip {
  /** A regular expression matched against the full spec text (ginkgo `-ginkgo.skip`). */
  pattern: string;
  why: string;
}

export const SKIPS: readonly Skip[] = [
  {
    // test-image-digest@sha256:9700f9a2… names one exact upstream manifest. A stand-in can never have that
    // digest (it would need the upstream bytes, which are not on this machine), so this spec can only fail.
    pattern: 'public image with digest should be pulled and removed',
    why: 'pins an upstream manifest digest that no offline stand-in can reproduce',
  },
  {
    // The spec masks /bin/ls and expects `sh -c ls` to fail with "/bin/sh: ls: Permission denied". Debian's
    // busybox-static, the only busybox here, is built with a standalone shell that runs applets in-process
    // without exec'ing /bin/ls, so `ls` succeeds whatever is mounted there. Checked by hand against ucri: with
    // /bin/ls masked, `wc -c /bin/ls` reads 0 bytes and `/bin/ls` fails with "Permission denied", as it should.
    pattern: 'runtime should support MaskedPaths',
    why: "busybox-static's standalone shell runs `ls` in-process, so masking /bin/ls cannot show",
  },
];

/** The skip regular expression (one alternation), or undefined when nothing is skipped. */
export function skipRegex(skips: readonly Skip[] = SKIPS): string | undefined {
  if (skips.length === 0) return undefined;
  return skips.map((s) => s.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}
