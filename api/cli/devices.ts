/** `npm run devices -- …`: see run.ts and `npm run devices -- --help`. */
import { runDevicesCli } from './run.ts';

const status = await runDevicesCli(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
process.exitCode = status;
