// Elementwise, reduction and tiling loops (OpenMP above kParallelMin elements), and the NaN-keeping ReLU.
#include "common.h"

namespace resnet_native {

// ---------------------------------------------------------------------------------------------
// Elementwise loops. Broadcast modes of an operand over an [outer, inner] view of the output:
// 0 = full, 1 = scalar, 2 = vector of length inner (repeated over outer), 3 = vector of length
// outer (each value repeated over inner).
// Elementwise loops use the OpenMP threads from this many elements on (memory-bound work: threads
// help on an idle machine, and cost a scheduler quantum at every barrier on a busy one).
// RESNET_TS_NATIVE_EW_PARALLEL_MIN overrides it (0 = always; a huge number = never).
int64_t ParallelMinFromEnv() {
  const char* v = std::getenv("RESNET_TS_NATIVE_EW_PARALLEL_MIN");
  return v ? std::atoll(v) : (1 << 15);
}
extern const int64_t kParallelMin = ParallelMinFromEnv();

namespace {

// One span of ReluInPlace, compiled for the widest vectors the CPU has (the addon is built for
// baseline x86-64, i.e. SSE2): measured on AVX-512, a cached 0.8M-float activation 0.058 -> 0.023 ms.
RESNET_VECTOR_CLONES
void ReluSpan(float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = ReluValue(y[i]);
}

// body(lo, len) over [0, n) in spans of 16K elements, split across the OpenMP threads from
// kParallelMin elements on: each span is a loop the compiler vectorises.
template <typename Body>
void ForEachSpan(int64_t n, const Body& body) {
  constexpr int64_t kSpan = 1 << 14;
  const int64_t spans = (n + kSpan - 1) / kSpan;
  ParallelFor(spans, ThreadsFor(n), [&](int64_t s) { body(s * kSpan, std::min(kSpan, n - s * kSpan)); });
}

}  // namespace

// The ReLU of the fused kernels (see the comment above ReluInPlace's declaration): tfjs's relu.
void ReluInPlace(float* y, int64_t n) {
  ForEachSpan(n, [&](int64_t lo, int64_t len) { ReluSpan(y + lo, len); });
}

// Binary() over operands that are each full-size (mode 0) or a scalar (mode 1): the output as one
// flat array, span by span.
template <typename F>
void FlatBinary(const float* a, int am, const float* b, int bm, float* o, int64_t n, F f) {
  ForEachSpan(n, [&](int64_t lo, int64_t len) {
    float* oo = o + lo;
    if (am == 0 && bm == 0) {
      const float* aa = a + lo;
      const float* bb = b + lo;
      for (int64_t j = 0; j < len; j++) oo[j] = f(aa[j], bb[j]);
    } else if (am == 0) {
      const float* aa = a + lo;
      const float bv = b[0];
      for (int64_t j = 0; j < len; j++) oo[j] = f(aa[j], bv);
    } else if (bm == 0) {
      const float* bb = b + lo;
      const float av = a[0];
      for (int64_t j = 0; j < len; j++) oo[j] = f(av, bb[j]);
    } else {
      const float v = f(a[0], b[0]);
      for (int64_t j = 0; j < len; j++) oo[j] = v;
    }
  });
}

// o = f(a, b) over [outer, inner], each operand full-size (mode 0), a scalar (1), a vector of inner
// repeated over outer (2) or a vector of outer repeated over inner (3).
template <typename F>
void Binary(const float* a, int am, const float* b, int bm, float* o, int64_t outer, int64_t inner, F f) {
  // Same shapes or a scalar: the caller's split is [elements, 1], which would not vectorise.
  if (am <= 1 && bm <= 1) return FlatBinary(a, am, b, bm, o, outer * inner, f);
  ParallelFor(outer, ThreadsFor(outer * inner), [&](int64_t i) {
    float* oo = o + i * inner;
    const float* aa = am == 0 ? a + i * inner : am == 2 ? a : nullptr;
    const float* bb = bm == 0 ? b + i * inner : bm == 2 ? b : nullptr;
    if (aa && bb) {
      for (int64_t j = 0; j < inner; j++) oo[j] = f(aa[j], bb[j]);
    } else if (aa) {
      float bv = bm == 1 ? b[0] : b[i];
      for (int64_t j = 0; j < inner; j++) oo[j] = f(aa[j], bv);
    } else if (bb) {
      float av = am == 1 ? a[0] : a[i];
      for (int64_t j = 0; j < inner; j++) oo[j] = f(av, bb[j]);
    } else {
      float av = am == 1 ? a[0] : a[i], bv = bm == 1 ? b[0] : b[i];
      float v = f(av, bv);
      for (int64_t j = 0; j < inner; j++) oo[j] = v;
    }
  });
}

// binary(op, a, aMode, b, bMode, out, outer, inner)
Napi::Value BinaryOp(const Napi::CallbackInfo& info) {
  std::string op = info[0].As<Napi::String>().Utf8Value();
  float* a = F32(info[1]);
  int am = info[2].As<Napi::Number>().Int32Value();
  float* b = F32(info[3]);
  int bm = info[4].As<Napi::Number>().Int32Value();
  float* o = F32(info[5]);
  int64_t outer = info[6].As<Napi::Number>().Int64Value();
  int64_t inner = info[7].As<Napi::Number>().Int64Value();
  if (op == "Add") Binary(a, am, b, bm, o, outer, inner, [](float x, float y) { return x + y; });
  else if (op == "Sub") Binary(a, am, b, bm, o, outer, inner, [](float x, float y) { return x - y; });
  else if (op == "Mul") Binary(a, am, b, bm, o, outer, inner, [](float x, float y) { return x * y; });
  else if (op == "RealDiv") Binary(a, am, b, bm, o, outer, inner, [](float x, float y) { return x / y; });
  else if (op == "SquaredDifference")
    Binary(a, am, b, bm, o, outer, inner, [](float x, float y) { return (x - y) * (x - y); });
  // Gradient helpers, written to round exactly like tfjs's compositions:
  // Relu: dy * step(x) (step(NaN) = NaN); Square: dy * (x * 2).
  else if (op == "ReluGrad")
    Binary(a, am, b, bm, o, outer, inner, [](float g, float x) { return ReluGradValue(g, x); });
  else if (op == "SquareGrad") Binary(a, am, b, bm, o, outer, inner, [](float g, float x) { return g * (x * 2.f); });
  else if (op == "CopyA") Binary(a, am, b, bm, o, outer, inner, [](float x, float) { return x; });
  else if (op == "Maximum")
    Binary(a, am, b, bm, o, outer, inner, [](float x, float y) {
      // JS Math.max (tfjs cpu): NaN if either is NaN, +0 over -0.
      float m = x > y ? x : y;
      float eq = std::signbit(x) ? y : x;
      m = x == y ? eq : m;
      m = y != y ? y : m;
      return x != x ? x : m;
    });
  else throw Napi::Error::New(info.Env(), "unknown binary op " + op);
  return info.Env().Undefined();
}

template <typename F>
void Unary(const float* x, float* o, int64_t n, F f) {
  ParallelFor(n, ThreadsFor(n), [&](int64_t i) { o[i] = f(x[i]); });
}

// unary(op, x, out, alpha)
Napi::Value UnaryOp(const Napi::CallbackInfo& info) {
  std::string op = info[0].As<Napi::String>().Utf8Value();
  size_t n = 0;
  float* x = F32(info[1], &n);
  float* o = F32(info[2]);
  float alpha = info[3].IsNumber() ? info[3].As<Napi::Number>().FloatValue() : 0.f;
  int64_t len = static_cast<int64_t>(n);
  if (op == "Relu")
    Unary(x, o, len, [](float v) {
      float r = v > 0.f ? v : 0.f;  // Math.max(0, v): -0 becomes +0
      return v != v ? v : r;        // NaN stays NaN
    });
  else if (op == "Step") {
    // Explicit loop: a lambda capturing alpha would be reloaded every iteration (it may alias o).
    const float al = alpha;
    ParallelFor(len, ThreadsFor(len), [&](int64_t i) {
      float v = x[i];
      float s = v > 0.f ? 1.f : al;
      o[i] = v != v ? v : s;
    });
  }
  else if (op == "Neg") Unary(x, o, len, [](float v) { return -v; });
  else if (op == "Square") Unary(x, o, len, [](float v) { return v * v; });
  else if (op == "Sqrt") Unary(x, o, len, [](float v) { return std::sqrt(v); });
  else if (op == "Rsqrt") Unary(x, o, len, [](float v) { return 1.f / std::sqrt(v); });
  else throw Napi::Error::New(info.Env(), "unknown unary op " + op);
  return info.Env().Undefined();
}

// reduce(op, x, out, outer, mid, inner): x viewed as [outer, mid, inner], reduced over mid,
// giving [outer, inner]. op: "Sum" or "Mean". Accumulates in double for accuracy.
Napi::Value ReduceOp(const Napi::CallbackInfo& info) {
  std::string op = info[0].As<Napi::String>().Utf8Value();
  float* x = F32(info[1]);
  float* o = F32(info[2]);
  int64_t outer = info[3].As<Napi::Number>().Int64Value();
  int64_t mid = info[4].As<Napi::Number>().Int64Value();
  int64_t inner = info[5].As<Napi::Number>().Int64Value();
  bool mean = op == "Mean";
  double scale = mean ? 1.0 / static_cast<double>(mid) : 1.0;
  if (inner == 1) {
    ParallelFor(outer, ThreadsFor(outer * mid), [&](int64_t i) {
      const float* xx = x + i * mid;
      double acc = 0;
      for (int64_t j = 0; j < mid; j++) acc += xx[j];
      o[i] = static_cast<float>(acc * scale);
    });
  } else if (outer == 1) {
    // Reduce over leading rows: split the rows between threads, then combine.
    const int nt = ThreadsFor(mid * inner);
    std::vector<double> part(static_cast<size_t>(nt) * inner, 0.0);
    ParallelFor(nt, nt, [&](int64_t t) {
      int64_t r0 = mid * t / nt, r1 = mid * (t + 1) / nt;
      double* acc = part.data() + static_cast<size_t>(t) * inner;
      for (int64_t r = r0; r < r1; r++) {
        const float* xx = x + r * inner;
        for (int64_t j = 0; j < inner; j++) acc[j] += xx[j];
      }
    });
    for (int64_t j = 0; j < inner; j++) {
      double acc = 0;
      for (int t = 0; t < nt; t++) acc += part[static_cast<size_t>(t) * inner + j];
      o[j] = static_cast<float>(acc * scale);
    }
  } else {
    std::vector<double> acc(inner);
    for (int64_t i = 0; i < outer; i++) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t r = 0; r < mid; r++) {
        const float* xx = x + (i * mid + r) * inner;
        for (int64_t j = 0; j < inner; j++) acc[j] += xx[j];
      }
      for (int64_t j = 0; j < inner; j++) o[i * inner + j] = static_cast<float>(acc[j] * scale);
    }
  }
  return info.Env().Undefined();
}

// tile(x, xShape, reps, out): tfjs Tile for float32 (out dim i = xShape[i] * reps[i]).
void TileRec(const float* x, const std::vector<int64_t>& xs, const std::vector<int64_t>& reps,
             const std::vector<int64_t>& xStride, const std::vector<int64_t>& oStride, size_t d, const float* xp,
             float* op) {
  const size_t last = xs.size() - 1;
  if (d == last) {
    int64_t n = xs[d];
    for (int64_t r = 0; r < reps[d]; r++) std::memcpy(op + r * n, xp, sizeof(float) * static_cast<size_t>(n));
    return;
  }
  // Fill one copy of this dim's block, then replicate it reps[d] - 1 times.
  for (int64_t i = 0; i < xs[d]; i++) TileRec(x, xs, reps, xStride, oStride, d + 1, xp + i * xStride[d], op + i * oStride[d]);
  int64_t block = xs[d] * oStride[d];
  for (int64_t r = 1; r < reps[d]; r++) std::memcpy(op + r * block, op, sizeof(float) * static_cast<size_t>(block));
}

Napi::Value TileOp(const Napi::CallbackInfo& info) {
  float* x = F32(info[0]);
  auto xs = Ints(info[1]);
  auto reps = Ints(info[2]);
  float* o = F32(info[3]);
  if (xs.empty() || xs.size() != reps.size()) throw std::runtime_error("tile: bad shapes");
  size_t r = xs.size();
  std::vector<int64_t> xStride(r, 1), oStride(r, 1);
  for (size_t i = r - 1; i-- > 0;) {
    xStride[i] = xStride[i + 1] * xs[i + 1];
    oStride[i] = oStride[i + 1] * xs[i + 1] * reps[i + 1];
  }
  for (size_t i = 0; i < r; i++) {
    if (xs[i] == 0 || reps[i] == 0) return info.Env().Undefined();
  }
  TileRec(x, xs, reps, xStride, oStride, 0, x, o);
  return info.Env().Undefined();
}

// transpose(x, shape, perm, out): out = x with its axes reordered as perm says (tf.transpose), as one
// oneDNN reorder: the source is described in the output's axis order with the strides perm picks
// out of x's row-major strides, and the destination is plain row-major. oneDNN's reorders walk the
// memory in cache-sized blocks on the OpenMP threads; its primitive cache keeps repeated shapes cheap.
Napi::Value TransposeOp(const Napi::CallbackInfo& info) {
  size_t xlen = 0, olen = 0;
  float* x = F32(info[0], &xlen);
  auto shape = Ints(info[1]);
  auto perm = Ints(info[2]);
  float* o = F32(info[3], &olen);
  size_t r = shape.size();
  if (r == 0 || r > DNNL_MAX_NDIMS || perm.size() != r || xlen != olen) throw std::runtime_error("transpose: bad shapes");
  std::vector<int64_t> xStride(r, 1);
  for (size_t i = r - 1; i-- > 0;) xStride[i] = xStride[i + 1] * shape[i + 1];
  memory::dims outDims(r), srcStrides(r), dstStrides(r, 1);
  for (size_t i = 0; i < r; i++) {
    if (perm[i] < 0 || static_cast<size_t>(perm[i]) >= r) throw std::runtime_error("transpose: bad perm");
    outDims[i] = shape[perm[i]];
    srcStrides[i] = xStride[perm[i]];
  }
  for (size_t i = r - 1; i-- > 0;) dstStrides[i] = dstStrides[i + 1] * outDims[i + 1];
  if (xlen == 0) return info.Env().Undefined();
  memory src({outDims, memory::data_type::f32, srcStrides}, Eng(), x);
  memory dst({outDims, memory::data_type::f32, dstStrides}, Eng(), o);
  reorder(src, dst).execute(Strm(), src, dst);
  Strm().wait();
  return info.Env().Undefined();
}

// sgdStep(param, grad, buf|null, outParam, outBuf|null, lr, momentum, dampening, weightDecay, nesterov):
// torch.optim.SGD's update of one parameter (core's ResnetSgdStep; outBuf null without momentum, buf
// null on the first step). Float32 operations in the order core's composite (sgd-step.ts) runs them as
// tfjs ops, each rounded as tfjs rounds it (no contraction: -ffp-contract=off), so both give the same bits.
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  size_t n = 0;
  const float* p = F32(info[0], &n);
  const float* g = F32(info[1]);
  const float* buf = F32(info[2]);
  float* outP = F32(info[3]);
  float* outBuf = F32(info[4]);
  double lr = info[5].As<Napi::Number>().DoubleValue(), momentum = info[6].As<Napi::Number>().DoubleValue();
  double dampening = info[7].As<Napi::Number>().DoubleValue(), decay = info[8].As<Napi::Number>().DoubleValue();
  bool nesterov = info[9].ToBoolean().Value();
  if (!p || !g || !outP || (momentum != 0 && !outBuf)) throw std::runtime_error("sgdStep: missing arrays");
  const float lrF = static_cast<float>(lr), m = static_cast<float>(momentum), decayF = static_cast<float>(decay);
  const float keep = static_cast<float>(1 - dampening);  // JS computes 1 - dampening in double
  for (size_t i = 0; i < n; i++) {
    float d = g[i];
    if (decay != 0) d = d + p[i] * decayF;
    if (momentum != 0) {
      float b = buf ? buf[i] * m + (dampening == 0 ? d : d * keep) : d;
      outBuf[i] = b;
      d = nesterov ? d + b * m : b;
    }
    outP[i] = p[i] - d * lrF;
  }
  return info.Env().Undefined();
}

}  // namespace resnet_native
