/** One benchmark of `make bench`. */
export interface Benchmark {
  /** Short name, selectable on the command line. */
  name: string;
  description: string;
  /** Runs the measurement (setting up and tearing down everything it needs) and returns result lines. */
  run(progress: (msg: string) => void): Promise<string[]>;
}
