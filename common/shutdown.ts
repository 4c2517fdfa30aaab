import type { Logger } from './logger.ts';

/**
 * Runs `close` once on SIGTERM or SIGINT and exits 0 when it finishes, or 1 if it fails or
 * takes longer than `graceMs` (SHUTDOWN_GRACE_MS): a stuck dependency must not keep the
 * process alive forever.
 */
export function onShutdown(log: Logger, close: () => Promise<void>, graceMs = Number(process.env.SHUTDOWN_GRACE_MS ?? 10_000)): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.info({ signal }, 'already shutting down');
      return;
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ graceMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // `on`, not `once`: Ctrl-C reaches the process twice — from the terminal's process group and
  // forwarded by npm/tsx — and a second signal without a listener would kill it mid-shutdown.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
