#include "probe.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "fd.h"

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

namespace cs {

ProbeInfo probeFd(int fd, const std::string& path) {
  ProbeInfo info;
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_DIOALIGN, &sx) != 0)
    throw SysError{errno, "statx", path};
  info.dev = (uint64_t(sx.stx_dev_major) << 32) | sx.stx_dev_minor;
  info.rdev = (uint64_t(sx.stx_rdev_major) << 32) | sx.stx_rdev_minor;
  info.ino = sx.stx_ino;
  if (S_ISBLK(sx.stx_mode)) {
    info.kind = Kind::Block;
    uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) throw SysError{errno, "ioctl(BLKGETSIZE64)", path};
    info.size = bytes;
    int lss = 0;
    if (::ioctl(fd, BLKSSZGET, &lss) != 0) throw SysError{errno, "ioctl(BLKSSZGET)", path};
    unsigned int pss = 0;
    if (::ioctl(fd, BLKPBSZGET, &pss) != 0) throw SysError{errno, "ioctl(BLKPBSZGET)", path};
    int ro = 0;
    if (::ioctl(fd, BLKROGET, &ro) != 0) throw SysError{errno, "ioctl(BLKROGET)", path};
    info.logicalSectorSize = lss > 0 ? uint32_t(lss) : 512;
    info.physicalSectorSize = pss > 0 ? pss : info.logicalSectorSize;
    info.dioOffsetAlign = info.logicalSectorSize;
    info.dioMemAlign = info.logicalSectorSize;
    info.readOnly = ro != 0;
  } else if (S_ISREG(sx.stx_mode)) {
    info.kind = Kind::File;
    info.size = sx.stx_size;
    if (sx.stx_mask & STATX_DIOALIGN) {
      info.dioOffsetAlign = sx.stx_dio_offset_align;
      info.dioMemAlign = sx.stx_dio_mem_align;
    }
    // st_blksize is the file system's preferred I/O size, the closest thing to a sector.
    info.logicalSectorSize = 512;
    info.physicalSectorSize = sx.stx_blksize ? sx.stx_blksize : 4096;
  } else {
    info.kind = Kind::Other;
  }
  return info;
}

ProbeInfo probePath(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) throw SysError{errno, "open", path};
  return probeFd(fd.get(), path);
}

namespace {

// The kernel hands device numbers out of ioctls as huge_encode_dev() = new_encode_dev().
uint32_t kernelMajor(uint64_t d) { return uint32_t((d & 0xfff00) >> 8); }
uint32_t kernelMinor(uint64_t d) { return uint32_t((d & 0xff) | ((d >> 12) & 0xfff00)); }

}  // namespace

bool loopStatus(const std::string& path, LoopStatus& out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) throw SysError{errno, "open", path};
  struct statx sx {};
  if (::statx(fd.get(), "", AT_EMPTY_PATH, STATX_TYPE, &sx) != 0) throw SysError{errno, "statx", path};
  if (!S_ISBLK(sx.stx_mode)) return false;
  struct loop_info64 li {};
  if (::ioctl(fd.get(), LOOP_GET_STATUS64, &li) != 0) {
    const int err = errno;
    if (err == ENXIO || err == ENOTTY || err == EINVAL) return false;
    throw SysError{err, "ioctl(LOOP_GET_STATUS64)", path};
  }
  out.selfMajor = sx.stx_rdev_major;
  out.selfMinor = sx.stx_rdev_minor;
  out.devMajor = kernelMajor(li.lo_device);
  out.devMinor = kernelMinor(li.lo_device);
  out.ino = li.lo_inode;
  out.rdevMajor = kernelMajor(li.lo_rdevice);
  out.rdevMinor = kernelMinor(li.lo_rdevice);
  out.offset = li.lo_offset;
  out.sizeLimit = li.lo_sizelimit;
  out.flags = li.lo_flags;
  const auto* name = reinterpret_cast<const char*>(li.lo_file_name);
  out.fileName.assign(name, ::strnlen(name, LO_NAME_SIZE));
  return true;
}

uint32_t directAlignment(const ProbeInfo& p) {
  if (p.kind == Kind::Block) return p.logicalSectorSize;
  // A file system that reports no DIO alignment (tmpfs) still accepts page-aligned I/O;
  // 4096 is the safe assumption that never produces EINVAL on the ones we know.
  return p.dioOffsetAlign ? p.dioOffsetAlign : 4096;
}

}  // namespace cs
