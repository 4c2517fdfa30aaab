/** Kept for existing imports: the crash-safe write lives in common/store/document-store.ts. */
export { readFileIfExists, writeFileAtomic, type AtomicWriteOptions, type WrittenFileIdentity } from '../store/document-store.ts';
