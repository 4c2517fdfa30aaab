/**
 * The open-data view's pieces on their own: the access matrix of api/plugins/auth.ts, the
 * device whitelist, the licence setting and the attribution header.
 */
import { describe, expect, it } from 'vitest';
import { createAuthenticator, type Access } from '../../../api/plugins/auth.ts';
import { attributionHeader, KNOWN_LICENCES, LicenceIdSchema, openDevice } from '../../../api/open-data.ts';
import { OpenDeviceRecordSchema } from '../../../contracts/index.ts';

const ADMIN = 'unit-admin-token-'.padEnd(40, 'x');

describe('access levels', () => {
  const levels: Access[] = ['public', 'open', 'read', 'admin'];

  it.each([
    [true, { public: 'ok', open: 'ok', read: 401, admin: 401 }],
    [false, { public: 'ok', open: 401, read: 401, admin: 401 }],
  ] as const)('anonymous callers with PUBLIC_READ=%s', (publicRead, expected) => {
    const auth = createAuthenticator({ publicRead, adminToken: ADMIN });
    expect(Object.fromEntries(levels.map((level) => [level, auth.check(level, undefined)]))).toEqual(expected);
  });

  it('a key reads open and read routes whatever PUBLIC_READ says; only admins administer; a bad token is 401 everywhere', () => {
    for (const publicRead of [true, false]) {
      const auth = createAuthenticator({ publicRead, adminToken: ADMIN });
      const reader = { role: 'reader' as const, id: 'k1' };
      expect(levels.map((level) => auth.check(level, reader))).toEqual(['ok', 'ok', 'ok', 403]);
      expect(levels.map((level) => auth.check(level, auth.authenticate(ADMIN)))).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(levels.map((level) => auth.check(level, null))).toEqual([401, 401, 401, 401]);
    }
  });
});

describe('openDevice', () => {
  const record = {
    id: 'air-1',
    kind: 'air',
    name: 'Air 1',
    owner: 'Acme',
    lat: 55.6,
    lon: 12.5,
    site: 'Jagtvej',
    intervalSeconds: 60,
    enabled: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-02T00:00:00.000Z',
    meta: { firmware: '1.2' },
    devEui: '0011223344556677',
    aFieldAddedLater: 'secret',
  };

  it('keeps the open fields only: a field the registry gains later stays withheld', () => {
    const open = openDevice(record);
    expect(open).toEqual({ id: 'air-1', kind: 'air', name: 'Air 1', lat: 55.6, lon: 12.5, site: 'Jagtvej', intervalSeconds: 60, enabled: true });
    expect(OpenDeviceRecordSchema.safeParse(open).success).toBe(true);
  });

  it('leaves out an absent site rather than inventing one', () => {
    const { site: _site, ...noSite } = record;
    expect(openDevice(noSite)).not.toHaveProperty('site');
  });
});

describe('DATA_LICENCE', () => {
  it('knows the common open-data licences by SPDX id', () => {
    for (const [id, url] of Object.entries(KNOWN_LICENCES)) expect(LicenceIdSchema.parse(id)).toEqual({ id, url });
  });

  it('takes another licence as "<id> <URL>" and refuses anything else with the known ids in the message', () => {
    expect(LicenceIdSchema.parse('  Etalab-2.0   https://www.etalab.gouv.fr/licence-ouverte-open-licence ')).toEqual({ id: 'Etalab-2.0', url: 'https://www.etalab.gouv.fr/licence-ouverte-open-licence' });
    for (const bad of ['proprietary', 'CC-BY-4.0 not-a-url', 'X https://a.example/ extra', 'ftp://x', '']) {
      const result = LicenceIdSchema.safeParse(bad);
      expect(result.success, bad).toBe(false);
      expect(result.error?.issues[0]?.message, bad).toContain('CC-BY-4.0');
    }
  });
});

describe('the attribution header', () => {
  it('keeps printable ASCII and percent-encodes the rest, so decodeURIComponent gives the text back', () => {
    expect(attributionHeader('StreetLab test bed')).toBe('StreetLab test bed');
    const danish = 'Københavns Kommune – 100% open';
    const header = attributionHeader(danish);
    expect(header).toMatch(/^[\x20-\x7e]+$/);
    expect(decodeURIComponent(header)).toBe(danish);
  });
});
