/** Hourly and daily rollups with their retention: see job.ts for the design. */
export * from './compute.ts';
export * from './retention.ts';
export * from './job.ts';
