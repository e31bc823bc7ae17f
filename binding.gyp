{
  "targets": [
    {
      "target_name": "evolve_kernels",
      "sources": [
        "native/addon.cc",
        "native/threadPool.cc",
        "native/fused.cc",
        "native/evaluate.cc",
        "native/kernels.cc",
        "native/kernelsAvx2.cc",
        "native/kernelsAvx512.cc"
      ],
      "cflags!": ["-O2"],
      "cflags_cc!": ["-O2", "-std=gnu++17"],
      "cflags_cc": ["-O3", "-mtune=native", "-ffp-contract=off", "-std=c++17", "-Wall", "-Wextra"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-std=c++17"]
      }
    }
  ]
}
