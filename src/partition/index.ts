// The partition-table library: read MBR/GPT tables, and plan the writes that fit them to another target size.

export type { Ebr, Gpt, GptHeader, Mbr, MbrEntry, MbrKind, Partition, PartitionKind, PartitionTable, Problem, ProblemCode, Reader, Scheme, SectorWrite } from './model.js';
export { probeGptSectorSize, readPartitionTable, SECTOR_SIZES, type ReadOptions } from './read.js';
export { planAdjust, type AdjustOptions, type AdjustPlan } from './adjust.js';
export { bufferReader, fdReader, overlayReader } from './io.js';
export { readTableOf, type TableSource } from './open.js';
export { summarizeTable, type TableSummary } from './summary.js';
export { crc32, gptTypeName, mbrTypeName } from './guid.js';
export { applyWrites, buildGpt, buildMbr, type NewGpt, type NewGptPartition, type NewLogical, type NewMbrPartition } from './build.js';
