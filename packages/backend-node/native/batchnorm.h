// Shared by the batch-norm kernels (batchnorm.cc, batchnorm_train.cc): vector types, per-thread
// sums, the channel loops, and the two activation layouts the train-mode kernels read and write.
#pragma once
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
// ReluGradValue (common.h) of eight values of the ReLU's input or output v: dy * step(v), step(NaN) = NaN.
static inline Floats8 ReluGradOf(Floats8 dy, Floats8 v) {
  const Floats8 one = {1, 1, 1, 1, 1, 1, 1, 1}, zero = {};
  Floats8 step = v > zero ? one : zero;
  step = v != v ? v : step;
  return dy * step;
}

// ReluGradOf eight values of y in memory.
static inline Floats8 ReluGradValues(Floats8 dy, const float* yp) {
  Floats8 y;
  std::memcpy(&y, yp, sizeof y);
  return ReluGradOf(dy, y);
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

// How a kernel finds channel j of row r (one n, h, w position; hw of them per image) in a buffer:
// NHWC, or channel-blocked nChw16c (the layout of oneDNN's Winograd convs, which the training plan
// keeps between them and the batch norms; c a multiple of kLanes). The kLanes channels of block b of
// row r lie in order from RowStart(r, r % hw) + b * block.
struct RowLayout {
  int64_t c, hw, block;
  bool blocked;
  RowLayout(int64_t c, int64_t hw, bool blocked) : c(c), hw(hw), block(blocked ? hw * kLanes : kLanes), blocked(blocked) {}
  // p: r % hw, which the row loops step along with r (no division per row).
  int64_t RowStart(int64_t r, int64_t p) const { return blocked ? (r - p) * c + p * kLanes : r * c; }
  // From a row to the next one within an image.
  int64_t RowStep() const { return blocked ? kLanes : c; }
  int64_t At(int64_t r, int64_t j) const { return RowStart(r, r % hw) + j / kLanes * block + j % kLanes; }
  // Where the 8 lanes j0..j0+7 (j0 a multiple of 8) of a row start, from the row's start.
  int64_t Lanes8(int64_t j0) const { return j0 / kLanes * block + j0 % kLanes; }
};

// For the elementwise passes over `n` floats of channel-blocked buffers (hw rows per image, c
// channels): the elements split evenly between `nt` threads in whole groups of kLanes, each thread
// calling body(at, count, j0) for its pieces that lie in one channel block of one image: count floats
// from `at`, lane l of each kLanes being channel j0 + l.
template <typename Body>
inline void ParallelBlockPieces(int64_t n, int nt, int64_t hw, int64_t c, Body body) {
  const int64_t groups = n / kLanes, run = hw * kLanes, blocks = c / kLanes;
  ParallelFor(nt, nt, [&](int64_t t) {
    const int64_t e1 = groups * (t + 1) / nt * kLanes;
    for (int64_t e = groups * t / nt * kLanes, end; e < e1; e = end) {
      const int64_t piece = e / run;
      end = std::min(e1, (piece + 1) * run);
      body(e, end - e, piece % blocks * kLanes);
    }
  });
}

// The layouts of a train-mode batch norm's buffers: its input (x, dx), its output (y, dy) and its
// residual (and the residual's gradient). From a call's (hw, bits): bit 1 input, 2 output, 4 residual
// blocked; all NHWC when the call passes none.
struct BnLayouts {
  RowLayout in, out, res;
  int64_t hw;
  BnLayouts(int64_t c, int64_t hw, int64_t bits) : in(c, hw, bits & 1), out(c, hw, bits & 2), res(c, hw, bits & 4), hw(hw) {}
  static BnLayouts Nhwc(int64_t c) { return BnLayouts(c, 1, 0); }
  // Whether the input, the output and (withResidual) the residual are all channel-blocked.
  bool AllBlocked(bool withResidual) const { return in.blocked && out.blocked && (res.blocked || !withResidual); }
};

// y = relu?((x - mean) * mul + add + res?) per channel over `rows` rows, each buffer in its layout.
void ApplyChannelAffine(const float* x, float* y, int64_t rows, int64_t c, const float* mean, const float* mul, const float* add,
                        const BnLayouts& layouts, const float* res = nullptr, bool relu = false);

// The statistics NaN or ±Inf give channel j (see batchnorm_train.cc).
void NonFiniteChannelStats(const float* x, const RowLayout& layout, int64_t rows, int64_t j, float* mean, float* var);

}  // namespace resnet_native
