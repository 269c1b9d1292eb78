export { BlobStore, type BlobWriter, hexOf } from './store.ts';
