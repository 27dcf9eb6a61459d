/**
 * The process part of a launch (argv, environment, working directory) from an image config and the CRI
 * container spec, with kubelet semantics. Shared by docker/runtime and appc/runtime (a helper, not an
 * isolator): both image kinds arrive as the same ImageConfig.
 */
import path from 'node:path';
import type { ContainerSpec, ImageConfig } from '../../containerizer/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../util/index.js';
import type { LaunchInfo } from '../isolator.js';

/**
 * argv by kubelet's rules: CRI `command` replaces the image Entrypoint and `args` replaces Cmd; command
 * alone runs without the image Cmd; args alone run after the Entrypoint; neither: Entrypoint + Cmd.
 */
export function commandLine(spec: Pick<ContainerSpec, 'command' | 'args'>, image: ImageConfig): string[] {
  let argv: string[];
  if (spec.command.length > 0) argv = [...spec.command, ...spec.args];
  else if (spec.args.length > 0) argv = [...image.entrypoint, ...spec.args];
  else argv = [...image.entrypoint, ...image.cmd];
  if (argv.length === 0 || argv[0] === '') throw new FailedPreconditionError('no command specified');
  if (argv.some((a) => a.includes('\0'))) throw new InvalidArgumentError('command contains a NUL byte');
  return argv;
}

const ENV_KEY_RE = /^[^=\0]+$/;

/** HOSTNAME, then the image ENV, then the CRI env (later wins in the merge). */
export function environment(spec: ContainerSpec, image: ImageConfig, hostname: string): LaunchInfo['env'] {
  const env: Array<{ key: string; value: string }> = [{ key: 'HOSTNAME', value: hostname }];
  for (const e of image.env) {
    const i = e.indexOf('=');
    // An image ENV without '=' has no value to give; Docker drops it too.
    if (i <= 0) continue;
    env.push({ key: e.slice(0, i), value: e.slice(i + 1) });
  }
  for (const e of spec.env) {
    if (!ENV_KEY_RE.test(e.key) || e.value.includes('\0')) {
      throw new InvalidArgumentError(`invalid environment variable "${e.key}"`);
    }
    env.push({ key: e.key, value: e.value });
  }
  return env;
}

/** CRI working_dir, else the image WorkingDir (relative ones are taken from `/`), else `/`. */
export function workingDir(spec: ContainerSpec, image: ImageConfig): string {
  if (spec.workingDir !== '') {
    if (!path.isAbsolute(spec.workingDir) || spec.workingDir.includes('\0')) {
      throw new InvalidArgumentError(`working directory "${spec.workingDir}" is not an absolute path`);
    }
    return spec.workingDir;
  }
  if (image.workingDir !== '') return path.posix.resolve('/', image.workingDir);
  return '/';
}

/** The whole process fragment of a launch. */
export function processLaunchInfo(spec: ContainerSpec, image: ImageConfig, hostname: string): LaunchInfo {
  return {
    command: commandLine(spec, image),
    env: environment(spec, image, hostname),
    workingDir: workingDir(spec, image),
  };
}
