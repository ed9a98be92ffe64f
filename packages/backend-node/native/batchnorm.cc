// Batch norm: inference, tfjs's FusedBatchNorm gradient, and core's fused train-mode kernel and its gradient.
#include "common.h"

namespace resnet_native {

// y = (x - mean) * mul + add per channel, over `rows` rows of `c` channels (NHWC), then + res and the
// ReLU when asked: the float ops of the separate batch norm, Add and Relu kernels, in their order, in
// one pass. Specialised per epilogue so each inner loop vectorises.
template <bool kResidual, bool kRelu>
static void AffineEpilogueLoop(const float* x, float* y, int64_t rows, int64_t c, const float* mean, const float* mul,
                               const float* add, const float* res) {
#pragma omp parallel for if (rows * c >= kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xx = x + r * c;
    const float* rr = kResidual ? res + r * c : nullptr;
    float* yy = y + r * c;
    for (int64_t j = 0; j < c; j++) {
      float v = (xx[j] - mean[j]) * mul[j] + add[j];
      if (kResidual) v = v + rr[j];
      yy[j] = kRelu ? ReluValue(v) : v;
    }
  }
}

// The normalisation both batch-norm forwards end with, once their per-channel coefficients are known,
// with the train-mode kernel's optional epilogue (res: a residual to add, or null; relu).
static void ApplyChannelAffine(const float* x, float* y, int64_t rows, int64_t c, const float* mean, const float* mul, const float* add,
                               const float* res = nullptr, bool relu = false) {
  if (res && relu) AffineEpilogueLoop<true, true>(x, y, rows, c, mean, mul, add, res);
  else if (res) AffineEpilogueLoop<true, false>(x, y, rows, c, mean, mul, add, res);
  else if (relu) AffineEpilogueLoop<false, true>(x, y, rows, c, mean, mul, add, res);
  else AffineEpilogueLoop<false, false>(x, y, rows, c, mean, mul, add, res);
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
  int nt = 1;
#ifdef _OPENMP
  nt = static_cast<int64_t>(n) >= kParallelMin ? omp_get_max_threads() : 1;
#endif
  std::vector<double> part(static_cast<size_t>(nt) * 2 * c, 0.0);
  const float* mp = mul.data();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < nt; t++) {
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* sdy = part.data() + static_cast<size_t>(t) * 2 * c;
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
  }
  for (int64_t j = 0; j < c; j++) {
    double sdy = 0, sdyx = 0;
    for (int t = 0; t < nt; t++) {
      sdy += part[static_cast<size_t>(t) * 2 * c + j];
      sdyx += part[static_cast<size_t>(t) * 2 * c + c + j];
    }
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
int ThreadsFor(int64_t n) {
  int nt = 1;
#ifdef _OPENMP
  nt = n >= kParallelMin ? omp_get_max_threads() : 1;
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

// Sums of d = x - x0 and d^2 per channel over rows [r0, r1), in double (vector clones: see GradSums).
RESNET_VECTOR_CLONES
static void ShiftedSums(const float* x, const float* x0, int64_t r0, int64_t r1, int64_t c, double* s1, double* s2) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xx = x + r * c;
    for (int64_t j = 0; j < c; j++) {
      double d = static_cast<double>(xx[j]) - x0[j];
      s1[j] += d;
      s2[j] += d * d;
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
  std::vector<double> part(static_cast<size_t>(nt) * 2 * c, 0.0);
  const float* x0 = x;  // the shift: the first row
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < nt; t++) {
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* s1 = part.data() + static_cast<size_t>(t) * 2 * c;
    ShiftedSums(x, x0, r0, r1, c, s1, s1 + c);
  }
  std::vector<float> mul(c), mv(c), add(c);
  for (int64_t j = 0; j < c; j++) {
    double s1 = 0, s2 = 0;
    for (int t = 0; t < nt; t++) {
      s1 += part[static_cast<size_t>(t) * 2 * c + j];
      s2 += part[static_cast<size_t>(t) * 2 * c + c + j];
    }
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
  std::vector<double> part(static_cast<size_t>(nt) * 3 * c, 0.0);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < nt; t++) {
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* sdy = part.data() + static_cast<size_t>(t) * 3 * c;
    double* sdyx = sdy + c;
    double* sx = sdyx + c;
    GradSums(dy, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx);
  }
  std::vector<float> A(c), B(c), C(c), M(c);
  const double N = static_cast<double>(rows);
  for (int64_t j = 0; j < c; j++) {
    double sdy = 0, sdyx = 0, sx = 0;
    for (int t = 0; t < nt; t++) {
      sdy += part[static_cast<size_t>(t) * 3 * c + j];
      sdyx += part[static_cast<size_t>(t) * 3 * c + c + j];
      sx += part[static_cast<size_t>(t) * 3 * c + 2 * c + j];
    }
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
  const float *ap = A.data(), *bp = B.data(), *cp = C.data(), *mp = M.data();
#pragma omp parallel for if (static_cast<int64_t>(n) >= kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* g0 = dy + r * c;
    const float* xx = x + r * c;
    const float* yy = y ? y + r * c : nullptr;
    const float* gr = dres ? dres + r * c : nullptr;  // the masked dy of pass 1
    float* o = dx + r * c;
    if (gr) {
      for (int64_t j = 0; j < c; j++) o[j] = gr[j] * ap[j] + (xx[j] - mp[j]) * bp[j] + cp[j];
    } else if (yy) {
      for (int64_t j = 0; j < c; j++) o[j] = ReluGradValue(g0[j], yy[j]) * ap[j] + (xx[j] - mp[j]) * bp[j] + cp[j];
    } else {
      for (int64_t j = 0; j < c; j++) o[j] = g0[j] * ap[j] + (xx[j] - mp[j]) * bp[j] + cp[j];
    }
  }
  return info.Env().Undefined();
}

}  // namespace resnet_native
