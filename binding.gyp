{
  "targets": [
    {
      "target_name": "clonestation",
      "sources": [
        "native/addon.cc",
        "native/probe.cc",
        "native/uring.cc",
        "native/job.cc",
        "native/backend_uring.cc",
        "native/backend_threads.cc",
        "native/lock.cc",
        "native/iogen.cc",
        "native/iogen_napi.cc",
        "native/pattern.cc",
        "native/blkzero.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fexceptions"],
      "ldflags": ["-pthread"],
      "conditions": [
        # zstd images need the system's libzstd headers (Debian: libzstd-dev, which
        # scripts/system-deps.sh installs); without them the engine builds without zstd, and
        # a zstd image is refused with what to install (src/image/zstd/native.ts)
        ["<!(test -f /usr/include/zstd.h && echo 1 || echo 0)==1", {
          "sources": ["native/zstd.cc"],
          "defines": ["CLONESTATION_ZSTD=1"],
          "libraries": ["-lzstd"]
        }]
      ]
    }
  ]
}
