// The JS face of the engine. Per-thread state lives in the Engine addon instance (one per
// worker thread that loads us); nothing here is a mutable static.
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>

#include "iogen_napi.h"
#include "pattern.h"
#include "job.h"
#include "lock.h"
#include "blkzero.h"
#include "napi_error.h"
#include "probe.h"
#include "zstd.h"

namespace cs {

namespace {

const char* kindName(Kind k) {
  switch (k) {
    case Kind::Block: return "block";
    case Kind::File: return "file";
    default: return "other";
  }
}

Napi::Object probeObject(Napi::Env env, const ProbeInfo& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", kindName(p.kind));
  o.Set("size", Napi::Number::New(env, double(p.size)));
  o.Set("logicalSectorSize", p.logicalSectorSize);
  o.Set("physicalSectorSize", p.physicalSectorSize);
  o.Set("dioOffsetAlign", p.dioOffsetAlign);
  o.Set("dioMemAlign", p.dioMemAlign);
  o.Set("directAlign", directAlignment(p));
  o.Set("readOnly", p.readOnly);
  o.Set("devMajor", Napi::Number::New(env, double(p.dev >> 32)));
  o.Set("devMinor", Napi::Number::New(env, double(p.dev & 0xffffffffu)));
  o.Set("rdevMajor", Napi::Number::New(env, double(p.rdev >> 32)));
  o.Set("rdevMinor", Napi::Number::New(env, double(p.rdev & 0xffffffffu)));
  o.Set("ino", Napi::Number::New(env, double(p.ino)));
  return o;
}

std::string errName(int err) {
  if (err == kMismatch) return "MISMATCH";
  if (err == kEndOfData) return "END_OF_DATA";
  return errnoName(err);
}

Napi::Object endpointObject(Napi::Env env, const Endpoint& ep) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", ep.path);
  o.Set("direct", ep.direct);
  o.Set("directNote", ep.directNote);
  o.Set("align", ep.align);
  o.Set("probe", probeObject(env, ep.info));
  return o;
}

}  // namespace

class Engine;

// One job as seen from JS. The I/O thread holds the Job through a shared_ptr, so the
// wrapper may be collected while the job runs; the Engine cancels and joins on teardown.
class JobWrap : public Napi::ObjectWrap<JobWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Job",
                       {InstanceMethod<&JobWrap::Start>("start"), InstanceMethod<&JobWrap::Cancel>("cancel"),
                        InstanceMethod<&JobWrap::Pause>("pause"), InstanceMethod<&JobWrap::Resume>("resume"),
                        InstanceMethod<&JobWrap::TakeErrors>("takeErrors"),
                        InstanceMethod<&JobWrap::TakeDone>("takeDone"),
                        InstanceMethod<&JobWrap::RotateJournal>("rotateJournal"),
                        InstanceMethod<&JobWrap::Endpoints>("endpoints"),
                        InstanceMethod<&JobWrap::Release>("release"),
                        InstanceMethod<&JobWrap::TapLayout>("tapLayout")});
  }

  // The I/O thread holds its own reference to the Job: dropping this wrapper never
  // stops or frees a running job.
  JobWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (job_) job_->cancel();
    return info.Env().Undefined();
  }
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    if (job_) job_->setPaused(true);
    return info.Env().Undefined();
  }
  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (job_) job_->setPaused(false);
    return info.Env().Undefined();
  }
  Napi::Value TakeErrors(const Napi::CallbackInfo& info);
  Napi::Value TakeDone(const Napi::CallbackInfo& info);
  Napi::Value RotateJournal(const Napi::CallbackInfo& info);
  Napi::Value Endpoints(const Napi::CallbackInfo& info);
  // Taps: JS has finished reading buffer i (a number, or an array of them).
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value TapLayout(const Napi::CallbackInfo& info);

  std::shared_ptr<Job> job_;
  Napi::ObjectReference counters_;
  // Taps: the memory the ring lives in, and the function each filled slot is handed to.
  Napi::ObjectReference tapMemory_;
  Napi::FunctionReference onTap_;
  bool started_ = false;
};

class Engine : public Napi::Addon<Engine> {
 public:
  Engine(Napi::Env env, Napi::Object exports) {
    jobCtor_ = Napi::Persistent(JobWrap::Define(env));
    DefineAddon(exports, {InstanceMethod<&Engine::Probe>("probe"),
                          InstanceMethod<&Engine::GetLoopStatus>("loopStatus"),
                          InstanceMethod<&Engine::AlignPad>("alignPad"),
                          InstanceValue("lockFile", Napi::Function::New(env, LockFile, "lockFile"), napi_enumerable),
                          InstanceValue("Job", jobCtor_.Value(), napi_enumerable),
                          InstanceValue("counterSlots", counterSlots(env), napi_enumerable),
                          InstanceValue("IoGen", defineIoGen(env, &gens_), napi_enumerable),
                          InstanceValue("ioGenLayout", ioGenLayout(env), napi_enumerable)});
#ifdef CLONESTATION_ZSTD
    registerZstd(env, exports);
#endif
    registerPattern(env, exports, &patterns_);
    registerBlkZero(env, exports);
  }

  // The worker (or process) is going away: no I/O thread may outlive the memory it uses.
  ~Engine() {
    std::set<std::shared_ptr<Job>> live;
    {
      std::lock_guard<std::mutex> lk(mu_);
      live.swap(live_);
    }
    for (const auto& j : live) {
      j->cancel();
      j->setPaused(false);
      j->join();
    }
  }

  void track(const std::shared_ptr<Job>& j) {
    std::lock_guard<std::mutex> lk(mu_);
    live_.insert(j);
  }
  void untrack(const std::shared_ptr<Job>& j) {
    std::lock_guard<std::mutex> lk(mu_);
    live_.erase(j);
  }

 private:
  static Napi::Object counterSlots(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("state", uint32_t(ctr::kState));
    o.Set("bytesRead", uint32_t(ctr::kBytesRead));
    o.Set("bytesBad", uint32_t(ctr::kBytesBad));
    o.Set("readErrors", uint32_t(ctr::kReadErrors));
    o.Set("position", uint32_t(ctr::kPosition));
    o.Set("bytesCompared", uint32_t(ctr::kBytesCompared));
    o.Set("inFlight", uint32_t(ctr::kInFlight));
    o.Set("header", uint32_t(ctr::kHeader));
    return o;
  }

  // alignPad(view, align): bytes to skip from the view's start to reach an address that is a
  // multiple of `align`. JS cannot see addresses, and O_DIRECT writes from JS memory (restore
  // from ZIP) need aligned buffers.
  Napi::Value AlignPad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "alignPad(view: Uint8Array, align: number)");
    const uint64_t align = info[1].As<Napi::Number>().Int64Value();
    if (align == 0 || (align & (align - 1)) != 0) throw Napi::RangeError::New(env, "alignPad: align must be a power of two");
    // napi_get_typedarray_info gives the first element's address for ArrayBuffer and
    // SharedArrayBuffer views alike (ArrayBuffer().Data() refuses a SharedArrayBuffer).
    void* data = nullptr;
    if (napi_get_typedarray_info(env, info[0], nullptr, nullptr, &data, nullptr, nullptr) != napi_ok || !data)
      throw Napi::TypeError::New(env, "alignPad: cannot reach the typed array's memory");
    const auto base = reinterpret_cast<uintptr_t>(data);
    return Napi::Number::New(env, double((align - base % align) % align));
  }

  Napi::Value Probe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "probe(path: string)");
    try {
      return probeObject(env, probePath(info[0].As<Napi::String>().Utf8Value()));
    } catch (const SysError& e) {
      throw errnoError(env, e);
    }
  }

  // loopStatus(path): what a loop device is a view of, or null when the path is no bound loop.
  Napi::Value GetLoopStatus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "loopStatus(path: string)");
    LoopStatus s;
    try {
      if (!loopStatus(info[0].As<Napi::String>().Utf8Value(), s)) return env.Null();
    } catch (const SysError& e) {
      throw errnoError(env, e);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("selfMajor", s.selfMajor);
    o.Set("selfMinor", s.selfMinor);
    o.Set("devMajor", s.devMajor);
    o.Set("devMinor", s.devMinor);
    o.Set("ino", Napi::Number::New(env, double(s.ino)));
    o.Set("rdevMajor", s.rdevMajor);
    o.Set("rdevMinor", s.rdevMinor);
    o.Set("offset", Napi::Number::New(env, double(s.offset)));
    o.Set("sizeLimit", Napi::Number::New(env, double(s.sizeLimit)));
    o.Set("flags", s.flags);
    o.Set("fileName", s.fileName);
    return o;
  }

  // The I/O generators (bench): cancelled and joined when this instance goes away.
  IoGenRegistry gens_;
  // The erase passes (pattern.cc): cancelled and joined likewise.
  PatternRegistry patterns_;
  Napi::FunctionReference jobCtor_;
  std::mutex mu_;
  std::set<std::shared_ptr<Job>> live_;
};

namespace {

EndpointSpec endpointSpec(const Napi::Object& o) {
  EndpointSpec s;
  s.path = o.Get("path").As<Napi::String>().Utf8Value();
  if (o.Has("direct")) s.wantDirect = o.Get("direct").ToBoolean();
  if (o.Has("exclusive")) s.exclusive = o.Get("exclusive").ToBoolean();
  if (o.Has("delta")) s.delta = int64_t(o.Get("delta").ToNumber().DoubleValue());
  return s;
}

}  // namespace

JobWrap::JobWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JobWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsTypedArray())
    throw Napi::TypeError::New(env, "new Job(spec: object, counters: BigUint64Array)");
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_biguint64_array) throw Napi::TypeError::New(env, "counters must be a BigUint64Array");

  JobSpec spec;
  const std::string mode = o.Has("mode") ? o.Get("mode").ToString().Utf8Value() : "copy";
  if (mode == "verify") spec.mode = Mode::Verify;
  else if (mode != "copy") throw Napi::TypeError::New(env, "mode must be 'copy' or 'verify'");
  spec.source = endpointSpec(o.Get("source").As<Napi::Object>());
  Napi::Array targets = o.Get("targets").As<Napi::Array>();
  for (uint32_t i = 0; i < targets.Length(); ++i)
    spec.targets.push_back(endpointSpec(targets.Get(i).As<Napi::Object>()));
  // Extents come as a flat Float64Array [offset0, length0, offset1, ...]: a rescue plan can
  // hold hundreds of thousands, and a typed array crosses without per-element objects.
  Napi::Float64Array ex = o.Get("extents").As<Napi::Float64Array>();
  if (ex.ElementLength() % 2 != 0) throw Napi::TypeError::New(env, "extents: pairs of offset, length");
  for (size_t i = 0; i + 1 < ex.ElementLength(); i += 2)
    spec.extents.push_back(Extent{uint64_t(ex[i]), uint64_t(ex[i + 1])});
  if (o.Has("blockSize")) spec.blockSize = o.Get("blockSize").ToNumber().Uint32Value();
  if (o.Has("depth")) spec.depth = o.Get("depth").ToNumber().Uint32Value();
  if (o.Has("backend")) {
    const std::string b = o.Get("backend").ToString().Utf8Value();
    if (b == "io_uring") spec.backend = BackendKind::Uring;
    else if (b == "threads") spec.backend = BackendKind::Threads;
    else if (b != "auto") throw Napi::TypeError::New(env, "backend must be 'auto', 'io_uring' or 'threads'");
  }
  if (o.Has("stopOnReadError")) spec.stopOnReadError = o.Get("stopOnReadError").ToBoolean();
  if (o.Has("sync")) spec.sync = o.Get("sync").ToBoolean();
  if (o.Has("lagMs")) spec.lagMs = o.Get("lagMs").ToNumber().Uint32Value();
  if (o.Has("reportDone")) spec.reportDone = o.Get("reportDone").ToBoolean();
  if (o.Has("journalPath") && o.Get("journalPath").IsString()) spec.journalPath = o.Get("journalPath").As<Napi::String>().Utf8Value();
  if (o.Has("simulateBad") && o.Get("simulateBad").IsTypedArray()) {
    Napi::Float64Array bad = o.Get("simulateBad").As<Napi::Float64Array>();
    for (size_t i = 0; i + 1 < bad.ElementLength(); i += 2)
      spec.simulateBad.push_back(Extent{uint64_t(bad[i]), uint64_t(bad[i + 1])});
    std::sort(spec.simulateBad.begin(), spec.simulateBad.end(),
              [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
  }
  Napi::Uint8Array tapArray;
  if (o.Has("tap") && o.Get("tap").IsObject()) {
    // { memory: Uint8Array (SharedArrayBuffer-backed, so other threads may read slots too),
    //   onTap(buffer, offset, length) }
    Napi::Object t = o.Get("tap").As<Napi::Object>();
    if (!t.Get("memory").IsTypedArray() || !t.Get("onTap").IsFunction())
      throw Napi::TypeError::New(env, "tap: { memory: Uint8Array, onTap: function }");
    tapArray = t.Get("memory").As<Napi::Uint8Array>();
    void* mem = nullptr;
    size_t len = 0;
    if (napi_get_typedarray_info(env, tapArray, nullptr, &len, &mem, nullptr, nullptr) != napi_ok || !mem)
      throw Napi::TypeError::New(env, "tap.memory: cannot reach the typed array's memory");
    spec.tapMemory = static_cast<unsigned char*>(mem);
    spec.tapMemorySize = len;
    onTap_ = Napi::Persistent(t.Get("onTap").As<Napi::Function>());
  }
  if (ta.ElementLength() < ctr::count(spec.targets.size()))
    throw Napi::RangeError::New(env, "counters too small for this many targets");

  // napi_get_arraybuffer_info rejects a SharedArrayBuffer, but the typed array's own data
  // pointer is valid for both kinds of backing store.
  void* data = nullptr;
  if (napi_get_typedarray_info(env, ta, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok || !data)
    throw Napi::TypeError::New(env, "counters: cannot reach the typed array's memory");
  auto* counters = static_cast<uint64_t*>(data);
  try {
    job_ = std::make_shared<Job>(std::move(spec), counters);
  } catch (const SysError& e) {
    throw errnoError(env, e);
  }
  // The counters live in JS memory (often a SharedArrayBuffer): hold it while we write.
  counters_ = Napi::Persistent(ta.As<Napi::Object>());
  // So does a tapped ring: the kernel reads and writes it until the job has ended.
  if (!tapArray.IsEmpty()) tapMemory_ = Napi::Persistent(tapArray.As<Napi::Object>());
}

Napi::Value JobWrap::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started_) throw Napi::Error::New(env, "job already started");
  started_ = true;
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  Engine* engine = env.GetInstanceData<Engine>();
  auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                            "clonestation-job", 0, 1);
  std::shared_ptr<Job> job = job_;
  engine->track(job);
  // Keep this wrapper (and so the counters it references) alive until the job ends.
  Ref();
  if (!onTap_.IsEmpty()) {
    // The same thread-safe function as the result: calls arrive in order, so every
    // filled slot reaches JS before the promise of the job's end resolves.
    job->setTapSink([tsfn, this](uint32_t buf, uint64_t off, uint32_t len) mutable {
      tsfn.NonBlockingCall([this, buf, off, len](Napi::Env env, Napi::Function) {
        onTap_.Call({Napi::Number::New(env, buf), Napi::Number::New(env, double(off)), Napi::Number::New(env, len)});
      });
    });
  }
  job->start([tsfn, deferred, job, engine, this]() mutable {
    tsfn.NonBlockingCall([deferred, job, engine, this](Napi::Env env, Napi::Function) {
      const JobResult& r = job->result();
      Napi::Object o = Napi::Object::New(env);
      const char* st = r.state == JobState::Done        ? "done"
                       : r.state == JobState::Cancelled ? "cancelled"
                                                        : "failed";
      o.Set("state", st);
      o.Set("backend", r.backend);
      o.Set("backendNote", r.backendNote);
      o.Set("registeredBuffers", r.registeredBuffers);
      o.Set("registeredFiles", r.registeredFiles);
      if (r.fatalErr != 0) o.Set("fatal", errnoError(env, SysError{r.fatalErr, r.fatalOp, r.fatalPath}).Value());
      Napi::Array detached = Napi::Array::New(env);
      for (size_t t = 0; t < job->targets().size(); ++t) {
        const Endpoint& ep = job->targets()[t];
        if (!ep.detached) continue;
        Napi::Object d = Napi::Object::New(env);
        d.Set("target", uint32_t(t));
        d.Set("offset", Napi::Number::New(env, double(ep.detachedAt)));
        detached.Set(detached.Length(), d);
      }
      o.Set("detached", detached);
      // Not joined here: the I/O thread may still be draining writes orphaned by a detach.
      // The Engine tracks the job until that thread exits, so teardown always joins it.
      Unref();
      deferred->Resolve(o);
    });
    tsfn.Release();
  }, [engine, job]() { engine->untrack(job); });
  return deferred->Promise();
}

Napi::Value JobWrap::TakeErrors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<ChunkError> errs = job_->takeErrors();
  Napi::Array a = Napi::Array::New(env, errs.size());
  for (size_t i = 0; i < errs.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("offset", Napi::Number::New(env, double(errs[i].offset)));
    o.Set("length", Napi::Number::New(env, double(errs[i].length)));
    o.Set("errno", errs[i].err);
    o.Set("code", errName(errs[i].err));
    o.Set("target", errs[i].target);
    o.Set("op", errs[i].op);
    a.Set(uint32_t(i), o);
  }
  return a;
}

Napi::Value JobWrap::TakeDone(const Napi::CallbackInfo& info) {
  std::vector<Extent> done = job_->takeDone();
  Napi::Float64Array a = Napi::Float64Array::New(info.Env(), done.size() * 2);
  for (size_t i = 0; i < done.size(); ++i) {
    a[2 * i] = double(done[i].offset);
    a[2 * i + 1] = double(done[i].length);
  }
  return a;
}

Napi::Value JobWrap::RotateJournal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "rotateJournal(path: string)");
  try {
    job_->rotateJournal(info[0].As<Napi::String>().Utf8Value());
  } catch (const SysError& e) {
    throw errnoError(env, e);
  }
  return env.Undefined();
}

Napi::Value JobWrap::Release(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) {
    job_->tapRelease(info[0].As<Napi::Number>().Uint32Value());
  } else if (info[0].IsArray()) {
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) job_->tapRelease(a.Get(i).ToNumber().Uint32Value());
  }
  return info.Env().Undefined();
}

Napi::Value JobWrap::TapLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("offset", Napi::Number::New(env, double(job_->tapBufferOffset(0))));
  o.Set("blockSize", job_->spec().blockSize);
  return o;
}

Napi::Value JobWrap::Endpoints(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("source", endpointObject(env, job_->source()));
  Napi::Array t = Napi::Array::New(env, job_->targets().size());
  for (size_t i = 0; i < job_->targets().size(); ++i) t.Set(uint32_t(i), endpointObject(env, job_->targets()[i]));
  o.Set("targets", t);
  return o;
}

}  // namespace cs

using CloneStationEngine = cs::Engine;
NODE_API_ADDON(CloneStationEngine)
