// In-memory disk images with partition tables made by src/partition/build.ts, for the unit tests.
import { randomUUID } from 'node:crypto';
import { applyWrites, buildGpt, buildMbr, type NewGptPartition } from '../../src/partition/build.js';

export const LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
export const ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const MIB = 1 << 20;

export const guid = (): string => randomUUID().toUpperCase();

/** Three partitions: an ESP, a named one with attributes, and a last one ending near the end. */
export function gptParts(sectorSize: number, diskSize: number): NewGptPartition[] {
  const perMib = MIB / sectorSize;
  const n = diskSize / sectorSize;
  return [
    { number: 1, firstLba: perMib, lastLba: 5 * perMib - 1, typeGuid: ESP, guid: guid(), name: 'EFI system' },
    { number: 2, firstLba: 5 * perMib, lastLba: 13 * perMib - 1, typeGuid: LINUX, guid: guid(), name: 'données ✓', attributes: (1n << 60n) | (1n << 2n) },
    { number: 4, firstLba: 13 * perMib, lastLba: n - 2 * perMib - 1, typeGuid: LINUX, guid: guid(), name: 'last', attributes: (1n << 63n) | 1n },
  ];
}

export function gptImage(sectorSize: 512 | 4096, diskSize: number, opts: { hybrid?: number[]; entryCount?: number } = {}): { image: Buffer; parts: NewGptPartition[]; diskGuid: string } {
  const parts = gptParts(sectorSize, diskSize);
  const diskGuid = guid();
  const image = applyWrites(Buffer.alloc(diskSize), buildGpt({ sectorSize, diskSize, diskGuid, partitions: parts, hybrid: opts.hybrid, entryCount: opts.entryCount }));
  return { image, parts, diskGuid };
}

/** Two primaries (the first bootable), an extended partition to the end holding two logicals. */
export function mbrImage(sectorSize: 512 | 4096, diskSize: number, extendedToEnd = true): Buffer {
  const perMib = MIB / sectorSize;
  const n = diskSize / sectorSize;
  const extEnd = extendedToEnd ? n : n - 2 * perMib;
  return applyWrites(
    Buffer.alloc(diskSize),
    buildMbr({
      sectorSize,
      diskSignature: 0x1234abcd,
      primaries: [
        { slot: 0, firstLba: perMib, sectors: 4 * perMib, type: 0x0c, bootable: true },
        { slot: 1, firstLba: 5 * perMib, sectors: 4 * perMib, type: 0x83 },
        { slot: 2, firstLba: 9 * perMib, sectors: extEnd - 9 * perMib, type: 0x05 },
      ],
      logicals: [
        { ebrLba: 9 * perMib, firstLba: 10 * perMib, sectors: 4 * perMib, type: 0x83 },
        { ebrLba: 14 * perMib, firstLba: 15 * perMib, sectors: extEnd - 2 * perMib - 15 * perMib, type: 0x82 },
      ],
    }),
  );
}
