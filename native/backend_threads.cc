// The portable backend: where io_uring is unavailable (old kernels, seccomp, sysctl
// kernel.io_uring_disabled), `depth` threads each carry whole chunks with pread/pwrite, so
// the drive still sees `depth` requests at once.
#include <algorithm>
#include <thread>
#include <vector>

#include "job.h"

namespace cs {

namespace {

void carry(Job& job, size_t slot) {
  const size_t per = job.buffersPerSlot();
  std::vector<unsigned char*> bufs(per);
  for (size_t i = 0; i < per; ++i) bufs[i] = job.slotBuffers()[slot * per + i].data();
  const bool verify = job.spec().mode == Mode::Verify;
  const size_t nt = job.targets().size();
  Extent c{};
  while (job.waitWhilePaused() && job.nextChunk(c)) {
    const int rc = job.simulatedBad(c.offset, c.length) ? EIO : job.readFull(job.mutableSource(), c.offset, bufs[0], size_t(c.length));
    if (rc != 0) {
      job.recordError(ChunkError{c.offset, c.length, rc, -1, "read"});
      continue;
    }
    job.chunkRead(c);
    const bool tapped = !verify && job.tapping();
    if (tapped) job.postTap(uint32_t(slot), c);
    bool allWritten = true;
    for (size_t t = 0; t < nt; ++t) {
      if (!job.targetLive(t)) continue;
      Endpoint& ep = job.mutableTarget(t);
      const uint64_t off = c.offset + uint64_t(ep.delta);
      const int w = verify ? job.readFull(ep, off, bufs[1 + t], size_t(c.length))
                           : job.writeFull(ep, off, bufs[0], size_t(c.length));
      if (w != 0) {
        allWritten = false;
        job.recordError(ChunkError{c.offset, c.length, w, int(t), verify ? "read" : "write"});
      } else if (!verify) {
        job.targetDone(t, c);
      }
    }
    if (verify) job.compareChunk(c, bufs.data());
    else if (allWritten && job.anyTargetLeft()) job.chunkFinished(c);
    // The buffer is reused for the next chunk only once JS has read it.
    if (tapped && !job.waitTapRelease(uint32_t(slot))) break;
  }
}

}  // namespace

void runThreads(Job& job) {
  JobResult& r = job.mutableResult();
  r.backend = "threads";
  const size_t n = std::max<size_t>(1, job.spec().depth);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back(carry, std::ref(job), i);
  for (auto& t : threads) t.join();
}

}  // namespace cs
