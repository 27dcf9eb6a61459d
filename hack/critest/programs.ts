/**
 * Compiles the stand-ins' C programs (hack/critest/programs/*.c) into static binaries with the system gcc, so
 * they run on the busybox-static base that has no C library.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FailedPreconditionError } from '../../pkg/util/index.js';
import type { StandInPrograms } from './catalogue.js';

const execFileP = promisify(execFile);

/** hack/critest/programs in the source tree, from dist/hack/critest. */
export const PROGRAMS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../hack/critest/programs',
);

/** ucri's own pause (native/pause.c): the stand-in of the pause image. */
const PAUSE_SRC = path.resolve(PROGRAMS_DIR, '../../../native/pause.c');

async function compile(name: string, outDir: string, src = path.join(PROGRAMS_DIR, `${name}.c`)): Promise<Buffer> {
  const out = path.join(outDir, name);
  try {
    await execFileP(process.env.CC ?? 'gcc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, src]);
  } catch (err) {
    throw new FailedPreconditionError(`cannot compile "${src}" statically (gcc and libc6-dev are needed)`, {
      cause: err,
    });
  }
  return fs.readFile(out);
}

/** Compiles every program into `outDir` and returns their bytes. */
export async function buildPrograms(outDir: string): Promise<StandInPrograms> {
  await fs.mkdir(outDir, { recursive: true });
  return {
    nginx: await compile('nginx', outDir),
    nonewprivs: await compile('nonewprivs', outDir),
    pause: await compile('pause', outDir, PAUSE_SRC),
  };
}
