export * from './catalogue.ts';
export * from './files.ts';
