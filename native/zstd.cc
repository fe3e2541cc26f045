// ZstdPool: independent zstd frames compressed and decompressed on a pool of native threads
// (one ZSTD_CCtx and one ZSTD_DCtx per thread). JS hands a task the input and output views
// (JS-allocated memory, often a ring slot in a SharedArrayBuffer: no copy) and gets a
// promise; the pool holds references to both views until the task has settled.
#include "zstd.h"

#include <zstd.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cs {

namespace {

struct Span {
  unsigned char* data = nullptr;
  size_t length = 0;
};

// The memory of a typed array (ArrayBuffer or SharedArrayBuffer backed).
Span spanOf(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string(what) + " must be a Uint8Array");
  void* data = nullptr;
  size_t length = 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_uint8_array)
    throw Napi::TypeError::New(env, std::string(what) + " must be a Uint8Array");
  return {static_cast<unsigned char*>(data), length};
}

enum class Op { Compress, Decompress };

struct Task {
  Op op;
  int level = 3;
  Span in, out;
  Napi::ObjectReference inRef, outRef;
  std::unique_ptr<Napi::Promise::Deferred> deferred;
  // result, set on the pool thread
  size_t size = 0;
  std::string error;
};

// One thread's zstd state: contexts made once, reused for every frame.
struct Contexts {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  int level = -1000;
  Contexts() = default;
  Contexts(const Contexts&) = delete;
  Contexts& operator=(const Contexts&) = delete;
  ~Contexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};

void runTask(Task& t, Contexts& ctx) {
  if (!ctx.c || !ctx.d) {
    t.error = "out of memory for a zstd context";
    return;
  }
  if (t.op == Op::Compress) {
    if (ctx.level != t.level) {
      ZSTD_CCtx_reset(ctx.c, ZSTD_reset_session_and_parameters);
      size_t r = ZSTD_CCtx_setParameter(ctx.c, ZSTD_c_compressionLevel, t.level);
      if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(ctx.c, ZSTD_c_checksumFlag, 1);
      if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(ctx.c, ZSTD_c_contentSizeFlag, 1);
      if (ZSTD_isError(r)) {
        t.error = ZSTD_getErrorName(r);
        return;
      }
      ctx.level = t.level;
    }
    const size_t n = ZSTD_compress2(ctx.c, t.out.data, t.out.length, t.in.data, t.in.length);
    if (ZSTD_isError(n)) {
      t.error = ZSTD_getErrorName(n);
      ctx.level = -1000;  // parameters are reset next time
      return;
    }
    t.size = n;
    return;
  }
  // Decompress exactly one frame that fills at most the output: input from a file is untrusted.
  const size_t frame = ZSTD_findFrameCompressedSize(t.in.data, t.in.length);
  if (ZSTD_isError(frame)) {
    t.error = std::string("not a zstd frame: ") + ZSTD_getErrorName(frame);
    return;
  }
  if (frame != t.in.length) {
    t.error = "the frame is " + std::to_string(frame) + " bytes, not the " + std::to_string(t.in.length) + " the seek table says";
    return;
  }
  const unsigned long long content = ZSTD_getFrameContentSize(t.in.data, t.in.length);
  if (content == ZSTD_CONTENTSIZE_ERROR) {
    t.error = "the frame's header is damaged";
    return;
  }
  if (content != ZSTD_CONTENTSIZE_UNKNOWN && content > t.out.length) {
    t.error = "the frame holds " + std::to_string(content) + " bytes, more than the " + std::to_string(t.out.length) + " the seek table says";
    return;
  }
  const size_t n = ZSTD_decompressDCtx(ctx.d, t.out.data, t.out.length, t.in.data, t.in.length);
  if (ZSTD_isError(n)) {
    t.error = ZSTD_getErrorName(n);
    return;
  }
  t.size = n;
}

}  // namespace

class ZstdPoolWrap : public Napi::ObjectWrap<ZstdPoolWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ZstdPool",
                       {InstanceMethod<&ZstdPoolWrap::Compress>("compress"), InstanceMethod<&ZstdPoolWrap::Decompress>("decompress"),
                        InstanceMethod<&ZstdPoolWrap::Close>("close")});
  }

  // new ZstdPool(threads)
  explicit ZstdPoolWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ZstdPoolWrap>(info) {
    Napi::Env env = info.Env();
    const int n = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
    if (n < 1 || n > 256) throw Napi::RangeError::New(env, "ZstdPool: threads must be 1..256");
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "clonestation-zstd", 0, 1);
    tsfn_.Unref(env);
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }

  ~ZstdPoolWrap() override { stop(); }

 private:
  // compress(input, output, level): one frame (checksum and content size in its header) → bytes written
  Napi::Value Compress(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[2].IsNumber()) throw Napi::TypeError::New(env, "compress(input: Uint8Array, output: Uint8Array, level: number)");
    const int level = info[2].As<Napi::Number>().Int32Value();
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) throw Napi::RangeError::New(env, "compress: level out of zstd's range");
    return submit(info, Op::Compress, level);
  }

  // decompress(input, output): exactly one frame, into at most output.length bytes → bytes produced
  Napi::Value Decompress(const Napi::CallbackInfo& info) { return submit(info, Op::Decompress, 0); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    stop();
    return info.Env().Undefined();
  }

  Napi::Value submit(const Napi::CallbackInfo& info, Op op, int level) {
    Napi::Env env = info.Env();
    if (closed_) throw Napi::Error::New(env, "ZstdPool is closed");
    auto t = std::make_unique<Task>();
    t->op = op;
    t->level = level;
    t->in = spanOf(env, info[0], "input");
    t->out = spanOf(env, info[1], "output");
    t->inRef = Napi::Persistent(info[0].As<Napi::Object>());
    t->outRef = Napi::Persistent(info[1].As<Napi::Object>());
    t->deferred = std::make_unique<Napi::Promise::Deferred>(env);
    Napi::Value promise = t->deferred->Promise();
    // pending work keeps the event loop (and this wrapper) alive
    if (pending_++ == 0) {
      tsfn_.Ref(env);
      Ref();
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      queue_.push_back(t.release());
    }
    cv_.notify_one();
    return promise;
  }

  void loop() {
    Contexts ctx;
    for (;;) {
      Task* t = nullptr;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        t = queue_.front();
        queue_.pop_front();
      }
      runTask(*t, ctx);
      // settled on the JS thread; if the environment is going away the call fails and the
      // task is dropped with it
      if (tsfn_.BlockingCall(t, [this](Napi::Env env, Napi::Function, Task* task) { settle(env, task); }) != napi_ok) {
        // the environment is gone: its references cannot be touched from here
      }
    }
  }

  void settle(Napi::Env env, Task* raw) {
    std::unique_ptr<Task> t(raw);
    if (t->error.empty()) {
      t->deferred->Resolve(Napi::Number::New(env, double(t->size)));
    } else {
      Napi::Error e = Napi::Error::New(env, t->error);
      e.Set("code", Napi::String::New(env, "ZSTD_FAILED"));
      t->deferred->Reject(e.Value());
    }
    t->inRef.Reset();
    t->outRef.Reset();
    if (--pending_ == 0) {
      tsfn_.Unref(env);
      Unref();
    }
  }

  void stop() {
    if (closed_) return;
    closed_ = true;
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& th : threads_)
      if (th.joinable()) th.join();
    threads_.clear();
    tsfn_.Release();
  }

  Napi::ThreadSafeFunction tsfn_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task*> queue_;
  bool stopping_ = false;
  bool closed_ = false;
  size_t pending_ = 0;
};

void registerZstd(Napi::Env env, Napi::Object exports) {
  exports.Set("ZstdPool", ZstdPoolWrap::Define(env));
  Napi::Object z = Napi::Object::New(env);
  z.Set("version", Napi::String::New(env, ZSTD_versionString()));
  z.Set("minLevel", Napi::Number::New(env, ZSTD_minCLevel()));
  z.Set("maxLevel", Napi::Number::New(env, ZSTD_maxCLevel()));
  z.Set("compressBound", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
          const double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
          if (!(n >= 0 && n <= 1e15)) throw Napi::RangeError::New(info.Env(), "compressBound(n: bytes)");
          return Napi::Number::New(info.Env(), double(ZSTD_compressBound(size_t(n))));
        }, "compressBound"));
  exports.Set("zstdInfo", z);
}

}  // namespace cs
