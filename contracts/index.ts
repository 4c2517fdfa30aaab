/** The shared contracts: every wire format of StreetLab, typed from zod schemas. */
export * from './readings.ts';
export * from './kinds.ts';
export * from './kinds-table.ts';
export * from './topics.ts';
export * from './rejections.ts';
export * from './live.ts';
export * from './api.ts';
export * from './aqi.ts';
export * from './devices.ts';
export * from './device-sources.ts';
export * from './uplinks.ts';
export * from './labs.ts';
export * from './alerts.ts';
export * from './jobs.ts';
export * from './trials.ts';
export * from './waste.ts';
export * from './open-data.ts';
