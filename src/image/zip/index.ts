// ZIP images: a drive image as the one entry of a ZIP archive, written with parallel
// deflate and read back with every check (see docs/ARCHITECTURE.md, "ZIP images").
export { ZipImageWriter, DEFAULT_CHUNK_SIZE, type ZipImageWriterOptions, type ZipImageResult } from './writer.js';
export { ZipImageReader, type ZipImageInfo } from './reader.js';
export { createDeflatePool } from './pool.js';
