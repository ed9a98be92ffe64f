// 3x3 convolutions of 16 channels in and out, stride 1, padding 1 (the first stage of the CIFAR
// ResNets) as Winograd F(2x2, 3x3) convolutions, forward and backward data, on AVX-512.
//
// Why: oneDNN 2.6 has no fast kernel for them. Its Winograd kernel is slower than its direct one at
// 16 channels, and the direct kernels reach ~80 % of these cores' FMA peak, 1.6-2.0 ms a pass at
// 32x32, batch 128, on two cores; these passes were a third of a ResNet-20 training step's conv time.
// F(2x2, 3x3) does 64 multiply-adds per output value instead of 144: measured 1.2 ms a pass (see
// BENCHMARKS.md). With 16 channels a pixel is one AVX-512 vector, so NHWC and nChw16c are the same
// bytes and the kernel serves both layouts.
//
// Each 2x2 output tile reads a 4x4 input tile d and computes y = A^T [ sum over ci of
// (B^T d B)[ci] * (G g G^T)[ci] ] A with the filter g of each (ci, co) pair (Lavin and Gray 2015).
// Every transform coefficient is 0, +-1 or +-1/2, so the sums differ from a direct conv's only by float
// rounding (~1e-6 relative). Each output is computed by one thread in a fixed order: the same inputs
// give the same bits, on any thread count.
//
// The weight gradient stays oneDNN's direct kernel (~95 % of peak there): a Winograd one built the
// same way (sums over tiles of (B^T d B) x (A dy A^T) per position) took 1.8-1.9 ms a pass against
// its 1.4, its outer products needing a broadcast load per multiply-add.
//
// Non-finite values: the transforms mix a tile's inputs by adding and subtracting, so an Inf would
// come out as NaN where a direct conv gives +-Inf, and a non-finite filter tap would reach the image
// borders through the zero padding (a direct conv skips the padding). A pass whose filter or input
// holds NaN or +-Inf therefore runs oneDNN's direct kernel instead (Wino16Conv returns false): the
// input check rides along the tile loads (a few percent of the pass).
#include "common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include <atomic>

namespace resnet_native {
namespace {

constexpr int64_t kC = 16;                // channels in and out: one AVX-512 vector per pixel
constexpr int64_t kTileFloats = 16 * kC;  // a transformed tile: 4 x 4 positions of 16 channels
// Tiles multiplied together: one accumulator each, enough independent FMAs for two 4-cycle pipes,
// and the group's transformed tiles (U, M) and the filter (V) stay in a 48 KiB L1 (3 x 8-16 KiB).
constexpr int kGroup = 8;

#define WINO16_TARGET __attribute__((target("avx512f")))

// V[pos][ci][co] = (G g G^T)[pos] for the 3x3 filter g of each (ci, co) pair, w in tfjs's HWIO
// layout; G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. `mirrored`: the filter of the backward-data
// pass (taps reversed, ci and co swapped), which is the forward conv of the output gradient.
void TransformFilter(const float* w, bool mirrored, float* V) {
  static const float G[4][3] = {{1.f, 0.f, 0.f}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0.f, 0.f, 1.f}};
  for (int64_t ci = 0; ci < kC; ci++)
    for (int64_t co = 0; co < kC; co++) {
      float g[3][3], t[4][3];
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
          g[i][j] = mirrored ? w[(((2 - i) * 3 + (2 - j)) * kC + co) * kC + ci] : w[((i * 3 + j) * kC + ci) * kC + co];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[0][j] + G[i][1] * g[1][j] + G[i][2] * g[2][j];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) V[((i * 4 + j) * kC + ci) * kC + co] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
    }
}

// One image's geometry and the pass's transformed filter and bias.
struct Frame {
  int64_t h, w;
  const float* V;
  const float* bias;  // null: none
};

// Lanes of v that hold NaN or +-Inf (all exponent bits set).
WINO16_TARGET inline __mmask16 NonFinite(__m512 v) {
  const __m512i exp = _mm512_set1_epi32(0x7f800000);
  return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(v), exp), exp);
}

// U = B^T d B of the 4x4 input tile at (r0, c0) (top-left, may lie in the padding), written to u
// (16 positions of 16 channels). Returns the lanes that hold a non-finite input (a value, not an
// or-into-memory: a chain of those through one address cost more than the transform).
WINO16_TARGET inline __mmask16 InputTile(const Frame& f, const float* x, int64_t r0, int64_t c0, float* u) {
  __m512 d[4][4];
  if (r0 >= 0 && r0 + 3 < f.h && c0 >= 0 && c0 + 3 < f.w) {  // inside the image: plain loads
    const float* at = x + (r0 * f.w + c0) * kC;
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) d[i][j] = _mm512_loadu_ps(at + (i * f.w + j) * kC);
  } else {
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        const int64_t r = r0 + i, c = c0 + j;
        d[i][j] = r >= 0 && r < f.h && c >= 0 && c < f.w ? _mm512_loadu_ps(x + (r * f.w + c) * kC) : _mm512_setzero_ps();
      }
  }
  __mmask16 bad = 0;
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) bad |= NonFinite(d[i][j]);
  __m512 t[4][4];  // B^T d
  for (int j = 0; j < 4; j++) {
    t[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
    t[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
    t[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
    t[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
  }
  for (int i = 0; i < 4; i++) {  // (B^T d) B
    _mm512_storeu_ps(u + (i * 4 + 0) * kC, _mm512_sub_ps(t[i][0], t[i][2]));
    _mm512_storeu_ps(u + (i * 4 + 1) * kC, _mm512_add_ps(t[i][1], t[i][2]));
    _mm512_storeu_ps(u + (i * 4 + 2) * kC, _mm512_sub_ps(t[i][2], t[i][1]));
    _mm512_storeu_ps(u + (i * 4 + 3) * kC, _mm512_sub_ps(t[i][1], t[i][3]));
  }
  return bad;
}

// y's 2x2 tile at (r0, c0) = A^T m A (+ bias), A^T = [1 1 1 0; 0 1 -1 -1]; parts past the image's
// bottom or right edge (odd sizes) are not written.
WINO16_TARGET inline void OutputTile(const Frame& f, const float* m, float* y, int64_t r0, int64_t c0) {
  __m512 q[2][4];  // A^T m
  for (int j = 0; j < 4; j++) {
    const __m512 m0 = _mm512_loadu_ps(m + (0 + j) * kC), m1 = _mm512_loadu_ps(m + (4 + j) * kC);
    const __m512 m2 = _mm512_loadu_ps(m + (8 + j) * kC), m3 = _mm512_loadu_ps(m + (12 + j) * kC);
    q[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
    q[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
  }
  for (int i = 0; i < 2 && r0 + i < f.h; i++) {
    __m512 left = _mm512_add_ps(_mm512_add_ps(q[i][0], q[i][1]), q[i][2]);
    __m512 right = _mm512_sub_ps(_mm512_sub_ps(q[i][1], q[i][2]), q[i][3]);
    if (f.bias) {
      const __m512 b = _mm512_loadu_ps(f.bias);
      left = _mm512_add_ps(left, b);
      right = _mm512_add_ps(right, b);
    }
    float* row = y + ((r0 + i) * f.w + c0) * kC;
    _mm512_storeu_ps(row, left);
    if (c0 + 1 < f.w) _mm512_storeu_ps(row + kC, right);
  }
}

// T tiles of tile row tr, from tile column tc0, of one image: transforms in, M[t][pos] = sum over ci
// of U[t][pos][ci] V[pos][ci] (one accumulator per tile, the filter vector loaded once for T tiles),
// transforms out. U and M: T transformed tiles each. Returns the lanes of non-finite inputs.
template <int T>
WINO16_TARGET __mmask16 TileGroup(const Frame& f, const float* x, float* y, int64_t tr, int64_t tc0, float* U, float* M) {
  __mmask16 bad = 0;
  for (int t = 0; t < T; t++) bad |= InputTile(f, x, 2 * tr - 1, 2 * (tc0 + t) - 1, U + t * kTileFloats);
  for (int64_t pos = 0; pos < 16; pos++) {
    __m512 acc[T];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const float* v = f.V + pos * kC * kC;
    const float* u = U + pos * kC;
#pragma GCC unroll 16
    for (int64_t ci = 0; ci < kC; ci++) {
      const __m512 vc = _mm512_loadu_ps(v + ci * kC);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(u[t * kTileFloats + ci]), vc, acc[t]);
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(M + t * kTileFloats + pos * kC, acc[t]);
  }
  for (int t = 0; t < T; t++) OutputTile(f, M + t * kTileFloats, y, 2 * tr, 2 * (tc0 + t));
  return bad;
}

// One tile row of one image: groups of kGroup tiles, then the rest one by one. Returns the lanes of
// non-finite inputs.
WINO16_TARGET __mmask16 TileRow(const Frame& f, const float* x, float* y, int64_t tr) {
  alignas(64) float U[kGroup * kTileFloats], M[kGroup * kTileFloats];
  const int64_t tiles = (f.w + 1) / 2;
  __mmask16 bad = 0;
  int64_t tc = 0;
  for (; tc + kGroup <= tiles; tc += kGroup) bad |= TileGroup<kGroup>(f, x, y, tr, tc, U, M);
  for (; tc < tiles; tc++) bad |= TileGroup<1>(f, x, y, tr, tc, U, M);
  return bad;
}

bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

// Whether any of the n floats is NaN or +-Inf.
bool AnyNonFinite(const float* a, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!std::isfinite(a[i])) return true;
  return false;
}

}  // namespace

bool Wino16Fits(const std::vector<int64_t>& p) {
  // params: n,h,w,ci, kh,kw,co, oh,ow, sh,sw, pt,pl,pb,pr, dh,dw
  return WinogradEnabled() && HasAvx512() && p.size() == 17 && p[3] == kC && p[6] == kC && p[4] == 3 && p[5] == 3 &&
         p[7] == p[1] && p[8] == p[2] && p[9] == 1 && p[10] == 1 && p[11] == 1 && p[12] == 1 && p[13] == 1 && p[14] == 1 &&
         p[15] == 1 && p[16] == 1;
}

bool Wino16Conv(const float* x, const float* w, const float* bias, float* y, const std::vector<int64_t>& p, bool backwardData) {
  if (AnyNonFinite(w, 9 * kC * kC) || (bias && AnyNonFinite(bias, kC))) return false;
  alignas(64) float V[16 * kC * kC];
  TransformFilter(w, backwardData, V);
  const Frame f{p[1], p[2], V, bias};
  const int64_t tileRows = (f.h + 1) / 2, image = f.h * f.w * kC;
  std::atomic<bool> nonFinite{false};
  ParallelFor(p[0] * tileRows, ThreadsIf(true), [&](int64_t r) {
    const int64_t n = r / tileRows;
    if (TileRow(f, x + n * image, y + n * image, r % tileRows)) nonFinite.store(true, std::memory_order_relaxed);
  });
  return !nonFinite.load();
}

}  // namespace resnet_native

#else  // not x86-64 (or not GCC/Clang): the direct convs

namespace resnet_native {
bool Wino16Fits(const std::vector<int64_t>&) { return false; }
bool Wino16Conv(const float*, const float*, const float*, float*, const std::vector<int64_t>&, bool) { return false; }
}  // namespace resnet_native

#endif
