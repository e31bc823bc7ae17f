{
  "targets": [
    {
      "target_name": "evolve_kernels",
      "sources": ["native/kernels.cc"],
      "cflags!": ["-O2"],
      "cflags_cc!": ["-O2", "-std=gnu++17"],
      "cflags_cc": ["-O3", "-march=native", "-ffp-contract=fast", "-std=c++17", "-Wall", "-Wextra"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-march=native", "-ffp-contract=fast", "-std=c++17"]
      }
    }
  ]
}
