/**
 * The open-data view: what an anonymous caller (PUBLIC_READ) is answered, and under which
 * licence. Routes declare `access: 'open'` (api/plugins/auth.ts) and shape their answers with
 * the helpers here; api/plugins/open-data.ts adds the licence to every such answer.
 *
 * Why owners are withheld: a device's owner is the company testing it in the street, and
 * which company tests what, where, is their business until they publish it. Readings, sites
 * and locations are the city's open data.
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OPEN_DEVICE_FIELDS, type Licence, type OpenDeviceRecord } from '../contracts/index.ts';
import { AppError } from '../common/errors.ts';

/** Licences known by their SPDX id alone; any other is given as `<id> <https URL>`. */
export const KNOWN_LICENCES: Readonly<Record<string, string>> = {
  'CC-BY-4.0': 'https://creativecommons.org/licenses/by/4.0/',
  'CC-BY-SA-4.0': 'https://creativecommons.org/licenses/by-sa/4.0/',
  'CC0-1.0': 'https://creativecommons.org/publicdomain/zero/1.0/',
  'ODbL-1.0': 'https://opendatacommons.org/licenses/odbl/1-0/',
  'ODC-By-1.0': 'https://opendatacommons.org/licenses/by/1-0/',
  'PDDL-1.0': 'https://opendatacommons.org/licenses/pddl/1-0/',
};

export const DEFAULT_LICENCE: Licence = { id: 'CC-BY-4.0', url: KNOWN_LICENCES['CC-BY-4.0']!, attribution: 'StreetLab test bed' };

const LICENCE_ID = /^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$/;

/** `DATA_LICENCE`: a known SPDX id, or `<id> <https URL>` for another licence. */
export const LicenceIdSchema = z
  .string()
  .trim()
  .transform((value, ctx): { id: string; url: string } => {
    const known = KNOWN_LICENCES[value];
    if (known) return { id: value, url: known };
    const [id, url, ...rest] = value.split(/\s+/);
    if (id && url && rest.length === 0 && LICENCE_ID.test(id) && /^https?:\/\/[^\s<>"]+$/.test(url) && URL.canParse(url)) return { id, url };
    ctx.addIssue({
      code: 'custom',
      message: `one of ${Object.keys(KNOWN_LICENCES).join(', ')}, or "<licence id> <URL of its text>" for another licence`,
    });
    return z.NEVER;
  });

export const OpenDataConfigShape = {
  /** The licence open data is published under (default CC-BY-4.0). */
  DATA_LICENCE: LicenceIdSchema.prefault(DEFAULT_LICENCE.id),
  /** Who to credit, carried by every open-data answer. */
  DATA_ATTRIBUTION: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[^\u0000-\u001f\u007f]+$/, 'printable text on one line')
    .default(DEFAULT_LICENCE.attribution),
};

export function licenceFromConfig(config: { DATA_LICENCE: { id: string; url: string }; DATA_ATTRIBUTION: string }): Licence {
  return { ...config.DATA_LICENCE, attribution: config.DATA_ATTRIBUTION };
}

/**
 * Is this request answered with the open-data view? True for a caller without credentials
 * (who reaches an `open` route only with PUBLIC_READ on); a reader or admin key sees everything.
 */
export function isOpenDataView(request: Pick<FastifyRequest, 'principal'>): boolean {
  return !request.principal;
}

/** A device record cut to its open fields (a whitelist: a new registry field stays withheld). */
export function openDevice(record: Record<string, unknown>): OpenDeviceRecord {
  const open: Record<string, unknown> = {};
  for (const field of OPEN_DEVICE_FIELDS) if (record[field] !== undefined) open[field] = record[field];
  return open as OpenDeviceRecord;
}

/**
 * Refuses a parameter that would reveal owners (a filter or a grouping by owner) to an
 * anonymous caller: 400 naming it, rather than an answer that quietly ignores it.
 */
export function refuseOwnerParameter(request: Pick<FastifyRequest, 'principal'>, parameter: string, given: boolean, instead = `leave ${parameter} out`): void {
  if (!given || !isOpenDataView(request)) return;
  throw new AppError('BAD_REQUEST', `${parameter}: device owners are not open data; ask with an API key (Authorization: Bearer <key>) or ${instead}`);
}

/**
 * The `X-Data-Attribution` header value: HTTP headers carry Latin-1 at most, so characters
 * outside printable ASCII are percent-encoded (UTF-8), as in a URL; `decodeURIComponent`
 * gives the text back.
 */
export function attributionHeader(attribution: string): string {
  return attribution.replace(/[^\x20-\x7e]|%/gu, (c) => encodeURIComponent(c));
}
