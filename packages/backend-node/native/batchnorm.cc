// Batch norm: the NHWC affine pass all batch norms end with, inference, and tfjs's FusedBatchNorm
// gradient (core's fused train-mode kernel and its gradient: batchnorm_train.cc).
#include "batchnorm.h"

namespace resnet_native {

// y = (x - mean) * mul + add per channel over one row, then + res and the ReLU when asked: the float
// ops of the separate batch norm, Add and Relu kernels, in their order, in one pass. The buffers'
// channel blocks lie bx, by, br floats apart (kLanes in NHWC; see RowLayout). Specialised per
// epilogue so each inner loop vectorises; the coefficients are __restrict (no store to y changes
// them), or the compiler reloads them after every store.
template <bool kResidual, bool kRelu>
static inline __attribute__((always_inline)) void AffineRow(const float* xx, float* yy, const float* rr, int64_t c,
                                                            const float* __restrict mean, const float* __restrict mul,
                                                            const float* __restrict add, int64_t bx, int64_t by, int64_t br) {
  if (c % kLanes != 0) {  // NHWC only (RowLayout)
    for (int64_t j = 0; j < c; j++) {
      float v = (xx[j] - mean[j]) * mul[j] + add[j];
      if (kResidual) v = v + rr[j];
      yy[j] = kRelu ? ReluValue(v) : v;
    }
    return;
  }
  for (int64_t j0 = 0, b = 0; j0 < c; j0 += kLanes, b++) {
    const float* xb = xx + b * bx;
    float* yb = yy + b * by;
    const float* rb = kResidual ? rr + b * br : nullptr;
    for (int64_t k = 0; k < kLanes; k++) {
      float v = (xb[k] - mean[j0 + k]) * mul[j0 + k] + add[j0 + k];
      if (kResidual) v = v + rb[k];
      yb[k] = kRelu ? ReluValue(v) : v;
    }
  }
}

template <bool kResidual, bool kRelu>
static inline __attribute__((always_inline)) void AffineRowsBody(const float* x, float* y, int64_t r0, int64_t r1, int64_t c,
                                                                 const float* mean, const float* mul, const float* add, const float* res,
                                                                 const BnLayouts& L) {
  for (int64_t r = r0, p = r0 % L.hw; r < r1; r++, p = p + 1 == L.hw ? 0 : p + 1)
    AffineRow<kResidual, kRelu>(x + L.in.RowStart(r, p), y + L.out.RowStart(r, p), kResidual ? res + L.res.RowStart(r, p) : nullptr, c,
                                mean, mul, add, L.in.block, L.out.block, L.res.block);
}

// Rows [r0, r1) of the affine pass, compiled for the widest vectors the CPU has (target_clones does
// not take templates: one cloned function picks the specialisation).
RESNET_VECTOR_CLONES
static void AffineEpilogueRows(const float* x, float* y, int64_t r0, int64_t r1, int64_t c, const float* mean, const float* mul,
                               const float* add, const float* res, bool relu, const BnLayouts& L) {
  if (res && relu) AffineRowsBody<true, true>(x, y, r0, r1, c, mean, mul, add, res, L);
  else if (res) AffineRowsBody<true, false>(x, y, r0, r1, c, mean, mul, add, res, L);
  else if (relu) AffineRowsBody<false, true>(x, y, r0, r1, c, mean, mul, add, res, L);
  else AffineRowsBody<false, false>(x, y, r0, r1, c, mean, mul, add, res, L);
}

// The affine pass over one channel block of one image in the channel-blocked layout: `n` floats, lane
// l of every kLanes being channel j0 + l. The coefficients are copied to locals first so the compiler
// keeps them in registers (y might alias the arrays they come from).
template <bool kResidual, bool kRelu>
static inline __attribute__((always_inline)) void AffineBlockBody(const float* x, float* y, const float* res, int64_t n, const float* mean,
                                                                  const float* mul, const float* add) {
  float m[kLanes], k[kLanes], a[kLanes];
  for (int64_t l = 0; l < kLanes; l++) m[l] = mean[l], k[l] = mul[l], a[l] = add[l];
  for (int64_t i = 0; i < n; i += kLanes) {
    for (int64_t l = 0; l < kLanes; l++) {
      float v = (x[i + l] - m[l]) * k[l] + a[l];
      if (kResidual) v = v + res[i + l];
      y[i + l] = kRelu ? ReluValue(v) : v;
    }
  }
}

RESNET_VECTOR_CLONES
static void AffineBlock(const float* x, float* y, const float* res, bool relu, int64_t n, const float* mean, const float* mul,
                        const float* add) {
  if (res && relu) AffineBlockBody<true, true>(x, y, res, n, mean, mul, add);
  else if (res) AffineBlockBody<true, false>(x, y, res, n, mean, mul, add);
  else if (relu) AffineBlockBody<false, true>(x, y, res, n, mean, mul, add);
  else AffineBlockBody<false, false>(x, y, res, n, mean, mul, add);
}

// The normalisation both batch-norm forwards end with, once their per-channel coefficients are known,
// with the train-mode kernel's optional epilogue (res: a residual to add, or null; relu).
// When every buffer is channel-blocked, the pass runs over whole channel blocks of whole images (each
// hw rows of kLanes channels, in one piece: ~20 % faster than row by row, which visits every block
// of each row); the values are the same, as each element's ops are.
void ApplyChannelAffine(const float* x, float* y, int64_t rows, int64_t c, const float* mean, const float* mul, const float* add,
                        const BnLayouts& layouts, const float* res, bool relu) {
  const int nt = ThreadsFor(rows * c);
  if (!layouts.AllBlocked(res != nullptr)) {
    ParallelFor(nt, nt, [&](int64_t t) { AffineEpilogueRows(x, y, rows * t / nt, rows * (t + 1) / nt, c, mean, mul, add, res, relu, layouts); });
    return;
  }
  ParallelBlockPieces(rows * c, nt, layouts.hw, c, [&](int64_t at, int64_t count, int64_t j0) {
    AffineBlock(x + at, y + at, res ? res + at : nullptr, relu, count, mean + j0, mul + j0, add + j0);
  });
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
  ApplyChannelAffine(x, o, rows, c, mv.data(), mul.data(), add.data(), BnLayouts::Nhwc(c));
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

}  // namespace resnet_native
