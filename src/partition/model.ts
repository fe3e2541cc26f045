// The typed model of a partition table (MBR, GPT) as read from a drive or an image.

/** Reads `length` bytes at byte `offset` of a drive, an image or any byte source. */
export type Reader = (offset: number, length: number) => Promise<Buffer>;

export type Scheme = 'none' | 'mbr' | 'gpt';

/** protective: one 0xEE entry; hybrid: 0xEE plus MBR copies of GPT partitions; plain: a DOS table. */
export type MbrKind = 'protective' | 'hybrid' | 'plain';

/** One 16-byte MBR or EBR entry, with LBAs made absolute. */
export interface MbrEntry {
  /** slot 0..3 in its sector */
  slot: number;
  /** 0x80 bootable, 0x00 not; anything else is invalid */
  status: number;
  type: number;
  firstLba: number;
  sectors: number;
}

/** An extended boot record of the logical-partition chain. */
export interface Ebr {
  /** the LBA the EBR sits at */
  lba: number;
  /** the logical partition it describes (LBA absolute), or null for an empty EBR */
  logical: MbrEntry | null;
  /** the next EBR's LBA, or null at the end of the chain */
  next: number | null;
  /** the EBR's sector as read */
  raw: Buffer;
}

export interface Mbr {
  kind: MbrKind;
  /** the 32-bit disk signature at byte 440 */
  diskSignature: number;
  /** the non-empty primary entries */
  entries: MbrEntry[];
  /** the EBR chain of the (first) extended partition, in chain order */
  ebrs: Ebr[];
  /** sector 0 as read (512 bytes of the MBR and the rest of the sector) */
  raw: Buffer;
}

export interface GptHeader {
  revision: number;
  headerSize: number;
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
  /** the header's sector as read */
  raw: Buffer;
}

export interface Gpt {
  /** the primary header at LBA 1 if it is valid (signature, CRC, bounds, its array's CRC) */
  primary: GptHeader | null;
  /** the backup header if it is valid */
  backup: GptHeader | null;
  /** which copy the partitions were read from */
  usedFrom: 'primary' | 'backup';
  /** the partition entry array of that copy, entryCount * entrySize bytes */
  entries: Buffer;
}

export type PartitionKind = 'gpt' | 'primary' | 'extended' | 'logical';

export interface Partition {
  /** as Linux numbers them: GPT entry index + 1; MBR slot + 1 for primaries, 5.. for logicals */
  number: number;
  kind: PartitionKind;
  firstLba: number;
  lastLba: number;
  /** byte offset of the first sector */
  start: number;
  /** length in bytes */
  size: number;
  /** GPT: the type GUID (upper case) */
  typeGuid?: string;
  /** MBR: the type byte */
  mbrType?: number;
  /** a readable name of the type for common ones, else the GUID or hex byte */
  typeName: string;
  /** GPT: the partition's unique GUID */
  guid?: string;
  /** GPT: the name (UTF-16LE, up to 36 characters) */
  name?: string;
  /** GPT: the 64 attribute bits as 16 hex digits, as `sgdisk -i` prints them */
  attributes?: string;
  /** MBR: the status byte is 0x80 */
  bootable?: boolean;
}

/** What a checker (sgdisk -v, sfdisk --verify) would flag. */
export type ProblemCode =
  | 'PRIMARY_GPT_CORRUPT'
  | 'BACKUP_GPT_CORRUPT'
  | 'BACKUP_GPT_NOT_AT_END'
  | 'GPT_HEADERS_DISAGREE'
  | 'GPT_LARGER_THAN_DISK'
  | 'PARTITION_OVERLAP'
  | 'PARTITION_BEYOND_DISK'
  | 'PARTITION_OUTSIDE_USABLE'
  | 'PARTITION_BAD_RANGE'
  | 'LOGICAL_OUTSIDE_EXTENDED';

export interface Problem {
  code: ProblemCode;
  message: string;
  /** the partition numbers concerned */
  partitions?: number[];
}

export interface PartitionTable {
  scheme: Scheme;
  sectorSize: number;
  /** bytes of the drive or image the table was read from */
  diskSize: number;
  /** whole sectors of it */
  diskSectors: number;
  /** GPT: the disk GUID */
  diskGuid?: string;
  /** MBR (also protective): the disk signature as 8 hex digits */
  diskSignature?: string;
  /** GPT: first and last usable LBA of the header used */
  firstUsableLba?: number;
  lastUsableLba?: number;
  mbr: Mbr | null;
  gpt: Gpt | null;
  /** in number order; for MBR the extended container is listed too (as sfdisk does) */
  partitions: Partition[];
  /** what the reader had to work around (a damaged primary GPT read from its backup, ...) */
  warnings: string[];
  /** what a checker would flag on this table */
  problems: Problem[];
}

/** A write that an adjustment needs: whole sectors at a sector-aligned byte offset. */
export interface SectorWrite {
  offset: number;
  bytes: Buffer;
  /** what the sectors hold, for the report ("backup GPT header", ...) */
  what: string;
}
