// Core's fused train-mode batch norm (batch statistics, optional residual and ReLU) and its gradient,
// over NHWC or channel-blocked buffers (RowLayout, batchnorm.h).
#include "batchnorm.h"

namespace resnet_native {

// The batch statistics of channel j when it holds NaN or ±Inf, as tfjs's composite (mean, then the
// mean of squared differences) gives them: the plain sum's IEEE value for the mean (the shifted sums
// would give NaN for Inf - Inf when the shift row is infinite), and NaN for the variance.
void NonFiniteChannelStats(const float* x, const RowLayout& layout, int64_t rows, int64_t j, float* mean, float* var) {
  bool nan = false, pos = false, neg = false;
  for (int64_t r = 0; r < rows; r++) {
    float v = x[layout.At(r, j)];
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

// With a channel-blocked buffer, a tile stays within one image, where each block's rows follow one
// another (kLanes floats apart), and runs up to this many rows: reading a block's rows as one long
// run was ~25 % faster than 64 at a time, and a tile's NHWC rows (read once per block) still fit L2.
constexpr int64_t kBlockedTileRows = 256;

// The end of the tile of rows that starts at row t0 (rows end at r1).
static inline int64_t TileEnd(int64_t t0, int64_t r1, int64_t hw, bool blocked) {
  return blocked ? std::min({r1, t0 - t0 % hw + hw, t0 + kBlockedTileRows}) : std::min(r1, t0 + kTileRows);
}

// The factor BatchNormTrain normalises channel j with, scale / sqrt(variance + eps) rounded to float;
// its gradient recomputes it (kReluOfX) and must get the same bits.
static inline float NormFactor(const float* sc, const float* var, float eps, int64_t j) {
  const double s = sc ? sc[j] : 1.0;
  return static_cast<float>(s / std::sqrt(static_cast<double>(var[j]) + static_cast<double>(eps)));
}

// The layouts of a train-mode kernel's buffers from its (hw, bits) arguments at `at` (see BnLayouts),
// checked against its `rows` rows of `c` channels.
static BnLayouts LayoutsArg(const Napi::CallbackInfo& info, size_t at, int64_t rows, int64_t c) {
  // kLanes channels: NHWC and nChw16c are the same bytes (all rows one run), and the channel-blocked
  // loops are the faster ones (pass 2 of the gradient ~35 % at ResNet-20's sizes).
  if (c == kLanes) return BnLayouts(c, rows, 7);
  if (info.Length() <= at + 1 || !info[at].IsNumber()) return BnLayouts::Nhwc(c);
  const int64_t hw = info[at].As<Napi::Number>().Int64Value(), bits = info[at + 1].As<Napi::Number>().Int64Value();
  if (bits == 0) return BnLayouts::Nhwc(c);
  if (hw <= 0 || rows % hw != 0 || c % kLanes != 0)
    throw std::runtime_error("batch norm: channel-blocked buffers need whole images and a multiple of 16 channels");
  return BnLayouts(c, hw, bits);
}

// Sums of d = x - x0 and d^2 per channel over rows [r0, r1), in double (vector clones: see GradSums).
// The fast path keeps each block's running sums in registers over a tile of rows (in memory, every
// row's update had to wait for the last row's store); either path adds the rows of each channel in
// the same order, so both give the same bits.
RESNET_VECTOR_CLONES
static void ShiftedSums(const float* x, const float* x0, int64_t r0, int64_t r1, int64_t c, double* s1, double* s2, const RowLayout& L) {
  if (c % kLanes != 0) {  // NHWC only (RowLayout)
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
  for (int64_t t0 = r0, t1; t0 < r1; t0 = t1) {
    t1 = TileEnd(t0, r1, L.hw, L.blocked);
    const int64_t start = L.At(t0, 0), step = L.RowStep();
    for (int64_t j0 = 0; j0 < c; j0 += kLanes) {
      const float* xx = x + start + L.Lanes8(j0);
      // Lanes j0..j0+7 (lo) and j0+8..j0+15 (hi): four independent chains of adds per row.
      Doubles8 lo1 = LoadDoubles(s1 + j0), hi1 = LoadDoubles(s1 + j0 + 8);
      Doubles8 lo2 = LoadDoubles(s2 + j0), hi2 = LoadDoubles(s2 + j0 + 8);
      const Doubles8 shiftLo = LoadWidened(x0 + j0), shiftHi = LoadWidened(x0 + j0 + 8);
      for (int64_t r = t0; r < t1; r++, xx += step) {
        const Doubles8 dLo = LoadWidened(xx) - shiftLo, dHi = LoadWidened(xx + 8) - shiftHi;
        lo1 += dLo, hi1 += dHi;
        lo2 += dLo * dLo, hi2 += dHi * dHi;
      }
      StoreDoubles(s1 + j0, lo1), StoreDoubles(s1 + j0 + 8, hi1);
      StoreDoubles(s2 + j0, lo2), StoreDoubles(s2 + j0 + 8, hi2);
    }
  }
}

// batchNormTrain(x, scale, offset, eps, channels, y, mean, variance, residual|null, relu, hw?, layout?):
// train-mode batch norm over x viewed as [rows, channels] (NHWC, or as BnLayouts says). mean and the biased variance come from one pass of
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
  const BnLayouts L = LayoutsArg(info, 10, rows, c);
  int nt = ThreadsFor(static_cast<int64_t>(n));
  PartialSums part(nt, 2, c);
  std::vector<float> shift(c);  // the first row
  for (int64_t j = 0; j < c; j++) shift[j] = x[L.in.At(0, j)];
  const float* x0 = shift.data();
  ParallelFor(nt, nt, [&](int64_t t) {
    double* s1 = part.Of(t);
    ShiftedSums(x, x0, rows * t / nt, rows * (t + 1) / nt, c, s1, s1 + c, L.in);
  });
  std::vector<float> mul(c), mv(c), add(c);
  for (int64_t j = 0; j < c; j++) {
    const double s1 = part.Total(0, j), s2 = part.Total(1, j);
    double m = s1 / static_cast<double>(rows);
    double v = s2 / static_cast<double>(rows) - m * m;
    if (v < 0) v = 0;
    mean[j] = static_cast<float>(x0[j] + m);
    var[j] = static_cast<float>(v);
    if (!std::isfinite(s1) || !std::isfinite(s2)) NonFiniteChannelStats(x, L.in, rows, j, &mean[j], &var[j]);
    mul[j] = NormFactor(sc, var, eps, j);
    mv[j] = mean[j];
    add[j] = off ? off[j] : 0.f;
  }
  ApplyChannelAffine(x, y, rows, c, mv.data(), mul.data(), add.data(), L, res, relu);
  return info.Env().Undefined();
}

// Where the ReLU mask of a ReLU-ending batch norm's gradient comes from: its output y, or its output
// recomputed from x with the forward's coefficients, v = (x - mean) * mul + add, the same float ops and
// so the same bits (for a batch norm without a residual: no read of y, ~8 MB a pass at ResNet-20's 16
// channels, batch 128).
constexpr int kNoRelu = 0, kReluOfY = 1, kReluOfX = 3;

// The forward's per-channel affine (mul, add), for kReluOfX.
struct ForwardAffine {
  const float *mul, *add;
};

// Pass 1 of BatchNormTrainGrad over rows [r0, r1): sum g, sum g (x - mean), sum (x - mean), with g = dy
// (plus dy2 with kSum: the output's two gradients, added as tfjs's Add would) masked by the ReLU as
// kMask says and written to dres (kWrite). Specialised so the loop vectorises. dy, dy2 and y are in
// the output's layout, x in the input's, dres in the residual's (L).
template <int kMask, bool kWrite, bool kSum = false>
static inline __attribute__((always_inline)) void GradSumsBody(const float* dy, const float* dy2, const float* x, const float* y,
                                                               float* dres, const float* mean, int64_t r0, int64_t r1, int64_t c,
                                                               double* sdy, double* sdyx, double* sx, const BnLayouts& L,
                                                               ForwardAffine f) {
  if (c % kLanes != 0) {  // NHWC only (RowLayout)
    for (int64_t r = r0; r < r1; r++) {
      const float* g0 = dy + r * c;
      const float* g2 = kSum ? dy2 + r * c : nullptr;
      const float* xx = x + r * c;
      const float* yy = kMask == kReluOfY ? y + r * c : nullptr;
      float* gr = kWrite ? dres + r * c : nullptr;
      for (int64_t j = 0; j < c; j++) {
        const float gs = kSum ? g0[j] + g2[j] : g0[j];
        float g = kMask == kReluOfY ? ReluGradValue(gs, yy[j])
                  : kMask == kReluOfX ? ReluGradValue(gs, (xx[j] - mean[j]) * f.mul[j] + f.add[j])
                                      : gs;
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
  const bool blocked = L.in.blocked || L.out.blocked || (kWrite && L.res.blocked);
  const int64_t si = L.in.RowStep(), so = L.out.RowStep(), sr = L.res.RowStep();
  for (int64_t t0 = r0, t1; t0 < r1; t0 = t1) {
    t1 = TileEnd(t0, r1, L.hw, blocked);
    const int64_t in = L.in.At(t0, 0), out = L.out.At(t0, 0), res = L.res.At(t0, 0);
    for (int64_t j0 = 0; j0 < c; j0 += 8) {
      int64_t i = in + L.in.Lanes8(j0), o = out + L.out.Lanes8(j0), w = res + L.res.Lanes8(j0);
      Doubles8 a1 = LoadDoubles(sdy + j0), a2 = LoadDoubles(sdyx + j0), a3 = LoadDoubles(sx + j0);
      const Doubles8 m = LoadWidened(mean + j0);
      Floats8 fm = {}, fmul = {}, fadd = {};  // the forward's affine of these lanes (kReluOfX)
      if (kMask == kReluOfX) {
        std::memcpy(&fm, mean + j0, sizeof fm);
        std::memcpy(&fmul, f.mul + j0, sizeof fmul), std::memcpy(&fadd, f.add + j0, sizeof fadd);
      }
      for (int64_t r = t0; r < t1; r++, i += si, o += so, w += sr) {
        Floats8 g, xf;
        std::memcpy(&g, dy + o, sizeof g);
        if (kSum) {
          Floats8 g2;
          std::memcpy(&g2, dy2 + o, sizeof g2);
          g = g + g2;
        }
        std::memcpy(&xf, x + i, sizeof xf);
        if (kMask == kReluOfY) g = ReluGradValues(g, y + o);
        if (kMask == kReluOfX) g = ReluGradOf(g, (xf - fm) * fmul + fadd);
        if (kWrite) std::memcpy(dres + w, &g, sizeof g);
        const Doubles8 gd = __builtin_convertvector(g, Doubles8), d = __builtin_convertvector(xf, Doubles8) - m;
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
static void GradSums(const float* dy, const float* dy2, const float* x, const float* y, float* dres, const float* mean, int64_t r0,
                     int64_t r1, int64_t c, double* sdy, double* sdyx, double* sx, const BnLayouts& L, ForwardAffine f) {
  if (f.mul) GradSumsBody<kReluOfX, false>(dy, dy2, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx, L, f);
  else if (y && dres && dy2) GradSumsBody<kReluOfY, true, true>(dy, dy2, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx, L, f);
  else if (y && dres) GradSumsBody<kReluOfY, true>(dy, dy2, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx, L, f);
  else if (y) GradSumsBody<kReluOfY, false>(dy, dy2, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx, L, f);
  else if (dres) GradSumsBody<kNoRelu, true>(dy, dy2, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx, L, f);
  else GradSumsBody<kNoRelu, false>(dy, dy2, x, y, dres, mean, r0, r1, c, sdy, sdyx, sx, L, f);
}

// The per-channel coefficients of pass 2: dx = g * A + (x - M) * B + C.
struct GradCoefficients {
  const float *A, *B, *C, *M;
  ForwardAffine f;  // with kReluOfX
};

// dx = g * A + (x - M) * B + C per channel over one row, g being dy masked by the ReLU of y (kSource
// kReluOfY) or of the recomputed output (kReluOfX), pass 1's masked copy of it in dres (2), or dy as
// is (kNoRelu). Channel blocks lie gb, yb, xb
// floats apart in g, y and x / dx (see RowLayout).
template <int kSource>
static inline __attribute__((always_inline)) void GradApplyRow(const float* g, const float* y, const float* x, float* dx, int64_t c,
                                                               const GradCoefficients& k, int64_t gb, int64_t yb, int64_t xb) {
  // __restrict: no store to dx changes them (else the compiler reloads them after every store).
  const float* __restrict A = k.A;
  const float* __restrict B = k.B;
  const float* __restrict C = k.C;
  const float* __restrict M = k.M;
  if (c % kLanes != 0) {  // NHWC only (RowLayout)
    for (int64_t j = 0; j < c; j++) {
      const float gj = kSource == kReluOfY   ? ReluGradValue(g[j], y[j])
                       : kSource == kReluOfX ? ReluGradValue(g[j], (x[j] - M[j]) * k.f.mul[j] + k.f.add[j])
                                             : g[j];
      dx[j] = gj * A[j] + (x[j] - M[j]) * B[j] + C[j];
    }
    return;
  }
  for (int64_t j0 = 0, b = 0; j0 < c; j0 += kLanes, b++) {
    const float* gg = g + b * gb;
    const float* yy = kSource == kReluOfY ? y + b * yb : nullptr;
    const float* xx = x + b * xb;
    float* dd = dx + b * xb;
    for (int64_t l = 0; l < kLanes; l++) {
      const int64_t j = j0 + l;
      const float gj = kSource == kReluOfY   ? ReluGradValue(gg[l], yy[l])
                       : kSource == kReluOfX ? ReluGradValue(gg[l], (xx[l] - M[j]) * k.f.mul[j] + k.f.add[j])
                                             : gg[l];
      dd[l] = gj * A[j] + (xx[l] - M[j]) * B[j] + C[j];
    }
  }
}

template <int kSource>
static inline __attribute__((always_inline)) void GradApplyBody(const float* g, const float* x, const float* y, float* dx, int64_t r0,
                                                                int64_t r1, int64_t c, const GradCoefficients& k, const BnLayouts& L) {
  const RowLayout& gl = kSource == 2 ? L.res : L.out;
  for (int64_t r = r0, p = r0 % L.hw; r < r1; r++, p = p + 1 == L.hw ? 0 : p + 1) {
    const int64_t xo = L.in.RowStart(r, p);
    GradApplyRow<kSource>(g + gl.RowStart(r, p), kSource == kReluOfY ? y + L.out.RowStart(r, p) : nullptr, x + xo, dx + xo, c, k, gl.block,
                          L.out.block, L.in.block);
  }
}

// Pass 2 over one channel block of one image in the channel-blocked layout (`n` floats; as
// AffineBlockBody in batchnorm.cc, the coefficients in locals).
template <int kSource>
static inline __attribute__((always_inline)) void GradApplyBlockBody(const float* g, const float* y, const float* x, float* dx, int64_t n,
                                                                     const GradCoefficients& k) {
  float A[kLanes], B[kLanes], C[kLanes], M[kLanes], fmul[kLanes], fadd[kLanes];
  for (int64_t l = 0; l < kLanes; l++) A[l] = k.A[l], B[l] = k.B[l], C[l] = k.C[l], M[l] = k.M[l];
  if (kSource == kReluOfX)
    for (int64_t l = 0; l < kLanes; l++) fmul[l] = k.f.mul[l], fadd[l] = k.f.add[l];
  for (int64_t i = 0; i < n; i += kLanes) {
    for (int64_t l = 0; l < kLanes; l++) {
      const float gj = kSource == kReluOfY   ? ReluGradValue(g[i + l], y[i + l])
                       : kSource == kReluOfX ? ReluGradValue(g[i + l], (x[i + l] - M[l]) * fmul[l] + fadd[l])
                                             : g[i + l];
      dx[i + l] = gj * A[l] + (x[i + l] - M[l]) * B[l] + C[l];
    }
  }
}

RESNET_VECTOR_CLONES
static void GradApplyBlock(const float* dy, const float* x, const float* y, const float* dres, float* dx, int64_t n,
                           const GradCoefficients& k) {
  if (dres) GradApplyBlockBody<2>(dres, nullptr, x, dx, n, k);
  else if (k.f.mul) GradApplyBlockBody<kReluOfX>(dy, nullptr, x, dx, n, k);
  else if (y) GradApplyBlockBody<kReluOfY>(dy, y, x, dx, n, k);
  else GradApplyBlockBody<kNoRelu>(dy, nullptr, x, dx, n, k);
}

RESNET_VECTOR_CLONES
static void GradApplyRows(const float* dy, const float* x, const float* y, const float* dres, float* dx, int64_t r0, int64_t r1,
                          int64_t c, const GradCoefficients& k, const BnLayouts& L) {
  if (dres) GradApplyBody<2>(dres, x, nullptr, dx, r0, r1, c, k, L);
  else if (k.f.mul) GradApplyBody<kReluOfX>(dy, x, nullptr, dx, r0, r1, c, k, L);
  else if (y) GradApplyBody<kReluOfY>(dy, x, y, dx, r0, r1, c, k, L);
  else GradApplyBody<kNoRelu>(dy, x, nullptr, dx, r0, r1, c, k, L);
}

// Pass 2 of BatchNormTrainGrad: by whole channel blocks of whole images when every buffer it reads
// and writes is channel-blocked (as ApplyChannelAffine), else row by row.
static void GradApply(const float* dy, const float* x, const float* y, const float* dres, float* dx, int64_t rows, int64_t c,
                      const GradCoefficients& k, const BnLayouts& L) {
  const int nt = ThreadsFor(rows * c);
  // The buffers pass 2 reads: g from dres when pass 1 wrote it, else dy (and y for the mask).
  const bool blocked = L.in.blocked && (dres ? L.res.blocked : L.out.blocked);
  if (!blocked) {
    ParallelFor(nt, nt, [&](int64_t t) { GradApplyRows(dy, x, y, dres, dx, rows * t / nt, rows * (t + 1) / nt, c, k, L); });
    return;
  }
  ParallelBlockPieces(rows * c, nt, L.hw, c, [&](int64_t at, int64_t count, int64_t j0) {
    const ForwardAffine f = k.f.mul ? ForwardAffine{k.f.mul + j0, k.f.add + j0} : ForwardAffine{nullptr, nullptr};
    const GradCoefficients kp{k.A + j0, k.B + j0, k.C + j0, k.M + j0, f};
    GradApplyBlock(dres ? nullptr : dy + at, x + at, y && !dres ? y + at : nullptr, dres ? dres + at : nullptr, dx + at, count, kp);
  });
}

// batchNormTrainGrad(dy, dmean, dvar, x, scale, mean, variance, eps, channels, dx, dscale, doffset,
// y|null, dresidual|null, hw?, layout?, offset?, dy2?): the gradient of BatchNormTrain with the statistics as functions of x. With y
// (the forward output of a ReLU-ending batch norm) dy is first masked as tfjs's ReLU gradient does,
// and that masked dy is written to dresidual when given; dy2 (only with y and dresidual: a block output
// that feeds the next block's conv and its shortcut) is added to dy first, as dy + dy2, which saves the
// Add pass over both; with the forward's offset instead (a batch norm
// with a ReLU and no residual) the mask comes from x (kReluOfX); below, dy means the masked one. With
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
  const BnLayouts L = LayoutsArg(info, 14, rows, c);
  // With the forward's offset (and no y): the ReLU's mask from x, as the forward computed its output.
  const float* off = info.Length() > 16 && !info[16].IsNull() && !info[16].IsUndefined() ? F32(info[16]) : nullptr;
  std::vector<float> fmul(off ? c : 0);
  for (int64_t j = 0; j < static_cast<int64_t>(fmul.size()); j++) fmul[j] = NormFactor(sc, var, eps, j);
  if (off && (y || dres)) throw std::runtime_error("batchNormTrainGrad: the ReLU from x is for a batch norm without a residual");
  const ForwardAffine f = off ? ForwardAffine{fmul.data(), off} : ForwardAffine{nullptr, nullptr};
  size_t n2 = 0;
  const float* dy2 = info.Length() > 17 && !info[17].IsNull() && !info[17].IsUndefined() ? F32(info[17], &n2) : nullptr;
  if (dy2 && (!y || !dres || n2 != n)) throw std::runtime_error("batchNormTrainGrad: a second gradient needs y and dresidual of its size");
  int nt = ThreadsFor(static_cast<int64_t>(n));
  // Pass 1: sum dy, sum dy (x - mean), and sum (x - mean): `mean` is the float-rounded batch mean,
  // off the exact one by delta = sum (x - mean) / N, which matters when |mean| >> std; centring on
  // the exact mean below keeps dx as accurate as the composite's.
  PartialSums part(nt, 3, c);
  ParallelFor(nt, nt, [&](int64_t t) {
    double* sdy = part.Of(t);
    GradSums(dy, dy2, x, y, dres, mean, rows * t / nt, rows * (t + 1) / nt, c, sdy, sdy + c, sdy + 2 * c, L, f);
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
  GradApply(dy, x, y, dres, dx, rows, c, {A.data(), B.data(), C.data(), M.data(), f}, L);
  return info.Env().Undefined();
}

}  // namespace resnet_native
