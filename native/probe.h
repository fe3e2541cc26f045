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

}  // namespace cs
