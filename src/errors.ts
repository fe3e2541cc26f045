// Every error a user can cause has a stable code, a one-line message that says what to do,
// and an exit status. The CLI prints `clonestation: <message> [<code>]` and exits with it.

/** Exit statuses, documented in the README. 0 is success. */
export const ExitStatus = {
  ok: 0,
  /** An I/O or environment problem: a read or write failed, a drive vanished, no permission. */
  io: 1,
  /** Bad input: an unknown option, a malformed size, a path that does not exist. */
  usage: 2,
  /** A bug in clonestation. */
  internal: 3,
  /** Refused for safety: nothing was written. */
  refused: 4,
  /** The copy finished but reading it back found different bytes. */
  verify: 5,
  /** Interrupted by the user (SIGINT/SIGTERM); the target is incomplete. */
  cancelled: 130,
} as const;
export type ExitStatusValue = (typeof ExitStatus)[keyof typeof ExitStatus];

export class CloneStationError extends Error {
  readonly code: string;
  readonly exitStatus: ExitStatusValue;
  /** Extra facts for --json consumers (offsets, paths, errno). */
  readonly details: Record<string, unknown>;
  constructor(code: string, exitStatus: ExitStatusValue, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.exitStatus = exitStatus;
    this.details = details;
  }
}

export class UsageError extends CloneStationError {
  constructor(message: string, code = 'USAGE', details: Record<string, unknown> = {}) {
    super(code, ExitStatus.usage, message, details);
  }
}

export class RefusedError extends CloneStationError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, ExitStatus.refused, message, details);
  }
}

export class IoError extends CloneStationError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, ExitStatus.io, message, details);
  }
}

export class VerifyMismatchError extends CloneStationError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('VERIFY_MISMATCH', ExitStatus.verify, message, details);
  }
}

export class CancelledError extends CloneStationError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CANCELLED', ExitStatus.cancelled, message, details);
  }
}

export class InternalError extends CloneStationError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INTERNAL', ExitStatus.internal, message, details);
  }
}

/** The shape of errors thrown by node and by the native engine for a failed system call. */
export interface SystemCallError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

export function isSystemCallError(e: unknown): e is SystemCallError {
  return e instanceof Error && typeof (e as SystemCallError).code === 'string';
}

/**
 * Maps a failed open of a source or target to a typed error that tells the user what to do.
 */
export function openError(e: unknown, role: 'source' | 'target', path: string): CloneStationError {
  if (!isSystemCallError(e)) return new InternalError(`opening ${role} ${path}: ${String(e)}`);
  const details = { path, role, errno: e.code, syscall: e.syscall };
  switch (e.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new UsageError(`${role} ${path} does not exist: check the path (clonestation list shows drives)`, 'NOT_FOUND', details);
    case 'EACCES':
    case 'EPERM':
      return new IoError('PERMISSION_DENIED', `no permission to open ${role} ${path}: run as root or add yourself to the disk group`, details);
    case 'EBUSY':
      return new RefusedError('TARGET_BUSY', `${role} ${path} is in use (mounted, or claimed by another program): unmount it or stop that program first`, details);
    case 'EROFS':
      return new IoError('READ_ONLY', `${role} ${path} is read-only: clear the write protection (blockdev --setrw) or choose another ${role}`, details);
    case 'ENXIO':
    case 'ENODEV':
    case 'ENOMEDIUM':
      return new IoError('DRIVE_GONE', `${role} ${path} has no medium or has gone away: reconnect it and retry`, details);
    case 'EINVAL':
      return new UsageError(`${role} ${path}: ${e.message}`, 'BAD_TARGET', details);
    default:
      return new IoError('OPEN_FAILED', `cannot open ${role} ${path}: ${e.message}`, details);
  }
}

/**
 * Codes of ImageError, with their exit statuses. Writing: OUTPUT_FULL (the file system of
 * the image is full) and IMAGE_WRITE_FAILED (any other failed write, fsync or create).
 * Reading: the image the user pointed at is missing, incomplete or damaged; these are bad
 * input (2) like BAD_MAP, but a restore that already started has an incomplete target.
 */
export const ImageErrorStatus = {
  OUTPUT_FULL: ExitStatus.io,
  IMAGE_WRITE_FAILED: ExitStatus.io,
  IMAGE_READ_FAILED: ExitStatus.io,
  IMAGE_NOT_FOUND: ExitStatus.usage,
  IMAGE_PART_MISSING: ExitStatus.usage,
  IMAGE_TRUNCATED: ExitStatus.usage,
  IMAGE_CORRUPT: ExitStatus.usage,
  IMAGE_CRC_MISMATCH: ExitStatus.usage,
  /** the manifest says complete:false (an interrupted backup): restore/verify refuse it without --force */
  IMAGE_INCOMPLETE: ExitStatus.usage,
} as const;
export type ImageErrorCode = keyof typeof ImageErrorStatus;

/** A backup image (raw, split or zip) could not be written or read back as it should. */
export class ImageError extends CloneStationError {
  declare readonly code: ImageErrorCode;
  constructor(code: ImageErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, ImageErrorStatus[code], message, details);
  }
}

/**
 * Codes of PartitionTableError (src/partition/), all bad input (exit 2): the table on a
 * drive or in an image cannot be read as one table, or cannot be changed as asked. A target
 * too small for the partitions is a RefusedError (TARGET_TOO_SMALL, exit 4) like any other.
 */
export const PartitionErrorStatus = {
  /** both GPT headers (or an EBR chain, or a protective MBR's GPT) are damaged or out of bounds */
  PARTITION_TABLE_CORRUPT: ExitStatus.usage,
  /** --grow-last asked for a drive or image with no partition table */
  NO_PARTITION_TABLE: ExitStatus.usage,
  /** the last partition cannot grow: another partition or an extended partition record lies after it */
  PARTITION_NOT_GROWABLE: ExitStatus.usage,
} as const;
export type PartitionErrorCode = keyof typeof PartitionErrorStatus;

/** A partition table that cannot be read, or cannot be adjusted as asked. */
export class PartitionTableError extends CloneStationError {
  declare readonly code: PartitionErrorCode;
  constructor(code: PartitionErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, PartitionErrorStatus[code], message, details);
  }
}

// Used-block maps (src/usedmap/): a file system whose used blocks cannot be trusted.

/**
 * The file system needs a check before its used blocks can be trusted (not cleanly
 * unmounted, errors recorded, a journal to replay): refused, nothing written.
 */
export class FsDirtyError extends RefusedError {
  constructor(what: string, fix: string, details: Record<string, unknown> = {}) {
    super('FS_DIRTY', `${what}: ${fix}, or copy it whole (without --used-only)`, details);
  }
}

/**
 * The file system's structures contradict themselves or the size of what holds them (a
 * corrupt superblock, counts that disagree with the bitmaps): refused, nothing written.
 */
export class FsInconsistentError extends RefusedError {
  constructor(what: string, fix: string, details: Record<string, unknown> = {}) {
    super('FS_INCONSISTENT', `${what}: ${fix}, or copy it whole (without --used-only)`, details);
  }
}
