/**
 * `npm run devices` for devices that do not speak MQTT, on a temporary data directory: a
 * device with its source, DevEUI and field map, and the integrations commands (the secret is
 * printed once, the bridge password only read from the environment).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDevicesCli } from '../../../api/cli/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'streetlab-cli-sources-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  let out = '';
  let err = '';
  const code = await runDevicesCli([...args, '--data-dir', dir], { env, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('npm run devices: sources and integrations', () => {
  it('adds a LoRaWAN device with its source, DevEUI and field map, and refuses a taken DevEUI', async () => {
    const added = await cli(['add', 'lora-1', '--kind', 'air', '--owner', 'acme', '--lat', '55.69', '--lon', '12.55', '--source', 'ttn', '--dev-eui', '70b3d57ed005a1b2', '--field-map', '{"pm2_5":{"to":"pm25","scale":0.1}}']);
    expect(added.code, added.err).toBe(0);
    expect(added.out).toContain('source    ttn DevEUI 70B3D57ED005A1B2');
    expect(added.out).toContain('fieldMap  {"pm2_5":{"to":"pm25","scale":0.1}}');
    const clash = await cli(['add', 'lora-2', '--kind', 'air', '--owner', 'acme', '--lat', '55.69', '--lon', '12.55', '--dev-eui', '70B3D57ED005A1B2']);
    expect(clash.code).toBe(1);
    expect(clash.err).toContain('"lora-1"');
    const cleared = await cli(['update', 'lora-1', '--source', 'chirpstack']);
    expect(cleared.out).toContain('source    chirpstack');
  });

  it('creates, lists, rotates and removes integrations; the bridge password comes from the environment', async () => {
    const added = await cli(['integrations', 'add', 'tts-1', '--type', 'ttn', '--mqtt-url', 'mqtts://eu1.cloud.thethings.network:8883', '--mqtt-username', 'app@ttn'], { MQTT_BRIDGE_PASSWORD: 'NNSXS.KEY' });
    expect(added.code, added.err).toBe(0);
    const secret = /webhook secret \(shown only now\): (\S+)/.exec(added.out)![1]!;
    expect(added.out).toContain(`X-StreetLab-Secret: ${secret}`);
    expect(added.out).toContain('/api/v1/uplinks/ttn/tts-1');
    expect(readFileSync(join(dir, 'integrations.json'), 'utf8')).toContain('NNSXS.KEY');
    const list = await cli(['integrations', 'list']);
    expect(list.out).toContain('tts-1');
    expect(list.out).toContain('bridge mqtts://eu1.cloud.thethings.network:8883');
    expect(list.out).not.toContain('NNSXS.KEY');
    const rotated = await cli(['integrations', 'rotate', 'tts-1']);
    expect(rotated.out).not.toContain(secret);
    expect((await cli(['integrations', 'add', 'x', '--type', 'lorawan'])).code).toBe(2);
    expect((await cli(['integrations', 'remove', 'tts-1'])).out).toBe('removed tts-1\n');
    expect((await cli(['integrations', 'list'])).out).toBe('no integrations\n');
  });
});
