// Shared by the files of the resnet_native addon (see resnet_native.cc): the oneDNN engine and
// stream, argument readers, primitive-cache keys and bounds, the NaN-keeping ReLU, and the entry
// points each file defines.
#pragma once

#include <napi.h>

#include <dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
using dims = memory::dims;

// Hot loops compiled for the widest vectors the CPU has (the addon's baseline is x86-64, i.e. SSE2),
// picked at load time. The build turns off FMA contraction (-ffp-contract=off), so every clone rounds
// exactly like the baseline.
#if defined(__x86_64__) && defined(__linux__)
#define RESNET_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RESNET_VECTOR_CLONES
#endif

namespace resnet_native {

engine& Eng();
stream& Strm();
// The integers of a JS array or Int32Array.
std::vector<int64_t> Ints(const Napi::Value& v);
// The data of a Float32Array (nullptr for null/undefined; a TypeError for anything else); its length in *len.
float* F32(const Napi::Value& v, size_t* len = nullptr);
// A primitive-cache key: the op, its parameters and one extra flag.
std::string Key(const char* op, const std::vector<int64_t>& p, int extra = 0);

// Primitive caches, keyed by shape. A program that keeps changing shapes would grow them without
// bound, so a cache that reaches kMaxCached entries starts over.
constexpr size_t kMaxCached = 1024;

// The entry of `cache` for key `k`, made by `build()` (a std::unique_ptr<Entry>) on a miss.
template <typename Entry, typename Build>
Entry& Cached(std::unordered_map<std::string, std::unique_ptr<Entry>>& cache, const std::string& k, Build build) {
  auto it = cache.find(k);
  if (it != cache.end()) return *it->second;
  std::unique_ptr<Entry> e = build();
  if (cache.size() >= kMaxCached) cache.clear();
  return *cache.emplace(k, std::move(e)).first->second;
}


// ---------------------------------------------------------------------------------------------
// Fused ReLU. oneDNN's relu post-op (alpha 0) is max(x, 0) in the JIT kernels, and x86 MAXPS returns
// its second operand when one is NaN, so a NaN became 0 (as with clip, bounded_relu and binary max):
// a NaN weight gave finite, plausible logits. The kernels that fuse a ReLU therefore run the conv or
// matmul with its other post-ops (bias, residual sum) and then ReluInPlace, tfjs's relu exactly (NaN
// stays NaN, -Inf and -0 become +0). Measured on ResNet-20 shapes (batch 128, one thread): +2-4 % over
// the max post-op; a chain of leaky-relu post-ops that keeps NaN costs more (+5-8 %) and still needs a
// pass for -Inf.
void ReluInPlace(float* y, int64_t n);

// tfjs's relu of one value: NaN stays NaN, -0 and -Inf become +0 (Math.max(0, v) on a non-NaN).
// Branch-free: the selects vectorise.
inline float ReluValue(float v) {
  float r = v > 0.f ? v : 0.f;
  return v != v ? v : r;
}

// tfjs's relu gradient of one value: dy * step(x), where step(NaN) = NaN (so a NaN input gives a NaN
// gradient, and dy * 0 keeps dy's sign: -0 for a negative dy). x may be the relu's input or its
// output: they are positive, and NaN, at the same places.
inline float ReluGradValue(float dy, float x) {
  float s = x > 0.f ? 1.f : 0.f;
  s = x != x ? x : s;
  return dy * s;
}

// Winograd convolutions (measured in plan.cc): 3x3 stride-1 convs with at least kWinogradMinChannels
// input and output channels may run as oneDNN's Winograd convs, in the plan and in the training
// kernels (conv.cc), unless $RESNET_TS_WINOGRAD=0 (read once, here only; a plan can also be told).
constexpr int64_t kWinogradMinChannels = 32;
inline bool WinogradShape(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ci, int64_t co) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && std::min(ci, co) >= kWinogradMinChannels;
}
bool WinogradEnabled();

// 3x3 stride-1 padding-1 convs of 16 channels in and out as Winograd F(4x4, 3x3) convs on AVX-512
// (wino16.cc). Wino16Fits(params): the conv's params (see conv.cc) are such a conv, the CPU has
// AVX-512 and Winograd is enabled. Wino16Conv runs its forward pass (or, with backwardData, its
// backward-data pass: x is then the output gradient, y the input gradient) on NHWC (= nChw16c) buffers;
// false, with y unspecified, when the filter, bias, input or output holds NaN or +-Inf (run the direct
// conv then).
bool Wino16Fits(const std::vector<int64_t>& p);
// What convImpl reports for those passes.
constexpr const char* kWino16Impl = "wino16_4x3:avx512 (resnet-ts)";
bool Wino16Conv(const float* x, const float* w, const float* bias, float* y, const std::vector<int64_t>& p, bool backwardData);

// Elementwise passes use the OpenMP threads from this many elements on (see elementwise.cc).
extern const int64_t kParallelMin;
// Threads for a pass over n elements (see batchnorm.cc).
int ThreadsFor(int64_t n);
// All of OpenMP's threads when `parallel`, else 1.
int ThreadsIf(bool parallel);

// body(i) for i in [0, count), split statically over `threads` OpenMP threads; with one thread, a
// plain loop that never enters OpenMP. libgomp starts even a one-thread team (`if (false)`,
// `num_threads(1)`) with a futex call to its pool: 1.8 of the 2.5 us a 16-float Mul took, and a
// training step runs hundreds of such small kernels.
template <typename Body>
inline void ParallelFor(int64_t count, int threads, const Body& body) {
  if (threads <= 1) {
    for (int64_t i = 0; i < count; i++) body(i);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < count; i++) body(i);
}

// The entry points (each reads its arguments from `info`; see the comment above its definition).
Napi::Value Conv2dForward(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackwardFilter(const Napi::CallbackInfo& info);
Napi::Value ConvImpl(const Napi::CallbackInfo& info);
Napi::Value MatMul(const Napi::CallbackInfo& info);
Napi::Value PoolForward(const Napi::CallbackInfo& info);
Napi::Value PoolBackward(const Napi::CallbackInfo& info);
Napi::Value BinaryOp(const Napi::CallbackInfo& info);
Napi::Value SgdStep(const Napi::CallbackInfo& info);
Napi::Value MaxPoolPropagateNaN(const Napi::CallbackInfo& info);

// Where element (n, c, h, w) of a 4-D activation lives: n*s[0] + (c/block)*s[1] + h*s[2] + w*s[3] +
// c%block + offset0 (NHWC, NCHW or channel-blocked nChw8c/16c).
struct Layout4 {
  int64_t s[4];
  int64_t block;
  int64_t offset0;
  int64_t At(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return offset0 + n * s[0] + (c / block) * s[1] + h * s[2] + w * s[3] + c % block;
  }
};
// A pooling window geometry: input n, h, w, c; kernel kh, kw; output oh, ow; strides; top/left padding.
struct PoolGeometry {
  int64_t n, h, w, c, kh, kw, oh, ow, sh, sw, pt, pl;
};
// The layout of a plain or channel-blocked 4-D oneDNN memory desc; false for other formats.
bool LayoutOf(const memory::desc& md, Layout4* out);
// Max pooling's NaN rule (see pool.cc): x's span floats are scanned; y is x's max pooling.
void PropagateMaxPoolNaN(const float* x, const Layout4& lx, int64_t span, float* y, const Layout4& ly, const PoolGeometry& g);
Napi::Value UnaryOp(const Napi::CallbackInfo& info);
Napi::Value ReduceOp(const Napi::CallbackInfo& info);
Napi::Value TileOp(const Napi::CallbackInfo& info);
Napi::Value TransposeOp(const Napi::CallbackInfo& info);
Napi::Value BatchNormInference(const Napi::CallbackInfo& info);
Napi::Value BatchNormGrad(const Napi::CallbackInfo& info);
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info);
Napi::Value BatchNormTrainGrad(const Napi::CallbackInfo& info);
Napi::Value PinWorkerThreads(const Napi::CallbackInfo& info);
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info);

// Empty the primitive caches of each file (clearCache).
void ClearConvCaches();
void ClearMatMulCache();
void ClearPoolCache();

}  // namespace resnet_native
