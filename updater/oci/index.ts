export { REF_NAME, type ResolvedImage, resolveImage } from './image.ts';
export { type OciLayout, openLayout, readVerified } from './layout.ts';
export { BLOCK, END_OF_ARCHIVE, type EntryType, fileHeader, padding, type TarHeader } from './tar.ts';
export { ChunkReader, readTarStream, type TarEntry, type TarReadOptions } from './tarstream.ts';
export { type Descriptor, type ImageSpec, type LayerEntry, tarLayer, writeLayout } from './write.ts';
