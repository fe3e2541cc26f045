// What the engine can learn about a path by itself: kind, size, sector sizes and the
// O_DIRECT alignment. Identity (model, serial) comes from sysfs in TypeScript.
#pragma once

#include <cstdint>
#include <string>

namespace cs {

enum class Kind { Block, File, Other };

struct ProbeInfo {
  Kind kind = Kind::Other;
  uint64_t size = 0;
  uint32_t logicalSectorSize = 512;
  uint32_t physicalSectorSize = 512;
  // Offset/length alignment an O_DIRECT transfer needs; 0 when the file system did not say.
  uint32_t dioOffsetAlign = 0;
  uint32_t dioMemAlign = 0;
  bool readOnly = false;
  uint64_t dev = 0;   // st_dev: the device holding a file
  uint64_t rdev = 0;  // st_rdev: the device a block special file is
  uint64_t ino = 0;
};

// Probes an open descriptor; throws SysError.
ProbeInfo probeFd(int fd, const std::string& path);
// Opens read-only (no O_EXCL), probes and closes; throws SysError.
ProbeInfo probePath(const std::string& path);

// The alignment offsets and lengths must honour for O_DIRECT on this endpoint.
uint32_t directAlignment(const ProbeInfo& p);

// What a loop device is a view of (LOOP_GET_STATUS64): the backing inode's st_dev/st_ino,
// its st_rdev when the backing is itself a block device (0 for a regular file), and the
// byte window [offset, offset + sizeLimit) of it (sizeLimit 0: to the end).
struct LoopStatus {
  uint32_t selfMajor = 0, selfMinor = 0;  // the device we opened (statx of the fd)
  uint32_t devMajor = 0, devMinor = 0;    // lo_device
  uint64_t ino = 0;                       // lo_inode
  uint32_t rdevMajor = 0, rdevMinor = 0;  // lo_rdevice
  uint64_t offset = 0;
  uint64_t sizeLimit = 0;
  uint32_t flags = 0;
  std::string fileName;  // lo_file_name: for messages only, may be stale or cut at 63 bytes
};

// Opens read-only (no O_EXCL), asks LOOP_GET_STATUS64 and closes. Returns false when the
// path is no bound loop: not a block device, a detached loop (ENXIO), another block device
// (ENOTTY/EINVAL); throws SysError (errno, call, path) for every other failure.
bool loopStatus(const std::string& path, LoopStatus& out);

}  // namespace cs
