// resnet_native: oneDNN-backed kernels for the `native` tfjs backend of @resnet-ts/backend-node.
//
// Every function is synchronous and works on Float32Arrays owned by JS (the tfjs cpu backend's
// tensor storage): inputs are read in place and results are written into an output array that the
// caller allocated. Layouts are tfjs's: activations NHWC, conv filters HWIO [kh, kw, in, out].
// Primitives are created once per shape and cached; only the (small) filters are reordered to the
// layout the primitive prefers.
#include <napi.h>

#include <dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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

namespace {

engine& Eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream& Strm() {
  static stream s(Eng());
  return s;
}

std::vector<int64_t> Ints(const Napi::Value& v) {
  std::vector<int64_t> out;
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_int32_array) {
      Napi::Int32Array a = v.As<Napi::Int32Array>();
      out.assign(a.Data(), a.Data() + a.ElementLength());
      return out;
    }
  }
  Napi::Array a = v.As<Napi::Array>();
  out.resize(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

float* F32(const Napi::Value& v, size_t* len = nullptr) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(v.Env(), "expected a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (len) *len = a.ElementLength();
  return a.Data();
}

std::string Key(const char* op, const std::vector<int64_t>& p, int extra = 0) {
  std::string k(op);
  for (int64_t x : p) {
    k += ',';
    k += std::to_string(x);
  }
  k += '|';
  k += std::to_string(extra);
  return k;
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

// ---------------------------------------------------------------------------------------------
// Convolution. Params (17): n,h,w,ci, kh,kw,co, oh,ow, sh,sw, pt,pl,pb,pr, dh,dw (tfjs dilations,
// 1 = none).
struct ConvGeom {
  memory::dim n, h, w, ci, kh, kw, co, oh, ow, sh, sw, pt, pl, pb, pr, dh, dw;
  explicit ConvGeom(const std::vector<int64_t>& p) {
    if (p.size() != 17) throw std::runtime_error("conv params: expected 17 numbers");
    n = p[0]; h = p[1]; w = p[2]; ci = p[3]; kh = p[4]; kw = p[5]; co = p[6]; oh = p[7]; ow = p[8];
    sh = p[9]; sw = p[10]; pt = p[11]; pl = p[12]; pb = p[13]; pr = p[14]; dh = p[15]; dw = p[16];
  }
  memory::desc Src(tag t = tag::nhwc) const { return {{n, ci, h, w}, dt::f32, t}; }
  memory::desc Dst(tag t = tag::nhwc) const { return {{n, co, oh, ow}, dt::f32, t}; }
  memory::desc Wei(tag t) const { return {{co, ci, kh, kw}, dt::f32, t}; }
  memory::desc Bias() const { return {{co}, dt::f32, tag::x}; }
  dims Strides() const { return {sh, sw}; }
  dims Dil() const { return {dh - 1, dw - 1}; }
  dims PadL() const { return {pt, pl}; }
  dims PadR() const { return {pb, pr}; }
  // Forward primitive descriptor (also the hint for the backward passes).
  // sum: dst = conv + dst (the residual add, dst pre-filled with the shortcut). A ReLU is a separate
  // pass (see ReluInPlace).
  convolution_forward::primitive_desc Fwd(prop_kind pk, bool bias, bool sum = false) const {
    auto d = bias ? convolution_forward::desc(pk, algorithm::convolution_direct, Src(), Wei(tag::any), Bias(), Dst(),
                                              Strides(), Dil(), PadL(), PadR())
                  : convolution_forward::desc(pk, algorithm::convolution_direct, Src(), Wei(tag::any), Dst(), Strides(),
                                              Dil(), PadL(), PadR());
    primitive_attr attr;
    if (sum) {
      post_ops po;
      po.append_sum(1.f);
      attr.set_post_ops(po);
    }
    return convolution_forward::primitive_desc(d, attr, Eng());
  }
};

// A filter in tfjs HWIO layout and the same filter in the layout a primitive wants.
struct WeightSlot {
  memory user, inner;
  bool needReorder = false;
  reorder toInner, toUser;
  void Init(const ConvGeom& g, const memory::desc& want, bool forUserToInner) {
    user = memory(g.Wei(tag::hwio), Eng(), DNNL_MEMORY_NONE);
    needReorder = want != user.get_desc();
    if (needReorder) {
      inner = memory(want, Eng());
      if (forUserToInner) toInner = reorder(user, inner);
      else toUser = reorder(inner, user);
    }
  }
};

struct ConvFwdEntry {
  convolution_forward::primitive_desc pd;
  convolution_forward prim;
  WeightSlot w;
  memory src, dst, bias;
};

struct ConvBwdDataEntry {
  convolution_backward_data::primitive_desc pd;
  convolution_backward_data prim;
  WeightSlot w;
  memory dsrc, ddst;
};

struct ConvBwdWeiEntry {
  convolution_backward_weights::primitive_desc pd;
  convolution_backward_weights prim;
  WeightSlot w;
  memory src, ddst, dbias;
};

// Primitive caches, keyed by shape. A program that keeps changing shapes would grow them without
// bound, so a cache that reaches kMaxCached entries starts over.
constexpr size_t kMaxCached = 1024;
template <typename Map>
void Bound(Map& m) {
  if (m.size() >= kMaxCached) m.clear();
}

std::unordered_map<std::string, std::unique_ptr<ConvFwdEntry>> convFwdCache;
std::unordered_map<std::string, std::unique_ptr<ConvBwdDataEntry>> convBwdDataCache;
std::unordered_map<std::string, std::unique_ptr<ConvBwdWeiEntry>> convBwdWeiCache;

ConvFwdEntry& GetConvFwd(const std::vector<int64_t>& p, bool bias, bool sum = false) {
  std::string k = Key("cf", p, (bias ? 1 : 0) | (sum ? 4 : 0));
  auto it = convFwdCache.find(k);
  if (it != convFwdCache.end()) return *it->second;
  ConvGeom g(p);
  auto e = std::make_unique<ConvFwdEntry>();
  e->pd = g.Fwd(prop_kind::forward_inference, bias, sum);
  e->prim = convolution_forward(e->pd);
  e->w.Init(g, e->pd.weights_desc(), true);
  e->src = memory(e->pd.src_desc(), Eng(), DNNL_MEMORY_NONE);
  e->dst = memory(e->pd.dst_desc(), Eng(), DNNL_MEMORY_NONE);
  if (bias) e->bias = memory(g.Bias(), Eng(), DNNL_MEMORY_NONE);
  Bound(convFwdCache);
  return *convFwdCache.emplace(k, std::move(e)).first->second;
}

ConvBwdDataEntry& GetConvBwdData(const std::vector<int64_t>& p) {
  std::string k = Key("cbd", p);
  auto it = convBwdDataCache.find(k);
  if (it != convBwdDataCache.end()) return *it->second;
  ConvGeom g(p);
  auto hint = g.Fwd(prop_kind::forward_training, false);
  convolution_backward_data::desc d(algorithm::convolution_direct, g.Src(), g.Wei(tag::any), g.Dst(), g.Strides(),
                                    g.Dil(), g.PadL(), g.PadR());
  auto e = std::make_unique<ConvBwdDataEntry>();
  e->pd = convolution_backward_data::primitive_desc(d, Eng(), hint);
  e->prim = convolution_backward_data(e->pd);
  e->w.Init(g, e->pd.weights_desc(), true);
  e->dsrc = memory(e->pd.diff_src_desc(), Eng(), DNNL_MEMORY_NONE);
  e->ddst = memory(e->pd.diff_dst_desc(), Eng(), DNNL_MEMORY_NONE);
  Bound(convBwdDataCache);
  return *convBwdDataCache.emplace(k, std::move(e)).first->second;
}

ConvBwdWeiEntry& GetConvBwdWei(const std::vector<int64_t>& p, bool bias) {
  std::string k = Key("cbw", p, bias ? 1 : 0);
  auto it = convBwdWeiCache.find(k);
  if (it != convBwdWeiCache.end()) return *it->second;
  ConvGeom g(p);
  auto hint = g.Fwd(prop_kind::forward_training, bias);
  auto d = bias ? convolution_backward_weights::desc(algorithm::convolution_direct, g.Src(), g.Wei(tag::any), g.Bias(),
                                                     g.Dst(), g.Strides(), g.Dil(), g.PadL(), g.PadR())
                : convolution_backward_weights::desc(algorithm::convolution_direct, g.Src(), g.Wei(tag::any), g.Dst(),
                                                     g.Strides(), g.Dil(), g.PadL(), g.PadR());
  auto e = std::make_unique<ConvBwdWeiEntry>();
  e->pd = convolution_backward_weights::primitive_desc(d, Eng(), hint);
  e->prim = convolution_backward_weights(e->pd);
  e->w.Init(g, e->pd.diff_weights_desc(), false);
  e->src = memory(e->pd.src_desc(), Eng(), DNNL_MEMORY_NONE);
  e->ddst = memory(e->pd.diff_dst_desc(), Eng(), DNNL_MEMORY_NONE);
  if (bias) e->dbias = memory(g.Bias(), Eng(), DNNL_MEMORY_NONE);
  Bound(convBwdWeiCache);
  return *convBwdWeiCache.emplace(k, std::move(e)).first->second;
}

// conv2dForward(x, w, bias|null, out, params, relu, sum?): with sum, out must hold the residual on
// entry and receives relu?(conv + bias + residual).
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  float* x = F32(info[0]);
  float* w = F32(info[1]);
  float* b = F32(info[2]);
  size_t ny = 0;
  float* y = F32(info[3], &ny);
  auto p = Ints(info[4]);
  bool relu = info[5].ToBoolean().Value();
  bool sum = info.Length() > 6 && info[6].ToBoolean().Value();
  ConvFwdEntry& e = GetConvFwd(p, b != nullptr, sum);
  e.src.set_data_handle(x);
  e.dst.set_data_handle(y);
  e.w.user.set_data_handle(w);
  stream& s = Strm();
  if (e.w.needReorder) e.w.toInner.execute(s, e.w.user, e.w.inner);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.src},
                                       {DNNL_ARG_WEIGHTS, e.w.needReorder ? e.w.inner : e.w.user},
                                       {DNNL_ARG_DST, e.dst}};
  if (b) {
    e.bias.set_data_handle(b);
    args[DNNL_ARG_BIAS] = e.bias;
  }
  e.prim.execute(s, args);
  s.wait();
  if (relu) ReluInPlace(y, static_cast<int64_t>(ny));
  return info.Env().Undefined();
}

// conv2dBackwardData(dy, w, dx, params)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  float* dy = F32(info[0]);
  float* w = F32(info[1]);
  float* dx = F32(info[2]);
  auto p = Ints(info[3]);
  ConvBwdDataEntry& e = GetConvBwdData(p);
  e.ddst.set_data_handle(dy);
  e.dsrc.set_data_handle(dx);
  e.w.user.set_data_handle(w);
  stream& s = Strm();
  if (e.w.needReorder) e.w.toInner.execute(s, e.w.user, e.w.inner);
  e.prim.execute(s, {{DNNL_ARG_DIFF_DST, e.ddst},
                     {DNNL_ARG_WEIGHTS, e.w.needReorder ? e.w.inner : e.w.user},
                     {DNNL_ARG_DIFF_SRC, e.dsrc}});
  s.wait();
  return info.Env().Undefined();
}

// conv2dBackwardFilter(x, dy, dw, dbias|null, params)
Napi::Value Conv2dBackwardFilter(const Napi::CallbackInfo& info) {
  float* x = F32(info[0]);
  float* dy = F32(info[1]);
  float* dw = F32(info[2]);
  float* db = F32(info[3]);
  auto p = Ints(info[4]);
  ConvBwdWeiEntry& e = GetConvBwdWei(p, db != nullptr);
  e.src.set_data_handle(x);
  e.ddst.set_data_handle(dy);
  e.w.user.set_data_handle(dw);
  stream& s = Strm();
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.src},
                                       {DNNL_ARG_DIFF_DST, e.ddst},
                                       {DNNL_ARG_DIFF_WEIGHTS, e.w.needReorder ? e.w.inner : e.w.user}};
  if (db) {
    e.dbias.set_data_handle(db);
    args[DNNL_ARG_DIFF_BIAS] = e.dbias;
  }
  e.prim.execute(s, args);
  if (e.w.needReorder) e.w.toUser.execute(s, e.w.inner, e.w.user);
  s.wait();
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// MatMul. Params (7): batchA, batchB, M, K, N, transA, transB. A is [batchA, M, K] (or [batchA, K, M]
// when transA), B is [batchB, K, N] (or [batchB, N, K]); batchA and batchB are equal or one is 1.
struct MatMulEntry {
  matmul::primitive_desc pd;
  matmul prim;
  memory a, b, bias, c;
};
std::unordered_map<std::string, std::unique_ptr<MatMulEntry>> matmulCache;

// matmul(a, b, bias|null, out, params, relu)
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  float* a = F32(info[0]);
  float* b = F32(info[1]);
  float* bias = F32(info[2]);
  size_t nc = 0;
  float* c = F32(info[3], &nc);
  auto p = Ints(info[4]);
  bool relu = info[5].ToBoolean().Value();
  if (p.size() != 7) throw std::runtime_error("matmul params: expected 7 numbers");
  std::string k = Key("mm", p, bias ? 1 : 0);
  auto it = matmulCache.find(k);
  MatMulEntry* e;
  if (it != matmulCache.end()) {
    e = it->second.get();
  } else {
    memory::dim ba = p[0], bb = p[1], M = p[2], K = p[3], N = p[4];
    bool ta = p[5] != 0, tb = p[6] != 0;
    memory::dim bc = std::max(ba, bb);
    memory::desc amd({ba, M, K}, dt::f32, ta ? dims{M * K, 1, M} : dims{M * K, K, 1});
    memory::desc bmd({bb, K, N}, dt::f32, tb ? dims{K * N, 1, K} : dims{K * N, N, 1});
    memory::desc cmd({bc, M, N}, dt::f32, dims{M * N, N, 1});
    memory::desc biasmd({1, 1, N}, dt::f32, dims{N, N, 1});
    auto d = bias ? matmul::desc(amd, bmd, biasmd, cmd) : matmul::desc(amd, bmd, cmd);
    auto ne = std::make_unique<MatMulEntry>();
    ne->pd = matmul::primitive_desc(d, Eng());
    ne->prim = matmul(ne->pd);
    ne->a = memory(amd, Eng(), DNNL_MEMORY_NONE);
    ne->b = memory(bmd, Eng(), DNNL_MEMORY_NONE);
    ne->c = memory(cmd, Eng(), DNNL_MEMORY_NONE);
    if (bias) ne->bias = memory(biasmd, Eng(), DNNL_MEMORY_NONE);
    Bound(matmulCache);
    e = matmulCache.emplace(k, std::move(ne)).first->second.get();
  }
  e->a.set_data_handle(a);
  e->b.set_data_handle(b);
  e->c.set_data_handle(c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
  if (bias) {
    e->bias.set_data_handle(bias);
    args[DNNL_ARG_BIAS] = e->bias;
  }
  stream& s = Strm();
  e->prim.execute(s, args);
  s.wait();
  if (relu) ReluInPlace(c, static_cast<int64_t>(nc));
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// Pooling. Params (13): n,h,w,c, kh,kw, oh,ow, sh,sw, pt,pl,pb,pr → 14 numbers with `max` flag
// passed separately. Average pooling excludes padding (tfjs semantics).
struct PoolEntry {
  pooling_forward::primitive_desc fpd;
  pooling_forward fwd;
  pooling_backward::primitive_desc bpd;
  pooling_backward bwd;
  bool hasBwd = false;
  memory src, dst, dsrc, ddst;
};
std::unordered_map<std::string, std::unique_ptr<PoolEntry>> poolCache;

PoolEntry& GetPool(const std::vector<int64_t>& p, bool isMax, bool backward) {
  if (p.size() != 14) throw std::runtime_error("pool params: expected 14 numbers");
  std::string k = Key(backward ? "pb" : "pf", p, isMax ? 1 : 0);
  auto it = poolCache.find(k);
  if (it != poolCache.end()) return *it->second;
  memory::dim n = p[0], h = p[1], w = p[2], c = p[3], kh = p[4], kw = p[5], oh = p[6], ow = p[7], sh = p[8],
              sw = p[9], pt = p[10], pl = p[11], pb = p[12], pr = p[13];
  memory::desc src({n, c, h, w}, dt::f32, tag::nhwc), dst({n, c, oh, ow}, dt::f32, tag::nhwc);
  // tfjs: AvgPool divides by the valid (unpadded) count, AvgPoolGrad by the full window size.
  algorithm alg = isMax ? algorithm::pooling_max
                        : (backward ? algorithm::pooling_avg_include_padding : algorithm::pooling_avg_exclude_padding);
  auto e = std::make_unique<PoolEntry>();
  pooling_forward::desc fd(backward ? prop_kind::forward_training : prop_kind::forward_inference, alg, src, dst,
                           {sh, sw}, {kh, kw}, {pt, pl}, {pb, pr});
  e->fpd = pooling_forward::primitive_desc(fd, Eng());
  e->fwd = pooling_forward(e->fpd);
  e->src = memory(src, Eng(), DNNL_MEMORY_NONE);
  e->dst = memory(dst, Eng(), DNNL_MEMORY_NONE);
  if (backward) {
    pooling_backward::desc bd(alg, src, dst, {sh, sw}, {kh, kw}, {pt, pl}, {pb, pr});
    e->bpd = pooling_backward::primitive_desc(bd, Eng(), e->fpd);
    e->bwd = pooling_backward(e->bpd);
    e->hasBwd = true;
    e->dsrc = memory(src, Eng(), DNNL_MEMORY_NONE);
    e->ddst = memory(dst, Eng(), DNNL_MEMORY_NONE);
  }
  Bound(poolCache);
  return *poolCache.emplace(k, std::move(e)).first->second;
}

// poolForward(x, out, params, isMax)
Napi::Value PoolForward(const Napi::CallbackInfo& info) {
  float* x = F32(info[0]);
  float* y = F32(info[1]);
  auto p = Ints(info[2]);
  bool isMax = info[3].ToBoolean().Value();
  PoolEntry& e = GetPool(p, isMax, false);
  e.src.set_data_handle(x);
  e.dst.set_data_handle(y);
  stream& s = Strm();
  e.fwd.execute(s, {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DST, e.dst}});
  s.wait();
  return info.Env().Undefined();
}

// Max pooling backward with tfjs's tie rule (the LAST maximum of a window gets the gradient;
// padding never wins). x is NHWC.
void MaxPoolBackwardLoop(const float* dy, const float* x, float* dx, const std::vector<int64_t>& p) {
  int64_t n = p[0], h = p[1], w = p[2], c = p[3], kh = p[4], kw = p[5], oh = p[6], ow = p[7], sh = p[8], sw = p[9],
          pt = p[10], pl = p[11];
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(n * h * w * c));
#pragma omp parallel for if (n * oh * ow * c >= 4096) schedule(static)
  for (int64_t b = 0; b < n; b++) {
    std::vector<int64_t> best(c);
    std::vector<float> bestv(c);
    for (int64_t oy = 0; oy < oh; oy++) {
      for (int64_t ox = 0; ox < ow; ox++) {
        std::fill(best.begin(), best.end(), -1);
        std::fill(bestv.begin(), bestv.end(), -INFINITY);
        for (int64_t ky = 0; ky < kh; ky++) {
          int64_t iy = oy * sh - pt + ky;
          if (iy < 0 || iy >= h) continue;
          for (int64_t kx = 0; kx < kw; kx++) {
            int64_t ix = ox * sw - pl + kx;
            if (ix < 0 || ix >= w) continue;
            int64_t base = ((b * h + iy) * w + ix) * c;
            const float* xx = x + base;
            for (int64_t ch = 0; ch < c; ch++) {
              if (xx[ch] >= bestv[ch]) {
                bestv[ch] = xx[ch];
                best[ch] = base + ch;
              }
            }
          }
        }
        const float* g = dy + ((b * oh + oy) * ow + ox) * c;
        for (int64_t ch = 0; ch < c; ch++) {
          if (best[ch] >= 0) dx[best[ch]] += g[ch];
        }
      }
    }
  }
}

// poolBackward(dy, x|null, dx, params, isMax)
Napi::Value PoolBackward(const Napi::CallbackInfo& info) {
  float* dy = F32(info[0]);
  float* x = F32(info[1]);
  float* dx = F32(info[2]);
  auto p = Ints(info[3]);
  bool isMax = info[4].ToBoolean().Value();
  if (p.size() != 14) throw std::runtime_error("pool params: expected 14 numbers");
  if (isMax) {
    if (!x) throw std::runtime_error("max pool backward needs x");
    MaxPoolBackwardLoop(dy, x, dx, p);
    return info.Env().Undefined();
  }
  PoolEntry& e = GetPool(p, false, true);
  stream& s = Strm();
  e.ddst.set_data_handle(dy);
  e.dsrc.set_data_handle(dx);
  e.bwd.execute(s, {{DNNL_ARG_DIFF_DST, e.ddst}, {DNNL_ARG_DIFF_SRC, e.dsrc}});
  s.wait();
  return info.Env().Undefined();
}

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
const int64_t kParallelMin = ParallelMinFromEnv();

// The ReLU of the fused kernels (see the comment above ReluInPlace's declaration): tfjs's relu.
void ReluInPlace(float* y, int64_t n) {
#pragma omp parallel for if (n >= kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float v = y[i];
    float r = v > 0.f ? v : 0.f;  // Math.max(0, v): -0 and -Inf become +0
    y[i] = v != v ? v : r;        // NaN stays NaN
  }
}

template <typename F>
void Binary(const float* a, int am, const float* b, int bm, float* o, int64_t outer, int64_t inner, F f) {
#pragma omp parallel for if (outer * inner >= kParallelMin) schedule(static)
  for (int64_t i = 0; i < outer; i++) {
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
  }
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
    Binary(a, am, b, bm, o, outer, inner, [](float g, float x) {
      // Branch-free (selects vectorise; a branch on random signs mispredicts half the time).
      float s = x > 0.f ? 1.f : 0.f;
      s = x != x ? x : s;  // NaN propagates, as tfjs's step does
      return g * s;
    });
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
#pragma omp parallel for if (n >= kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) o[i] = f(x[i]);
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
#pragma omp parallel for if (len >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < len; i++) {
      float v = x[i];
      float s = v > 0.f ? 1.f : al;
      o[i] = v != v ? v : s;
    }
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
#pragma omp parallel for if (outer * mid >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < outer; i++) {
      const float* xx = x + i * mid;
      double acc = 0;
      for (int64_t j = 0; j < mid; j++) acc += xx[j];
      o[i] = static_cast<float>(acc * scale);
    }
  } else if (outer == 1) {
    // Reduce over leading rows: split the rows between threads, then combine.
    int nt = 1;
#ifdef _OPENMP
    nt = (mid * inner >= kParallelMin) ? omp_get_max_threads() : 1;
#endif
    std::vector<double> part(static_cast<size_t>(nt) * inner, 0.0);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
      int64_t r0 = mid * t / nt, r1 = mid * (t + 1) / nt;
      double* acc = part.data() + static_cast<size_t>(t) * inner;
      for (int64_t r = r0; r < r1; r++) {
        const float* xx = x + r * inner;
        for (int64_t j = 0; j < inner; j++) acc[j] += xx[j];
      }
    }
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
  const float* mp = mul.data();
  const float* mvp = mv.data();
  const float* ap = add.data();
#pragma omp parallel for if (static_cast<int64_t>(n) >= kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xx = x + r * c;
    float* oo = o + r * c;
    for (int64_t j = 0; j < c; j++) oo[j] = (xx[j] - mvp[j]) * mp[j] + ap[j];
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

// batchNormTrain(x, scale, offset, eps, channels, y, mean, variance): train-mode batch norm over
// x viewed as [rows, channels]. mean and the biased variance come from one pass of shifted sums
// (shifted by the first row, so |mean| >> std does not cancel) accumulated in double; a second pass
// writes y = (x - mean) * scale / sqrt(variance + eps) + offset, rounded like BatchNormInference.
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
  if (c <= 0 || n == 0 || static_cast<int64_t>(n) % c != 0) throw std::runtime_error("batchNormTrain: bad shapes");
  int64_t rows = static_cast<int64_t>(n) / c;
  int nt = ThreadsFor(static_cast<int64_t>(n));
  std::vector<double> part(static_cast<size_t>(nt) * 2 * c, 0.0);
  const float* x0 = x;  // the shift: the first row
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < nt; t++) {
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* s1 = part.data() + static_cast<size_t>(t) * 2 * c;
    double* s2 = s1 + c;
    for (int64_t r = r0; r < r1; r++) {
      const float* xx = x + r * c;
      for (int64_t j = 0; j < c; j++) {
        double d = static_cast<double>(xx[j]) - x0[j];
        s1[j] += d;
        s2[j] += d * d;
      }
    }
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
  const float* mp = mul.data();
  const float* mvp = mv.data();
  const float* ap = add.data();
#pragma omp parallel for if (static_cast<int64_t>(n) >= kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xx = x + r * c;
    float* oo = y + r * c;
    for (int64_t j = 0; j < c; j++) oo[j] = (xx[j] - mvp[j]) * mp[j] + ap[j];
  }
  return info.Env().Undefined();
}

// batchNormTrainGrad(dy, dmean, dvar, x, scale, mean, variance, eps, channels, dx, dscale, doffset):
// the gradient of BatchNormTrain with the statistics as functions of x. With r = 1/sqrt(var + eps),
// N = rows: doffset = sum dy, dscale = r * sum dy (x - mean),
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
  if (c <= 0 || n == 0 || static_cast<int64_t>(n) % c != 0) throw std::runtime_error("batchNormTrainGrad: bad shapes");
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
    for (int64_t r = r0; r < r1; r++) {
      const float* g = dy + r * c;
      const float* xx = x + r * c;
      for (int64_t j = 0; j < c; j++) {
        double d = static_cast<double>(xx[j]) - mean[j];
        sdy[j] += g[j];
        sdyx[j] += g[j] * d;
        sx[j] += d;
      }
    }
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
    const float* g = dy + r * c;
    const float* xx = x + r * c;
    float* o = dx + r * c;
    for (int64_t j = 0; j < c; j++) o[j] = g[j] * ap[j] + (xx[j] - mp[j]) * bp[j] + cp[j];
  }
  return info.Env().Undefined();
}

// Which oneDNN implementation a conv pass uses, for benchmarks: convImpl(params, pass, bias?, relu?)
// with pass 'fwd' | 'bwd_data' | 'bwd_weights' (bias: the forward's fused variant; a fused relu runs
// the same conv, then ReluInPlace).
Napi::Value ConvImpl(const Napi::CallbackInfo& info) {
  auto p = Ints(info[0]);
  std::string pass = info[1].As<Napi::String>().Utf8Value();
  std::string s;
  bool bias = info.Length() > 2 && info[2].ToBoolean().Value();
  bool relu = info.Length() > 3 && info[3].ToBoolean().Value();
  (void)relu;  // a fused ReLU is a separate pass: the same conv implementation
  if (pass == "fwd") s = GetConvFwd(p, bias).pd.impl_info_str();
  else if (pass == "bwd_data") s = GetConvBwdData(p).pd.impl_info_str();
  else s = GetConvBwdWei(p, false).pd.impl_info_str();
  return Napi::String::New(info.Env(), s);
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream os;
  os << v->major << '.' << v->minor << '.' << v->patch;
  return Napi::String::New(info.Env(), os.str());
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  convFwdCache.clear();
  convBwdDataCache.clear();
  convBwdWeiCache.clear();
  matmulCache.clear();
  poolCache.clear();
  return info.Env().Undefined();
}

// Wraps a function so that oneDNN and std exceptions become JS errors.
// One lock for every call: the primitive caches, the stream and the OpenMP team are shared by all
// Node threads (worker_threads) that load the addon. Uncontended on the main thread.
std::mutex callMutex;

template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Guard(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(callMutex);
  try {
    return Fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what() + " (status " + std::to_string(e.status) + ")");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("resnet_native: ") + e.what());
  }
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2dForward", Napi::Function::New(env, Guard<Conv2dForward>));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Guard<Conv2dBackwardData>));
  exports.Set("conv2dBackwardFilter", Napi::Function::New(env, Guard<Conv2dBackwardFilter>));
  exports.Set("matmul", Napi::Function::New(env, Guard<MatMul>));
  exports.Set("poolForward", Napi::Function::New(env, Guard<PoolForward>));
  exports.Set("poolBackward", Napi::Function::New(env, Guard<PoolBackward>));
  exports.Set("binary", Napi::Function::New(env, Guard<BinaryOp>));
  exports.Set("unary", Napi::Function::New(env, Guard<UnaryOp>));
  exports.Set("reduce", Napi::Function::New(env, Guard<ReduceOp>));
  exports.Set("batchNormInference", Napi::Function::New(env, Guard<BatchNormInference>));
  exports.Set("tile", Napi::Function::New(env, Guard<TileOp>));
  exports.Set("batchNormGrad", Napi::Function::New(env, Guard<BatchNormGrad>));
  exports.Set("batchNormTrain", Napi::Function::New(env, Guard<BatchNormTrain>));
  exports.Set("batchNormTrainGrad", Napi::Function::New(env, Guard<BatchNormTrainGrad>));
  exports.Set("convImpl", Napi::Function::New(env, Guard<ConvImpl>));
  exports.Set("version", Napi::Function::New(env, Guard<Version>));
  exports.Set("clearCache", Napi::Function::New(env, Guard<ClearCache>));
  return exports;
}

NODE_API_MODULE(resnet_native, Init)
