/**
 * Localhost seccomp profiles: a JSON file on the host, in the OCI `linux.seccomp` shape or the Docker
 * profile shape kubelet users write (`archMap`, `syscalls[].name`, `includes`/`excludes` by capability and
 * architecture). The file is validated; anything malformed is an InvalidArgumentError naming the file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import type { LinuxSeccomp, LinuxSyscall, SeccompAction } from '../../../oci/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../../util/index.js';

const MAX_PROFILE = 1024 * 1024;

const action = z.enum([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);
const filter = z.optional(
  z.object({
    caps: z.optional(z.array(z.string())),
    arches: z.optional(z.array(z.string())),
    minKernel: z.optional(z.string()),
  }),
);
/** An integer, 0 or more. */
const count = () => z.number().check(z.int(), z.gte(0));
/** A non-empty string. */
const nonEmpty = () => z.string().check(z.minLength(1));
const arg = z.object({
  index: z.number().check(z.int(), z.gte(0), z.lte(5)),
  value: count(),
  valueTwo: z.optional(count()),
  op: z.enum([
    'SCMP_CMP_NE',
    'SCMP_CMP_LT',
    'SCMP_CMP_LE',
    'SCMP_CMP_EQ',
    'SCMP_CMP_GE',
    'SCMP_CMP_GT',
    'SCMP_CMP_MASKED_EQ',
  ]),
});
const syscall = z.object({
  name: z.optional(nonEmpty()),
  names: z.optional(z.array(nonEmpty())),
  action,
  errnoRet: z.optional(count()),
  args: z.nullish(z.array(arg)),
  includes: filter,
  excludes: filter,
});
const profile = z.object({
  defaultAction: action,
  defaultErrnoRet: z.optional(count()),
  architectures: z.nullish(z.array(nonEmpty())),
  archMap: z.nullish(z.array(z.object({ architecture: nonEmpty(), subArchitectures: z.nullish(z.array(z.string())) }))),
  flags: z.nullish(z.array(nonEmpty())),
  listenerPath: z.optional(z.string()),
  listenerMetadata: z.optional(z.string()),
  syscalls: z.nullish(z.array(syscall)),
});

const NODE_TO_SECCOMP_ARCH: Record<string, string> = {
  x64: 'SCMP_ARCH_X86_64',
  arm64: 'SCMP_ARCH_AARCH64',
  ia32: 'SCMP_ARCH_X86',
  arm: 'SCMP_ARCH_ARM',
  ppc64: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
};
/** Docker profiles name architectures in `includes.arches` the Go way. */
const NODE_TO_GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  ia32: '386',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** Parses profile text; `capabilities` decide Docker-style `includes.caps`/`excludes.caps` entries. */
export function parseSeccompProfile(text: string, file: string, capabilities: readonly string[]): LinuxSeccomp {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`seccomp profile "${file}" is not valid JSON`, { cause: err });
  }
  const r = profile.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new InvalidArgumentError(
      `invalid seccomp profile "${file}": ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  const p = r.data;
  const arch = NODE_TO_SECCOMP_ARCH[process.arch] ?? '';
  const goArch = NODE_TO_GO_ARCH[process.arch] ?? '';
  const caps = new Set(capabilities);
  const applies = (s: z.infer<typeof syscall>): boolean => {
    const inc = s.includes;
    const exc = s.excludes;
    if (inc?.caps && !inc.caps.every((c) => caps.has(c))) return false;
    if (inc?.arches && !inc.arches.includes(goArch)) return false;
    if (exc?.caps?.some((c) => caps.has(c))) return false;
    if (exc?.arches?.includes(goArch)) return false;
    return true;
  };
  const out: LinuxSeccomp = { defaultAction: p.defaultAction as SeccompAction };
  if (p.defaultErrnoRet !== undefined) out.defaultErrnoRet = p.defaultErrnoRet;
  if (p.architectures && p.architectures.length > 0) out.architectures = p.architectures;
  else if (p.archMap) {
    const own = p.archMap.find((a) => a.architecture === arch);
    if (own) out.architectures = [own.architecture, ...(own.subArchitectures ?? [])];
  }
  if (p.flags && p.flags.length > 0) out.flags = p.flags;
  if (p.listenerPath !== undefined) out.listenerPath = p.listenerPath;
  if (p.listenerMetadata !== undefined) out.listenerMetadata = p.listenerMetadata;
  const syscalls: LinuxSyscall[] = [];
  for (const s of p.syscalls ?? []) {
    if (!applies(s)) continue;
    const names = [...(s.names ?? []), ...(s.name ? [s.name] : [])];
    if (names.length === 0) throw new InvalidArgumentError(`invalid seccomp profile "${file}": a rule without names`);
    const sc: LinuxSyscall = { names, action: s.action as SeccompAction };
    if (s.errnoRet !== undefined) sc.errnoRet = s.errnoRet;
    if (s.args && s.args.length > 0) sc.args = s.args.map((a) => ({ ...a }));
    syscalls.push(sc);
  }
  if (syscalls.length > 0) out.syscalls = syscalls;
  return out;
}

/**
 * Reads a Localhost profile. InvalidArgumentError when the path is not absolute or the content is invalid;
 * FailedPreconditionError when the file is missing or not a regular file.
 */
export async function loadSeccompProfile(file: string, capabilities: readonly string[]): Promise<LinuxSeccomp> {
  if (!path.isAbsolute(file)) throw new InvalidArgumentError(`seccomp profile path "${file}" is not absolute`);
  let st: import('node:fs').Stats;
  try {
    st = await fs.stat(file);
  } catch (err) {
    throw new FailedPreconditionError(`seccomp profile "${file}" cannot be read`, { cause: err });
  }
  if (!st.isFile()) throw new FailedPreconditionError(`seccomp profile "${file}" is not a regular file`);
  if (st.size > MAX_PROFILE) throw new InvalidArgumentError(`seccomp profile "${file}" is too large`);
  return parseSeccompProfile(await fs.readFile(file, 'utf8'), file, capabilities);
}
