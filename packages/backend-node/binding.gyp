{
  "targets": [
    {
      "target_name": "resnet_native",
      "sources": [
        "native/resnet_native.cc",
        "native/common.cc",
        "native/conv.cc",
        "native/wino16.cc",
        "native/matmul.cc",
        "native/pool.cc",
        "native/elementwise.cc",
        "native/batchnorm.cc",
        "native/batchnorm_train.cc",
        "native/plan.cc",
        "native/plan_api.cc",
        "native/threads.cc",
        "native/huge_pages.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"process.env.RESNET_TS_DNNL_INCLUDE || '/usr/include'\")"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fexceptions", "-frtti", "-fopenmp"],
      "libraries": [
        "-L<!(node -p \"process.env.RESNET_TS_DNNL_LIBDIR || '/usr/lib'\")",
        "-Wl,-rpath,<!(node -p \"process.env.RESNET_TS_DNNL_LIBDIR || '/usr/lib'\")",
        "-ldnnl",
        "-fopenmp"
      ],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CFLAGS": ["-O3"]
          },
          "libraries!": ["-fopenmp"]
        }]
      ]
    }
  ]
}
