/**
 * What every stage is given: the profile, the shared InfluxDB, the security setup, and a
 * scope that owns every process and directory the stage creates.
 */
import type { Profile } from './profiles.ts';
import type { ForkOptions, Scope, WorkerApi, WorkerHandle } from './runtime.ts';
import type { SecuritySetup } from './sut/security.ts';

export interface BenchContext {
  profile: Profile;
  /** The InfluxDB every pipeline stage writes to (started once per bench). */
  influx: { url: string; pid: number | undefined };
  security: SecuritySetup;
  /** Cleanups of the running stage: processes, brokers, databases, temp dirs. */
  scope: Scope;
  /** Forks a bench child (tracked by the reaper, stopped with the stage). */
  fork<Api extends WorkerApi, Info = unknown>(script: URL, options: ForkOptions): Promise<WorkerHandle<Api, Info>>;
  /** Registers a pid / directory created outside `fork` (influxd, mosquitto) with the reaper. */
  track(pid: number, alive: boolean): void;
  trackDir(dir: string, present: boolean): void;
  /** Runs `fn` with a scope of its own: everything started in it is stopped when it returns. */
  scoped<T>(fn: (ctx: BenchContext) => Promise<T>): Promise<T>;
  /** A progress line on stderr. */
  log(message: string): void;
}
