// Batch norm: inference, tfjs's FusedBatchNorm gradient, and core's fused train-mode kernel and its gradient.
#include "common.h"

namespace resnet_native {

// Channels per block in the fast paths: one AVX-512 register of floats (two AVX2, four SSE2). A
// channel count that is a multiple of it (every ResNet's) runs loops of this fixed width, which the
// compiler turns into whole-register operations with the sums held in registers; others take the
// plain loops.
constexpr int64_t kLanes = 16;

// Eight floats / eight doubles as GCC vector types: the fast paths' sums are written with them, since
// the vectoriser left the loops over a block's lanes scalar. Each lane's operations are the scalar
// ones (no FMA: -ffp-contract=off), so the sums keep their bits; each clone splits them into the
// registers it has.
typedef float Floats8 __attribute__((vector_size(32)));
typedef double Doubles8 __attribute__((vector_size(64)));
static inline Doubles8 LoadWidened(const float* p) {
  Floats8 v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, Doubles8);
}
static inline Doubles8 LoadDoubles(const double* p) {
  Doubles8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
static inline void StoreDoubles(double* p, Doubles8 v) { std::memcpy(p, &v, sizeof v); }
// ReluGradValue (common.h) of eight values: dy * step(y), step(NaN) = NaN.
static inline Floats8 ReluGradValues(Floats8 dy, const float* yp) {
  Floats8 y;
  std::memcpy(&y, yp, sizeof y);
  const Floats8 one = {1, 1, 1, 1, 1, 1, 1, 1}, zero = {};
  Floats8 step = y > zero ? one : zero;
  step = y != y ? y : step;
  return dy * step;
}

// Per-thread partial sums: `sums` arrays of c doubles per thread, each thread's slice padded to whole
// cache lines of its own (threads summing into neighbouring words of one line slowed the pass ~2x).
class PartialSums {
 public:
  PartialSums(int threads, int sums, int64_t c)
      : stride_((static_cast<size_t>(sums) * c + 7) / 8 * 8 + 8), data_(static_cast<size_t>(threads) * stride_, 0.0), threads_(threads), c_(c) {}
  double* Of(int thread) { return data_.data() + static_cast<size_t>(thread) * stride_; }
  // Sum number `which` of channel j over all threads.
  double Total(int which, int64_t j) const {
    double s = 0;
    for (int t = 0; t < threads_; t++) s += data_[static_cast<size_t>(t) * stride_ + static_cast<size_t>(which * c_ + j)];
    return s;
  }

 private:
  size_t stride_;
  std::vector<double> data_;
  int threads_;
  int64_t c_;
};

// body(j) for the channels j of a row: in fixed blocks of kLanes when c is a multiple of it (the
// compiler then emits whole-register operations without a remainder loop: ~20 % faster at 16
// channels), else one by one.
template <typename Body>
static inline __attribute__((always_inline)) void ForChannels(int64_t c, Body body) {
  if (c % kLanes == 0) {
    for (int64_t j0 = 0; j0 < c; j0 += kLanes)
      for (int64_t k = 0; k < kLanes; k++) body(j0 + k);
  } else {
    for (int64_t j = 0; j < c; j++) body(j);
  }
}

// y = (x - mean) * mul + add per channel, over `rows` rows of `c` channels (NHWC), then + res and the
// ReLU when asked: the float ops of the separate batch norm, Add and Relu kernels, in their order, in
// one pass. Specialised per epilogue so each inner loop vectorises.
template <bool kResidual, bool kRelu>
static inline __attribute__((always_inline)) void AffineRow(const float* xx, float* yy, const float* rr, int64_t c, const float* mean,
                                                            const float* mul, const float* add) {
  ForChannels(c, [&](int64_t j) __attribute__((always_inline)) {
    float v = (xx[j] - mean[j]) * mul[j] + add[j];
    if (kResidual) v = v + rr[j];
    yy[j] = kRelu ? ReluValue(v) : v;
  });
}

template <bool kResidual, bool kRelu>
static inline __attribute__((always_inline)) void AffineRowsBody(const float* x, float* y, int64_t r0, int64_t r1, int64_t c,
                                                                 const float* mean, const float* mul, const float* add, const float* res) {
  for (int64_t r = r0; r < r1; r++)
    AffineRow<kResidual, kRelu>(x + r * c, y + r * c, kResidual ? res + r * c : nullptr, c, mean, mul, add);
}

// Rows [r0, r1) of the affine pass, compiled for the widest vectors the CPU has (target_clones does
// not take templates: one cloned function picks the specialisation).
RESNET_VECTOR_CLONES
static void AffineEpilogueRows(const float* x, float* y, int64_t r0, int64_t r1, int64_t c, const float* mean, const float* mul,
                               const float* add, const float* res, bool relu) {
  if (res && relu) AffineRowsBody<true, true>(x, y, r0, r1, c, mean, mul, add, res);
  else if (res) AffineRowsBody<true, false>(x, y, r0, r1, c, mean, mul, add, res);
  else if (relu) AffineRowsBody<false, true>(x, y, r0, r1, c, mean, mul, add, res);
  else AffineRowsBody<false, false>(x, y, r0, r1, c, mean, mul, add, res);
}

// The normalisation both batch-norm forwards end with, once their per-channel coefficients are known,
// with the train-mode kernel's optional epilogue (res: a residual to add, or null; relu).
static void ApplyChannelAffine(const float* x, float* y, int64_t rows, int64_t c, const float* mean, const float* mul, const float* add,
                               const float* res = nullptr, bool relu = false) {
  const int nt = ThreadsFor(rows * c);
  ParallelFor(nt, nt, [&](int64_t t) { AffineEpilogueRows(x, y, rows * t / nt, rows * (t + 1) / nt, c, mean, mul, add, res, relu); });
}

// batchNormInference(x, mean, variance, offset|null, scale|null, out, channels, eps):
// per-channel vectors of length `channels` (or 1), x NHWC with channels last.
Napi::Value BatchNormInference(const Napi::CallbackInfo& info) {
  size_t n = 0, nm = 0, nv = 0, no = 0, ns = 0;
  float* x = F32(info[0], &n);
  float* mean = F32(info[1], &nm);
  float* var = F32(info[2], &nv);
  float* off = F32(info[3], &no);
  float* sc = F32(info[4], &ns);
  float* o = F32(info[5]);
  int64_t c = info[6].As<Napi::Number>().Int64Value();
  float eps = info[7].As<Napi::Number>().FloatValue();
  // tfjs: offset + (x - mean) * scale / sqrt(variance + eps). Keep (x - mean) first:
  // folding it into x * a + b cancels catastrophically when |mean| >> std (seen with batch
  // statistics of small batches).
  std::vector<float> mul(c), mv(c), add(c);
  for (int64_t j = 0; j < c; j++) {
    double v = var[nv == 1 ? 0 : j];
    double s = sc ? sc[ns == 1 ? 0 : j] : 1.0;
    mul[j] = static_cast<float>(s / std::sqrt(v + static_cast<double>(eps)));
    mv[j] = mean[nm == 1 ? 0 : j];
    add[j] = off ? off[no == 1 ? 0 : j] : 0.f;
  }
  int64_t rows = static_cast<int64_t>(n) / c;
  ApplyChannelAffine(x, o, rows, c, mv.data(), mul.data(), add.data());
  return info.Env().Undefined();
}

// batchNormGrad(dy, x, mean, variance, scale|null, eps, channels, dx, dmean, dvar, dscale, doffset):
// tfjs's FusedBatchNorm gradient (mean and variance as independent inputs, per-channel vectors)
// in one pass over dy and x. Channel sums accumulate in double.
Napi::Value BatchNormGrad(const Napi::CallbackInfo& info) {
  size_t n = 0, ns = 0;
  float* dy = F32(info[0], &n);
  float* x = F32(info[1]);
  float* mean = F32(info[2]);
  float* var = F32(info[3]);
  float* sc = F32(info[4], &ns);
  float eps = info[5].As<Napi::Number>().FloatValue();
  int64_t c = info[6].As<Napi::Number>().Int64Value();
  float* dx = F32(info[7]);
  float* dmean = F32(info[8]);
  float* dvar = F32(info[9]);
  float* dscale = F32(info[10]);
  float* doffset = F32(info[11]);
  std::vector<float> rs(c), mul(c);
  for (int64_t j = 0; j < c; j++) {
    rs[j] = 1.f / std::sqrt(var[j] + eps);
    float s = sc ? sc[ns == 1 ? 0 : j] : 1.f;
    mul[j] = rs[j] * s;
  }
  int64_t rows = static_cast<int64_t>(n) / c;
  const int nt = ThreadsFor(static_cast<int64_t>(n));
  PartialSums part(nt, 2, c);
  const float* mp = mul.data();
  ParallelFor(nt, nt, [&](int64_t t) {
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* sdy = part.Of(t);
    double* sdyx = sdy + c;
    for (int64_t r = r0; r < r1; r++) {
      const float* g = dy + r * c;
      const float* xx = x + r * c;
      float* o = dx + r * c;
      for (int64_t j = 0; j < c; j++) {
        o[j] = g[j] * mp[j];
        sdy[j] += g[j];
        sdyx[j] += static_cast<double>(g[j]) * (xx[j] - mean[j]);
      }
    }
  });
  for (int64_t j = 0; j < c; j++) {
    const double sdy = part.Total(0, j), sdyx = part.Total(1, j);
    double r = rs[j], s = sc ? sc[ns == 1 ? 0 : j] : 1.0;
    dmean[j] = static_cast<float>(-r * s * sdy);
    dvar[j] = static_cast<float>(-0.5 * r * r * r * s * sdyx);
    dscale[j] = static_cast<float>(r * sdyx);
    doffset[j] = static_cast<float>(sdy);
  }
  return info.Env().Undefined();
}

// Threads for a pass over n elements: all of OpenMP's when n is large enough, else 1. The batch-norm
// kernels split the rows evenly between them, each summing into its own slice of a buffer.
int ThreadsFor(int64_t n) { return ThreadsIf(n >= kParallelMin); }

int ThreadsIf(bool parallel) {
  int nt = 1;
#ifdef _OPENMP
  nt = parallel ? omp_get_max_threads() : 1;
#endif
  return nt;
}

// The batch statistics of channel j when it holds NaN or ±Inf, as tfjs's composite (mean, then the
// mean of squared differences) gives them: the plain sum's IEEE value for the mean (the shifted sums
// would give NaN for Inf - Inf when the shift row is infinite), and NaN for the variance.
void NonFiniteChannelStats(const float* x, int64_t rows, int64_t c, int64_t j, float* mean, float* var) {
  bool nan = false, pos = false, neg = false;
  for (int64_t r = 0; r < rows; r++) {
    float v = x[r * c + j];
    nan = nan || v != v;
    pos = pos || v == std::numeric_limits<float>::infinity();
    neg = neg || v == -std::numeric_limits<float>::infinity();
  }
  const float inf = std::numeric_limits<float>::infinity(), qnan = std::numeric_limits<float>::quiet_NaN();
  *mean = nan || (pos && neg) ? qnan : pos ? inf : neg ? -inf : *mean;
  *var = qnan;
}

// Rows per tile in the sums' fast path: a tile is read once per block of kLanes channels, so its
// rows (64 x c floats) are still in cache for the next block.
constexpr int64_t kTileRows = 64;

// Sums of d = x - x0 and d^2 per channel over rows [r0, r1), in double (vector clones: see GradSums).
// The fast path keeps each block's running sums in registers over a tile of rows (in memory, every
// row's update had to wait for the last row's store); either path adds the rows of each channel in
// the same order, so both give the same bits.
RESNET_VECTOR_CLONES
static void ShiftedSums(const float* x, const float* x0, int64_t r0, int64_t r1, int64_t c, double* s1, double* s2) {
  if (c % kLanes != 0) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xx = x + r * c;
      for (int64_t j = 0; j < c; j++) {
        double d = static_cast<double>(xx[j]) - x0[j];
        s1[j] += d;
        s2[j] += d * d;
      }
    }
    return;
  }
  for (int64_t t0 = r0; t0 < r1; t0 += kTileRows) {
    const int64_t t1 = std::min(r1, t0 + kTileRows);
    for (int64_t j0 = 0; j0 < c; j0 += kLanes) {
      // Lanes j0..j0+7 (lo) and j0+8..j0+15 (hi): four independent chains of adds per row.
      Doubles8 lo1 = LoadDoubles(s1 + j0), hi1 = LoadDoubles(s1 + j0 + 8);
      Doubles8 lo2 = LoadDoubles(s2 + j0), hi2 = LoadDoubles(s2 + j0 + 8);
      const Doubles8 shiftLo = LoadWidened(x0 + j0), shiftHi = LoadWidened(x0 + j0 + 8);
      for (int64_t r = t0; r < t1; r++) {
        const float* xx = x + r * c + j0;
        const Doubles8 dLo = LoadWidened(xx) - shiftLo, dHi = LoadWidened(xx + 8) - shiftHi;
        lo1 += dLo, hi1 += dHi;
        lo2 += dLo * dLo, hi2 += dHi * dHi;
      }
      StoreDoubles(s1 + j0, lo1), StoreDoubles(s1 + j0 + 8, hi1);
      StoreDoubles(s2 + j0, lo2), StoreDoubles(s2 + j0 + 8, hi2);
    }
  }
}


// batchNormTrain(x, scale, offset, eps, channels, y, mean, variance, residual|null, relu): train-mode
// batch norm over x viewed as [rows, channels]. mean and the biased variance come from one pass of
// shifted sums (shifted by the first row, so |mean| >> std does not cancel) accumulated in double; a
// second pass writes y = (x - mean) * scale / sqrt(variance + eps) + offset, rounded like
// BatchNormInference, then y = relu(y + residual) where asked (each part optional).
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  size_t n = 0;
  float* x = F32(info[0], &n);
  float* sc = F32(info[1]);
  float* off = F32(info[2]);
  float eps = info[3].As<Napi::Number>().FloatValue();
  int64_t c = info[4].As<Napi::Number>().Int64Value();
  float* y = F32(info[5]);
  float* mean = F32(info[6]);
  float* var = F32(info[7]);
  size_t nres = 0;
  const float* res = info.Length() > 8 && !info[8].IsNull() ? F32(info[8], &nres) : nullptr;
  bool relu = info.Length() > 9 && info[9].As<Napi::Boolean>().Value();
  if (c <= 0 || n == 0 || static_cast<int64_t>(n) % c != 0 || (res && nres != n)) throw std::runtime_error("batchNormTrain: bad shapes");
  int64_t rows = static_cast<int64_t>(n) / c;
  int nt = ThreadsFor(static_cast<int64_t>(n));
  PartialSums part(nt, 2, c);
  const float* x0 = x;  // the shift: the first row
  ParallelFor(nt, nt, [&](int64_t t) {
    double* s1 = part.Of(t);
    ShiftedSums(x, x0, rows * t / nt, rows * (t + 1) / nt, c, s1, s1 + c);
  });
  std::vector<float> mul(c), mv(c), add(c);
  for (int64_t j = 0; j < c; j++) {
    const double s1 = part.Total(0, j), s2 = part.Total(1, j);
    double m = s1 / static_cast<double>(rows);
    double v = s2 / static_cast<double>(rows) - m * m;
    if (v < 0) v = 0;
    mean[j] = static_cast<float>(x0[j] + m);
    var[j] = static_cast<float>(v);
    if (!std::isfinite(s1) || !std::isfinite(s2)) NonFiniteChannelStats(x, rows, c, j, &mean[j], &var[j]);
    double s = sc ? sc[j] : 1.0;
    mul[j] = static_cast<float>(s / std::sqrt(static_cast<double>(var[j]) + static_cast<double>(eps)));
    mv[j] = mean[j];
    add[j] = off ? off[j] : 0.f;
  }
  ApplyChannelAffine(x, y, rows, c, mv.data(), mul.data(), add.data(), res, relu);
  return info.Env().Undefined();
}

// Pass 1 of BatchNormTrainGrad over rows [r0, r1): sum g, sum g (x - mean), sum (x - mean), with g = dy
// masked by the ReLU's output (kMask) and written to dres (kWrite). Specialised so the loop vectorises.
template <bool kMask, bool kWrite>
static inline __attribute__((always_inline)) void GradSumsBody(const float* dy, const float* x, const float* y, float* dres,
                                                               const float* mean, int64_t r0, int64_t r1, int64_t c, double* sdy,
                                                               double* sdyx, double* sx) {
  if (c % kLanes != 0) {
    for (int64_t r = r0; r < r1; r++) {
      const float* g0 = dy + r * c;
      const float* xx = x + r * c;
      const float* yy = kMask ? y + r * c : nullptr;
      float* gr = kWrite ? dres + r * c : nullptr;
      for (int64_t j = 0; j < c; j++) {
        float g = kMask ? ReluGradValue(g0[j], yy[j]) : g0[j];
        if (kWrite) gr[j] = g;
        double d = static_cast<double>(xx[j]) - mean[j];
        sdy[j] += g;
        sdyx[j] += g * d;
        sx[j] += d;
      }
    }
    return;
  }
  // As ShiftedSums: a block's sums in registers over a tile of rows, each channel's rows in order;
  // eight lanes at a time (the three sums of 16 lanes as doubles would not fit AVX2's registers).
  for (int64_t t0 = r0; t0 < r1; t0 += kTileRows) {
    const int64_t t1 = std::min(r1, t0 + kTileRows);
    for (int64_t j0 = 0; j0 < c; j0 += 8) {
      Doubles8 a1 = LoadDoubles(sdy + j0), a2 = LoadDoubles(sdyx + j0), a3 = LoadDoubles(sx + j0);
      const Doubles8 m = LoadWidened(mean + j0);
      for (int64_t r = t0; r < t1; r++) {
        const int64_t o = r * c + j0;
        Floats8 g;
        std::memcpy(&g, dy + o, sizeof g);
        if (kMask) g = ReluGradValues(g, y + o);
        if (kWrite) std::memcpy(dres + o, &g, sizeof g);
        const Doubles8 gd = __builtin_convertvector(g, Doubles8), d = LoadWidened(x + o) - m;
        a1 += gd;
        a2 += gd * d;
        a3 += d;
      }
      StoreDoubles(sdy + j0, a1), StoreDoubles(sdyx + j0, a2), StoreDoubles(sx + j0, a3);
    }
  }
}

// The double-precision sums are most of pass 1's work: compiled for the widest vectors the CPU has
// (4-8 doubles per instruction instead of SSE2's 2; the sums per channel keep their order, and
// -ffp-contract=off in binding.gyp rules out FMA, so every clone gives the baseline's bits).
RESNET_VECTOR_CLONES
static void GradSums(const float* dy, const float* x, const float* y, float* dres, const float* mean, int64_t r0, int64_t r1,
                     int64_t c, double* sdy, double* sdyx, double* sx) {
  if (y && dres) GradSumsBody<true, true>(dy, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx);
  else if (y) GradSumsBody<true, false>(dy, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx);
  else if (dres) GradSumsBody<false, true>(dy, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx);
  else GradSumsBody<false, false>(dy, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx);
}

// dx = g * A + (x - M) * B + C per channel over rows [r0, r1), g being dy masked by the ReLU of
// y (when y is given) or pass 1's masked copy of it in dres (when that was written).
template <int kSource>  // 0: dy as is, 1: dy masked by y, 2: the masked dy in dres
static inline __attribute__((always_inline)) void GradApplyBody(const float* g0, const float* x, const float* y, float* dx, int64_t r0,
                                                                int64_t r1, int64_t c, const float* A, const float* B, const float* C,
                                                                const float* M) {
  for (int64_t r = r0; r < r1; r++) {
    const int64_t o = r * c;
    ForChannels(c, [&](int64_t j) __attribute__((always_inline)) {
      const float g = kSource == 1 ? ReluGradValue(g0[o + j], y[o + j]) : g0[o + j];
      dx[o + j] = g * A[j] + (x[o + j] - M[j]) * B[j] + C[j];
    });
  }
}

RESNET_VECTOR_CLONES
static void GradApplyRows(const float* dy, const float* x, const float* y, const float* dres, float* dx, int64_t r0, int64_t r1,
                          int64_t c, const float* A, const float* B, const float* C, const float* M) {
  if (dres) GradApplyBody<2>(dres, x, nullptr, dx, r0, r1, c, A, B, C, M);
  else if (y) GradApplyBody<1>(dy, x, y, dx, r0, r1, c, A, B, C, M);
  else GradApplyBody<0>(dy, x, nullptr, dx, r0, r1, c, A, B, C, M);
}

// batchNormTrainGrad(dy, dmean, dvar, x, scale, mean, variance, eps, channels, dx, dscale, doffset,
// y|null, dresidual|null): the gradient of BatchNormTrain with the statistics as functions of x. With y
// (the forward output of a ReLU-ending batch norm) dy is first masked as tfjs's ReLU gradient does,
// and that masked dy is written to dresidual when given; below, dy means the masked one. With
// r = 1/sqrt(var + eps), N = rows: doffset = sum dy, dscale = r * sum dy (x - mean),
// dx = scale r (dy - doffset/N - (x - mean) r dscale/N) + dmean/N + dvar 2 (x - mean)/N,
// i.e. dx = A dy + B (x - mean) + C per channel. Two passes; sums in double.
Napi::Value BatchNormTrainGrad(const Napi::CallbackInfo& info) {
  size_t n = 0;
  float* dy = F32(info[0], &n);
  float* dmean = F32(info[1]);
  float* dvar = F32(info[2]);
  float* x = F32(info[3]);
  float* sc = F32(info[4]);
  float* mean = F32(info[5]);
  float* var = F32(info[6]);
  float eps = info[7].As<Napi::Number>().FloatValue();
  int64_t c = info[8].As<Napi::Number>().Int64Value();
  float* dx = F32(info[9]);
  float* dscale = F32(info[10]);
  float* doffset = F32(info[11]);
  // With the forward's ReLU: its output y (dy is masked by it first) and, with a residual, where that
  // masked dy (the residual's gradient) goes.
  size_t ny = 0, nres = 0;
  const float* y = info.Length() > 12 && !info[12].IsNull() ? F32(info[12], &ny) : nullptr;
  float* dres = info.Length() > 13 && !info[13].IsNull() ? F32(info[13], &nres) : nullptr;
  if (c <= 0 || n == 0 || static_cast<int64_t>(n) % c != 0 || (y && ny != n) || (dres && nres != n))
    throw std::runtime_error("batchNormTrainGrad: bad shapes");
  int64_t rows = static_cast<int64_t>(n) / c;
  int nt = ThreadsFor(static_cast<int64_t>(n));
  // Pass 1: sum dy, sum dy (x - mean), and sum (x - mean): `mean` is the float-rounded batch mean,
  // off the exact one by delta = sum (x - mean) / N, which matters when |mean| >> std; centring on
  // the exact mean below keeps dx as accurate as the composite's.
  PartialSums part(nt, 3, c);
  ParallelFor(nt, nt, [&](int64_t t) {
    double* sdy = part.Of(t);
    GradSums(dy, x, y, dres, mean, rows * t / nt, rows * (t + 1) / nt, c, sdy, sdy + c, sdy + 2 * c);
  });
  std::vector<float> A(c), B(c), C(c), M(c);
  const double N = static_cast<double>(rows);
  for (int64_t j = 0; j < c; j++) {
    const double sdy = part.Total(0, j), sdyx = part.Total(1, j), sx = part.Total(2, j);
    double delta = sx / N;  // exact mean - mean
    double r = 1.0 / std::sqrt(static_cast<double>(var[j]) + static_cast<double>(eps));
    double s = sc ? sc[j] : 1.0;
    // dscale as the forward computed y: with (x - mean). dx: the exact-mean form.
    dscale[j] = static_cast<float>(r * sdyx);
    double ds = r * (sdyx - delta * sdy);
    doffset[j] = static_cast<float>(sdy);
    double k = s * r;
    double dm = dmean ? dmean[j] : 0.0, dv = dvar ? dvar[j] : 0.0;
    double b = 2.0 * dv / N - k * r * ds / N;
    // dx = k dy + b (x - exact mean) + dm/N - k sdy/N, with x - exact mean = (x - mean) - delta.
    A[j] = static_cast<float>(k);
    B[j] = static_cast<float>(b);
    C[j] = static_cast<float>(dm / N - k * sdy / N - b * delta);
    M[j] = mean[j];
  }
  const int nt2 = ThreadsFor(static_cast<int64_t>(n));
  ParallelFor(nt2, nt2, [&](int64_t t) {
    GradApplyRows(dy, x, y, dres, dx, rows * t / nt2, rows * (t + 1) / nt2, c, A.data(), B.data(), C.data(), M.data());
  });
  return info.Env().Undefined();
}

}  // namespace resnet_native
