export { type ResolvedImage, resolveImage } from './image.ts';
export { type OciLayout, openLayout } from './layout.ts';
export { END_OF_ARCHIVE, fileHeader, padding, type TarHeader } from './tar.ts';
export { readTarStream, type TarEntry, type TarReadOptions } from './tarstream.ts';
export { type Descriptor, type ImageSpec, type LayerEntry, writeLayout } from './write.ts';
