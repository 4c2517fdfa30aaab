/** `npm run simulate`: a fleet of simulated street devices as its own process. */
import { readFileSync } from 'node:fs';
import { AppError, isAppError } from '../common/errors.ts';
import { exitOnConfigError } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { onShutdown } from '../common/shutdown.ts';
import { readingKinds, setKindDefinitions } from '../contracts/kinds-table.ts';
import { HELP_TEXT, SecretsFileSchema, fleetOptionsOf, parseSimulatorCli, type SimulatorConfig } from './config.ts';
import { createFleet, type CredentialsProvider } from './fleet.ts';
import { loadKindDefinitions, requireKnownKinds } from './kinds.ts';
import { registerThroughApi } from './register.ts';
import { formatStatusLine, formatSummary, type StatsSample } from './status.ts';
import { createUplinkFleet, type UplinkFleet } from './uplinks.ts';

function credentialsProvider(config: SimulatorConfig, registered: Map<string, string>): CredentialsProvider | undefined {
  let secrets: Record<string, string> | undefined;
  if (config.secretsFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(config.secretsFile, 'utf8'));
    } catch (error) {
      throw new AppError('CONFIG_INVALID', `invalid options:\n  --secrets-file: cannot read ${config.secretsFile} as JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    const result = SecretsFileSchema.safeParse(parsed);
    if (!result.success) throw new AppError('CONFIG_INVALID', `invalid options:\n  --secrets-file: expected {"deviceId": "secret", …} in ${config.secretsFile}`);
    secrets = result.data;
  }
  if (!secrets && config.username === undefined && config.apiUrl === undefined) return undefined;
  return (clientId) => {
    const issued = registered.get(clientId);
    if (issued !== undefined) return { username: clientId, password: issued };
    // Object.hasOwn: a client id like `__proto__` or `toString` must not find an inherited
    // property of the object in place of a secret.
    if (secrets && Object.hasOwn(secrets, clientId)) return { username: clientId, password: secrets[clientId]! };
    if (config.username !== undefined) return { username: config.username, password: config.password ?? '' };
    return undefined;
  };
}

try {
  const cli = parseSimulatorCli(process.argv.slice(2), process.env);
  if (cli.help) {
    process.stdout.write(HELP_TEXT);
    process.exit(0);
  }
  const config = cli.config;
  const log = createLogger({ level: config.logLevel, name: 'simulators' });
  // Filled before the fleet connects when the devices register through the device API.
  const registered = new Map<string, string>();
  // Kinds added at run time: their definitions before the fleet plans its devices.
  const customKinds = Object.keys(config.kinds);
  if (customKinds.length > 0) {
    setKindDefinitions(await loadKindDefinitions({ apiUrl: config.apiUrl, token: config.adminToken, files: config.kindFiles }));
    requireKnownKinds(customKinds, readingKinds());
  }
  const credentials = credentialsProvider(config, registered);
  const fleet = createFleet({ ...fleetOptionsOf(config), ...(credentials ? { credentials } : {}), logger: log });
  if (config.apiUrl !== undefined && config.adminToken !== undefined) {
    if (config.multiplex > 1) throw new AppError('CONFIG_INVALID', 'invalid options:\n  --multiplex: registered devices each need their own connection (use --multiplex 1 with --api-url)');
    process.stderr.write(`registering ${fleet.devices.length} devices at ${config.apiUrl}…\n`);
    const secrets = await registerThroughApi({
      apiUrl: config.apiUrl,
      adminToken: config.adminToken,
      devices: fleet.devices,
      intervalSeconds: Math.max(1, Math.ceil(config.intervalMs / 1000)),
      owner: config.owner,
    });
    for (const [id, secret] of secrets) registered.set(id, secret);
  }
  // LoRaWAN devices behind The Things Stack and ChirpStack: webhook uplinks to the API (simulators/uplinks.ts).
  let uplinks: UplinkFleet | undefined;
  if (config.ttn + config.chirpstack > 0 && config.apiUrl !== undefined && config.adminToken !== undefined) {
    uplinks = createUplinkFleet({ apiUrl: config.apiUrl, adminToken: config.adminToken, ttn: config.ttn, chirpstack: config.chirpstack, intervalMs: config.intervalMs, seed: config.seed, owner: config.owner, logger: log });
    process.stderr.write(`registering ${uplinks.devices.length} network-server devices and their integrations at ${config.apiUrl}…\n`);
  }

  // The status line: rewritten in place on a terminal, a plain line every few seconds otherwise.
  const tty = process.stderr.isTTY === true;
  let previous: StatsSample | undefined;
  const report = () => {
    const current = { atMs: Date.now(), stats: fleet.stats() };
    const line = formatStatusLine(previous, current);
    previous = current;
    process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  };
  const statusTimer = setInterval(report, tty ? 1_000 : config.statusIntervalS * 1_000);
  statusTimer.unref();

  let finishing: Promise<void> | undefined;
  const finish = () =>
    (finishing ??= (async () => {
      clearInterval(statusTimer);
      await fleet.stop();
      await uplinks?.stop();
      process.stderr.write(`${tty ? '\r\x1b[2K' : ''}${formatSummary(fleet.stats())}\n`);
      if (uplinks) {
        const sent = uplinks.stats();
        process.stderr.write(`uplinks: ${sent.sent} sent, ${sent.accepted} stored, ${sent.rejected} refused, ${sent.failed} failed\n`);
      }
    })());
  onShutdown(log, finish);

  await fleet.start();
  await uplinks?.start();
  const started = fleet.stats();
  if (fleet.devices.length > 0 && started.connectionsUp === 0) {
    process.stderr.write(`no device could connect to ${config.mqttUrl} yet (${started.connectErrors} connection errors); devices keep retrying — is the broker running?\n`);
  }
  report();
  if (config.durationS > 0) {
    setTimeout(() => {
      finish().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'stopping the fleet failed');
          process.exit(1);
        },
      );
    }, config.durationS * 1_000);
  }
} catch (error) {
  if (isAppError(error, 'REGISTRATION_FAILED')) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  if (isAppError(error, 'CONFIG_INVALID')) {
    // Options, not environment files, are what a simulator user got wrong.
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  exitOnConfigError(error);
}
