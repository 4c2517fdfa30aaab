/** The device registry, its secrets and the services' MQTT credentials (shared by broker, ingest, api). */
export * from './types.ts';
export * from './secrets.ts';
export * from './service-credentials.ts';
export * from './file-registry.ts';
