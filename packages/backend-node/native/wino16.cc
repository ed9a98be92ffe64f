// 3x3 convolutions of 16 channels in and out, stride 1, padding 1 (the first stage of the CIFAR
// ResNets) as Winograd F(4x4, 3x3) convolutions, forward and backward data, on AVX-512.
//
// Why: oneDNN 2.6 has no fast kernel for them. Its Winograd kernel is slower than its direct one at
// 16 channels, and the direct kernels took 1.6-2.0 ms a pass at 32x32, batch 128, on two cores: these
// forward and backward-data passes were a third of a ResNet-20 training step's conv time (DNNL_VERBOSE:
// 24 of ~75 ms).
// F(4x4, 3x3) does 36 multiply-adds per output value instead of 144: 0.83-0.92 ms a pass alone
// (bench/conv-kernels.mjs; F(2x2, 3x3), 64 per output, took 1.31-1.36; BENCHMARKS.md). With 16 channels a
// pixel is one AVX-512 vector, so NHWC and nChw16c are the same bytes and the kernel serves both.
//
// Each 4x4 output tile reads a 6x6 input tile d and computes y = A^T [ sum over ci of
// (B^T d B)[ci] * (G g G^T)[ci] ] A with the filter g of each (ci, co) pair (Lavin and Gray 2015,
// the same matrices as oneDNN's jit_wino_4x3). The sums differ from a direct conv's by float rounding
// (~3e-6 relative on unit-scale values). Each output is computed by one thread in a fixed order: the
// same inputs give the same bits, on any thread count.
//
// The weight gradient stays oneDNN's direct kernel (~95 % of peak there): an F(2x2, 3x3) one built the
// same way (sums over tiles of (B^T d B) x (A dy A^T) per position) took 1.8-1.9 ms a pass against
// its 1.4, its outer products needing a broadcast load per multiply-add.
//
// Non-finite values: the transforms mix a tile's inputs (a NaN reaches outputs outside its 3x3
// window, an Inf becomes NaN where a direct conv gives +-Inf), scale them by up to 100 (finite inputs
// above ~3e36 can overflow where a direct conv's sums do not), and a non-finite filter tap would reach
// the image borders through the zero padding (a direct conv skips the padding). A pass whose filter,
// input or output holds NaN or +-Inf therefore runs oneDNN's direct kernel instead (Wino16Conv returns
// false), so non-finite results are always the direct conv's; the checks ride along the tiles' loads
// and stores (a few percent of the pass).
#include "common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include <atomic>

namespace resnet_native {
namespace {

constexpr int64_t kC = 16;                    // channels in and out: one AVX-512 vector per pixel
constexpr int64_t kPositions = 36;            // 6 x 6 positions of a transformed tile
constexpr int64_t kTileFloats = kPositions * kC;
// Tiles multiplied together: one accumulator each, enough independent FMAs for two 4-cycle pipes.
constexpr int kGroup = 8;

#define WINO16_TARGET __attribute__((target("avx512f")))

// V[pos][ci][co] = (G g G^T)[pos] for the 3x3 filter g of each (ci, co) pair, w in tfjs's HWIO
// layout. `mirrored`: the filter of the backward-data pass (taps reversed, ci and co swapped), which
// is the forward conv of the output gradient.
void TransformFilter(const float* w, bool mirrored, float* V) {
  static const float G[6][3] = {{1.f / 4, 0.f, 0.f},          {-1.f / 6, -1.f / 6, -1.f / 6}, {-1.f / 6, 1.f / 6, -1.f / 6},
                                {1.f / 24, 1.f / 12, 1.f / 6}, {1.f / 24, -1.f / 12, 1.f / 6}, {0.f, 0.f, 1.f}};
  for (int64_t ci = 0; ci < kC; ci++)
    for (int64_t co = 0; co < kC; co++) {
      float g[3][3], t[6][3];
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
          g[i][j] = mirrored ? w[(((2 - i) * 3 + (2 - j)) * kC + co) * kC + ci] : w[((i * 3 + j) * kC + ci) * kC + co];
      for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[0][j] + G[i][1] * g[1][j] + G[i][2] * g[2][j];
      for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) V[((i * 6 + j) * kC + ci) * kC + co] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
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

// o = B^T d for six vectors, B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
// 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
WINO16_TARGET inline void InputTransform(const __m512* d, __m512* o) {
  const __m512 two = _mm512_set1_ps(2.f), four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f);
  const __m512 a = _mm512_sub_ps(d[4], _mm512_mul_ps(four, d[2]));  // d4 - 4 d2
  const __m512 b = _mm512_sub_ps(d[3], _mm512_mul_ps(four, d[1]));  // d3 - 4 d1
  const __m512 c = _mm512_sub_ps(d[4], d[2]);
  const __m512 e = _mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1]));
  o[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, d[0]), _mm512_mul_ps(five, d[2])), d[4]);
  o[1] = _mm512_add_ps(a, b);
  o[2] = _mm512_sub_ps(a, b);
  o[3] = _mm512_add_ps(c, e);
  o[4] = _mm512_sub_ps(c, e);
  o[5] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, d[1]), _mm512_mul_ps(five, d[3])), d[5]);
}

// o = A^T m for six vectors, A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
WINO16_TARGET inline void OutputTransform(const __m512* m, __m512* o) {
  const __m512 two = _mm512_set1_ps(2.f), four = _mm512_set1_ps(4.f), eight = _mm512_set1_ps(8.f);
  const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
  const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
  o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
  o[1] = _mm512_add_ps(d12, _mm512_mul_ps(two, d34));
  o[2] = _mm512_add_ps(s12, _mm512_mul_ps(four, s34));
  o[3] = _mm512_add_ps(_mm512_add_ps(d12, _mm512_mul_ps(eight, d34)), m[5]);
}

// U = B^T d B of the 6x6 input tile at (r0, c0) (top-left, may lie in the padding), written to u
// (36 positions of 16 channels). Returns the lanes that hold a non-finite input (a value, not an
// or-into-memory: a chain of those through one address cost more than the transform).
WINO16_TARGET inline __mmask16 InputTile(const Frame& f, const float* x, int64_t r0, int64_t c0, float* u) {
  alignas(64) float half[kTileFloats];  // B^T d, column by column
  const bool inside = r0 >= 0 && r0 + 5 < f.h && c0 >= 0 && c0 + 5 < f.w;
  __mmask16 bad = 0;
  for (int j = 0; j < 6; j++) {
    __m512 d[6], o[6];
    const int64_t c = c0 + j;
    for (int i = 0; i < 6; i++) {
      const int64_t r = r0 + i;
      d[i] = inside || (r >= 0 && r < f.h && c >= 0 && c < f.w) ? _mm512_loadu_ps(x + (r * f.w + c) * kC) : _mm512_setzero_ps();
      bad |= NonFinite(d[i]);
    }
    InputTransform(d, o);
    for (int i = 0; i < 6; i++) _mm512_store_ps(half + (i * 6 + j) * kC, o[i]);
  }
  for (int i = 0; i < 6; i++) {  // (B^T d) B, row by row
    __m512 d[6], o[6];
    for (int j = 0; j < 6; j++) d[j] = _mm512_load_ps(half + (i * 6 + j) * kC);
    InputTransform(d, o);
    for (int j = 0; j < 6; j++) _mm512_storeu_ps(u + (i * 6 + j) * kC, o[j]);
  }
  return bad;
}

// y's 4x4 tile at (r0, c0) = A^T m A (+ bias); parts past the image's bottom or right edge are not
// written. Returns the lanes of non-finite outputs.
WINO16_TARGET inline __mmask16 OutputTile(const Frame& f, const float* m, float* y, int64_t r0, int64_t c0) {
  __m512 q[4][6];  // A^T m
  for (int j = 0; j < 6; j++) {
    __m512 col[6], o[4];
    for (int i = 0; i < 6; i++) col[i] = _mm512_loadu_ps(m + (i * 6 + j) * kC);
    OutputTransform(col, o);
    for (int i = 0; i < 4; i++) q[i][j] = o[i];
  }
  const __m512 b = f.bias ? _mm512_loadu_ps(f.bias) : _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (int i = 0; i < 4 && r0 + i < f.h; i++) {
    __m512 o[4];
    OutputTransform(q[i], o);
    float* row = y + ((r0 + i) * f.w + c0) * kC;
    for (int j = 0; j < 4 && c0 + j < f.w; j++) {
      const __m512 v = f.bias ? _mm512_add_ps(o[j], b) : o[j];
      bad |= NonFinite(v);
      _mm512_storeu_ps(row + j * kC, v);
    }
  }
  return bad;
}

// T tiles of tile row tr, from tile column tc0, of one image: transforms in, M[t][pos] = sum over ci
// of U[t][pos][ci] V[pos][ci] (one accumulator per tile, the filter vector loaded once for T tiles),
// transforms out. U and M: T transformed tiles each. Returns the lanes of non-finite inputs or outputs.
template <int T>
WINO16_TARGET __mmask16 TileGroup(const Frame& f, const float* x, float* y, int64_t tr, int64_t tc0, float* U, float* M) {
  __mmask16 bad = 0;
  for (int t = 0; t < T; t++) bad |= InputTile(f, x, 4 * tr - 1, 4 * (tc0 + t) - 1, U + t * kTileFloats);
  for (int64_t pos = 0; pos < kPositions; pos++) {
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
  for (int t = 0; t < T; t++) bad |= OutputTile(f, M + t * kTileFloats, y, 4 * tr, 4 * (tc0 + t));
  return bad;
}

// One tile row of one image: groups of kGroup tiles, then the rest one by one. Returns the lanes of
// non-finite inputs or outputs.
WINO16_TARGET __mmask16 TileRow(const Frame& f, const float* x, float* y, int64_t tr) {
  alignas(64) float U[kGroup * kTileFloats], M[kGroup * kTileFloats];
  const int64_t tiles = (f.w + 3) / 4;
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
  alignas(64) float V[kPositions * kC * kC];
  TransformFilter(w, backwardData, V);
  const Frame f{p[1], p[2], V, bias};
  const int64_t tileRows = (f.h + 3) / 4, image = f.h * f.w * kC;
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
