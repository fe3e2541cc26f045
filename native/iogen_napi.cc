// new IoGen(spec, counters) / start() / cancel(): converts the spec and the result, and
// resolves start()'s promise from the generator's thread through a thread-safe function.
#include "iogen_napi.h"

#include <cstring>

#include "iogen.h"
#include "napi_error.h"

namespace cs {

namespace {

Napi::Object dirObject(Napi::Env env, const DirStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ops", Napi::Number::New(env, double(s.ops)));
  o.Set("bytes", Napi::Number::New(env, double(s.bytes)));
  o.Set("latSumNs", Napi::Number::New(env, double(s.latSum)));
  o.Set("minNs", Napi::Number::New(env, s.ops ? double(s.min) : 0));
  o.Set("maxNs", Napi::Number::New(env, double(s.max)));
  o.Set("meanNs", Napi::Number::New(env, s.mean));
  o.Set("m2", Napi::Number::New(env, s.m2));
  Napi::Float64Array h = Napi::Float64Array::New(env, hist::kBuckets);
  for (unsigned i = 0; i < hist::kBuckets; ++i) h[i] = double(s.buckets[i]);
  o.Set("histogram", h);
  return o;
}

class IoGenWrap : public Napi::ObjectWrap<IoGenWrap> {
 public:
  static Napi::Function Define(Napi::Env env, IoGenRegistry* registry) {
    return DefineClass(env, "IoGen",
                       {InstanceMethod<&IoGenWrap::Start>("start"), InstanceMethod<&IoGenWrap::Cancel>("cancel"),
                        InstanceMethod<&IoGenWrap::Probe>("probe")},
                       registry);
  }

  IoGenWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IoGenWrap>(info) {
    Napi::Env env = info.Env();
    registry_ = static_cast<IoGenRegistry*>(info.Data());
    if (!info[0].IsObject() || !info[1].IsTypedArray())
      throw Napi::TypeError::New(env, "new IoGen(spec: object, counters: BigUint64Array)");
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_biguint64_array) throw Napi::TypeError::New(env, "counters must be a BigUint64Array");
    if (ta.ElementLength() < genctr::kCount) throw Napi::RangeError::New(env, "counters too small for the generator's layout");
    if (!o.Get("path").IsString()) throw Napi::TypeError::New(env, "spec.path must be a string");

    IoGenSpec s;
    s.path = o.Get("path").As<Napi::String>().Utf8Value();
    if (o.Has("backend")) {
      const std::string b = o.Get("backend").ToString().Utf8Value();
      if (b == "io_uring") s.backend = BackendKind::Uring;
      else if (b == "threads") s.backend = BackendKind::Threads;
      else if (b != "auto") throw Napi::TypeError::New(env, "backend must be 'auto', 'io_uring' or 'threads'");
    }
    s.readPercent = uint32_t(u64(o, "readPercent", 100));
    s.random = o.Has("random") && o.Get("random").ToBoolean();
    s.blockSize = uint32_t(u64(o, "blockSize", 4096));
    s.depth = uint32_t(u64(o, "depth", 1));
    s.jobs = uint32_t(u64(o, "jobs", 1));
    s.offset = u64(o, "offset", 0);
    s.size = u64(o, "size", 0);
    s.ops = u64(o, "ops", 0);
    s.runtimeMs = u64(o, "runtimeMs", 0);
    s.rampMs = u64(o, "rampMs", 0);
    s.seed = u64(o, "seed", 1);
    s.zeroBuffers = o.Has("zeroBuffers") && o.Get("zeroBuffers").ToBoolean();
    s.exclusive = o.Has("exclusive") && o.Get("exclusive").ToBoolean();
    s.recordOffsets = uint32_t(u64(o, "recordOffsets", 0));

    void* data = nullptr;
    if (napi_get_typedarray_info(env, ta, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok || !data)
      throw Napi::TypeError::New(env, "counters: cannot reach the typed array's memory");
    try {
      gen_ = std::make_shared<IoGen>(std::move(s), static_cast<uint64_t*>(data));
    } catch (const SysError& e) {
      throw errnoError(env, e);
    }
    counters_ = Napi::Persistent(ta.As<Napi::Object>());
  }

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    gen_->cancel();
    return info.Env().Undefined();
  }

  // What was opened: kind, size, sector sizes (the same fields as engine.probe()).
  Napi::Value Probe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ProbeInfo& p = gen_->probe();
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", p.kind == Kind::Block ? "block" : "file");
    o.Set("size", Napi::Number::New(env, double(p.size)));
    o.Set("logicalSectorSize", p.logicalSectorSize);
    o.Set("physicalSectorSize", p.physicalSectorSize);
    o.Set("directAlign", directAlignment(p));
    return o;
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (started_) throw Napi::Error::New(env, "generator already started");
    started_ = true;
    auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
    auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                              "clonestation-iogen", 0, 1);
    std::shared_ptr<IoGen> gen = gen_;
    IoGenRegistry* registry = registry_;
    registry->track(gen);
    // Keep this wrapper (and the counters it references) alive until the run ends.
    Ref();
    gen->start(
        [tsfn, deferred, gen, this]() mutable {
          tsfn.NonBlockingCall([deferred, gen, this](Napi::Env env, Napi::Function) {
            Unref();
            deferred->Resolve(result(env, *gen));
          });
          tsfn.Release();
        },
        [registry, gen]() { registry->untrack(gen); });
    return deferred->Promise();
  }

  static Napi::Object result(Napi::Env env, const IoGen& g) {
    Napi::Object o = Napi::Object::New(env);
    const char* st = g.state() == JobState::Done ? "done" : g.state() == JobState::Cancelled ? "cancelled" : "failed";
    o.Set("state", st);
    o.Set("backend", g.backend());
    o.Set("backendNote", g.backendNote());
    o.Set("elapsedNs", Napi::Number::New(env, double(g.elapsedNs())));
    o.Set("measuredNs", Napi::Number::New(env, double(g.measuredNs())));
    o.Set("cpuNs", Napi::Number::New(env, double(g.cpuNs())));
    if (g.error().err != 0) {
      Napi::Error e = errnoError(env, SysError{g.error().err, g.error().op, ""});
      e.Set("offset", Napi::Number::New(env, double(g.error().offset)));
      o.Set("error", e.Value());
    }
    bool regBuf = g.rings() > 0, regFiles = g.rings() > 0;
    Napi::Array rings = Napi::Array::New(env, g.rings());
    for (size_t r = 0; r < g.rings(); ++r) {
      const IoGen::RingState& rs = g.ring(r);
      regBuf = regBuf && rs.registeredBuffers;
      regFiles = regFiles && rs.registeredFiles;
      Napi::Object ro = Napi::Object::New(env);
      ro.Set("read", dirObject(env, g.ringStats(r, 0)));
      ro.Set("write", dirObject(env, g.ringStats(r, 1)));
      const size_t n = std::min<size_t>(rs.offsets.size(), rs.recorded.load());
      Napi::Float64Array off = Napi::Float64Array::New(env, n);
      for (size_t i = 0; i < n; ++i) off[i] = rs.offsets[i];
      ro.Set("offsets", off);
      rings.Set(uint32_t(r), ro);
    }
    o.Set("rings", rings);
    o.Set("registeredBuffers", regBuf);
    o.Set("registeredFiles", regFiles);
    return o;
  }

  IoGenRegistry* registry_ = nullptr;
  std::shared_ptr<IoGen> gen_;
  Napi::ObjectReference counters_;
  bool started_ = false;
};

}  // namespace

Napi::Function defineIoGen(Napi::Env env, IoGenRegistry* registry) { return IoGenWrap::Define(env, registry); }

Napi::Object ioGenLayout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", uint32_t(genctr::kState));
  o.Set("phase", uint32_t(genctr::kPhase));
  o.Set("readOps", uint32_t(genctr::kReadOps));
  o.Set("readBytes", uint32_t(genctr::kReadBytes));
  o.Set("writeOps", uint32_t(genctr::kWriteOps));
  o.Set("writeBytes", uint32_t(genctr::kWriteBytes));
  o.Set("readLatSumNs", uint32_t(genctr::kReadLatSum));
  o.Set("writeLatSumNs", uint32_t(genctr::kWriteLatSum));
  o.Set("inFlight", uint32_t(genctr::kInFlight));
  o.Set("measuredNs", uint32_t(genctr::kMeasuredNs));
  o.Set("header", uint32_t(genctr::kHeader));
  o.Set("readHist", uint32_t(genctr::kReadHist));
  o.Set("writeHist", uint32_t(genctr::kWriteHist));
  o.Set("count", uint32_t(genctr::kCount));
  o.Set("buckets", hist::kBuckets);
  o.Set("bits", hist::kBits);
  o.Set("groups", hist::kGroups);
  return o;
}

}  // namespace cs
