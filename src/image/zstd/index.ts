// Seekable zstd images: the writer, the reader and the format (see format.ts).
export { ZstdImageWriter, DEFAULT_FRAME_SIZE, DEFAULT_ZSTD_LEVEL, type ZstdImageResult } from './writer.js';
export { ZstdImageReader, type ZstdImageInfo } from './reader.js';
