#!/usr/bin/env node
/**
 * Makes a fresh clone runnable: installs what is missing, saying what it does, before
 * `npm run lab`, `npm test` or `npm run bench`. Plain Node with no dependencies, because it
 * runs before `npm ci`.
 *
 *   node scripts/bootstrap.mjs lab|test|bench
 *
 * - npm packages: `npm ci` when node_modules is missing or older than package-lock.json.
 * - Debian packages (as root on Debian only; otherwise it says exactly what to install):
 *     influxdb            lab (unless INFLUX_URL is set), test, bench
 *     chromium            test (dashboard browser tests)
 *     redis-server        test (cluster mode: broker nodes sharing Redis)
 *     curl                test (the README's and the lab's printed commands, run as printed)
 *     mosquitto-clients   test (security and lab tests publish with mosquitto_pub), bench
 *     mosquitto           test (the benchmark's smoke test), bench (the peer broker)
 * - the dashboard: built with Vite when dist/dashboard is missing or older than its sources.
 * Set STREETLAB_SKIP_BOOTSTRAP=1 to skip all of it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'lab';
const say = (message) => process.stderr.write(`[streetlab] ${message}\n`);

if (process.env.STREETLAB_SKIP_BOOTSTRAP === '1') process.exit(0);
if (!['lab', 'test', 'bench'].includes(mode)) {
  say(`unknown mode "${mode}": use lab, test or bench`);
  process.exit(2);
}

checkNode();
ensureNodeModules();
ensureDebianPackages(requiredDebianPackages());
if (mode === 'lab' || mode === 'test') ensureDashboardBuilt();

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    say(`Node ${process.versions.node} is too old: StreetLab needs Node 20.19 or newer.`);
    process.exit(1);
  }
}

function run(command, args, options = {}) {
  say(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    say(`"${command} ${args.join(' ')}" failed (exit ${result.status ?? result.signal}).`);
    process.exit(1);
  }
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && mtime(marker) >= mtime(lock)) return;
  say('installing npm packages (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

function requiredDebianPackages() {
  const packages = [];
  const needsInflux = mode !== 'lab' || !process.env.INFLUX_URL;
  if (needsInflux) packages.push({ name: 'influxdb', binary: 'influxd', why: 'the local InfluxDB' });
  if (mode === 'test') {
    packages.push({ name: 'chromium', binary: 'chromium', why: 'the dashboard browser tests' });
    packages.push({ name: 'redis-server', binary: 'redis-server', why: 'the cluster-mode tests (broker nodes sharing Redis)' });
    packages.push({ name: 'curl', binary: 'curl', why: "the README's and the lab's printed commands, run as printed" });
  }
  if (mode === 'test' || mode === 'bench') {
    packages.push({ name: 'mosquitto', binary: 'mosquitto', why: 'the peer broker of the benchmark (and its smoke test)' });
    packages.push({ name: 'mosquitto-clients', binary: 'mosquitto_pub', why: 'publishing by hand in the security and lab tests' });
  }
  return packages;
}

function hasBinary(binary) {
  const paths = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/usr/local/bin']);
  return paths.some((dir) => dir && existsSync(join(dir, binary)));
}

function ensureDebianPackages(packages) {
  const missing = packages.filter((p) => !hasBinary(p.binary));
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const isDebian = existsSync('/etc/debian_version') && hasBinary('apt-get');
  if (!isRoot || !isDebian) {
    say(`missing: ${missing.map((p) => `${p.binary} (${p.why})`).join(', ')}.`);
    say(
      isDebian
        ? `Install with: sudo apt-get install -y ${names.join(' ')}`
        : `Install ${names.join(', ')} with your system's package manager.`,
    );
    if (missing.some((p) => p.name === 'influxdb') && mode === 'lab') {
      say('Or point INFLUX_URL (and INFLUX_TOKEN or INFLUX_USERNAME/INFLUX_PASSWORD) at an InfluxDB you already run.');
    }
    process.exit(1);
  }
  say(`installing Debian packages: ${names.join(' ')}…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-q'], { env });
  // --no-install-recommends keeps chromium's install small; policy-rc.d stops Debian from
  // starting the packaged influxdb/mosquitto services on their default ports.
  const install = `apt-get install -y -q --no-install-recommends ${names.join(' ')}`;
  const script = [
    'created=0',
    `if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created=1; fi`,
    `${install}; status=$?`,
    'if [ "$created" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi',
    'exit $status',
  ].join('\n');
  run('sh', ['-c', script], { env });
}

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : mtime(path));
  }
  return newest;
}

function ensureDashboardBuilt() {
  const sources = join(root, 'dashboard');
  if (!existsSync(join(sources, 'index.html'))) return;
  const built = join(root, 'dist', 'dashboard', 'index.html');
  const contracts = join(root, 'contracts');
  if (existsSync(built) && mtime(built) >= Math.max(newestSource(sources), newestSource(contracts))) return;
  say('building the dashboard (vite build)…');
  run(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'dashboard/vite.config.ts', '--logLevel', 'warn']);
}
