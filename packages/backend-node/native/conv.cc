// Convolution forward, backward-data and backward-weights with cached oneDNN primitives.
//
// Activations are tfjs's NHWC, or channel-blocked (nChw16c) where the caller says so (the training
// plan keeps the values between Winograd convs and batch norms blocked). 3x3 stride-1 convs of 32+
// channels on machines with oneDNN's Winograd kernels (AVX-512) run as Winograd convs in the blocked
// layout, an NHWC activation copied in and out around the primitive. Measured per pass (ResNet-20's 32-
// and 64-channel convs at batch 128, 2 threads, median of 9): forward + backward data + backward weights
// 5.4 vs 8.9 ms (32 channels) and 4.2 vs 7.7 ms (64), against 0.1-0.5 ms per copy; 16 channels are
// slower as Winograd (12.6 vs 10.6 ms), and so is the weight gradient at 32 channels (see
// kWinogradWeightsMinChannels); their forward and backward-data passes run as this addon's own
// Winograd convs instead (wino16.cc). $RESNET_TS_WINOGRAD=0 keeps every conv direct (see also plan.cc).
#include "common.h"

namespace resnet_native {

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
  // Whether the conv may run as a Winograd conv (see the top of this file and common.h).
  bool Winograd() const { return WinogradEnabled() && dh == 1 && dw == 1 && WinogradShape(kh, kw, sh, sw, ci, co); }
  // Forward primitive descriptor (also the hint for the backward passes).
  // sum: dst = conv + dst (the residual add, dst pre-filled with the shortcut). A ReLU is a separate
  // pass (see ReluInPlace).
  convolution_forward::primitive_desc Fwd(prop_kind pk, bool bias, bool sum = false,
                                          algorithm alg = algorithm::convolution_direct, tag act = tag::nhwc) const {
    auto d = bias ? convolution_forward::desc(pk, alg, Src(act), Wei(tag::any), Bias(), Dst(act), Strides(), Dil(),
                                              PadL(), PadR())
                  : convolution_forward::desc(pk, alg, Src(act), Wei(tag::any), Dst(act), Strides(), Dil(), PadL(), PadR());
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

// An activation the caller passes, NHWC or (when the call says so, see LayoutBits) channel-blocked
// nChw16c, and the layout the primitive works in. When the two differ, the primitive works on a copy,
// reordered in and out around it; the training plan keeps the activations between Winograd convs and
// batch norms blocked, so that their convs need no copy.
struct ActivationSlot {
  memory::desc want;
  memory view[2];  // the caller's buffer as NHWC [0] and as nChw16c [1], made when first used
  memory inner;    // the copy in `want`, made when first needed
  reorder toInner[2], toUser[2];
  int layout = 0;  // this call's layout of the caller's buffer

  void Init(const memory::desc& nhwc, const memory::desc& wanted) {
    want = wanted;
    view[0] = memory(nhwc, Eng(), DNNL_MEMORY_NONE);
  }
  // Binds this call's buffer, in the blocked layout when `blocked`.
  void Bind(void* data, bool blocked) {
    layout = blocked ? 1 : 0;
    if (blocked && !view[1]) {
      const memory::dims d = view[0].get_desc().dims();
      if (d[1] % 16 != 0) throw std::runtime_error("conv: a channel-blocked activation needs a multiple of 16 channels");
      view[1] = memory(memory::desc(d, dt::f32, tag::nChw16c), Eng(), DNNL_MEMORY_NONE);
    }
    view[layout].set_data_handle(data);
    if (!Copies()) return;
    if (!inner) inner = memory(want, Eng());
    if (!toInner[layout]) {
      toInner[layout] = reorder(view[layout], inner);
      toUser[layout] = reorder(inner, view[layout]);
    }
  }
  bool Copies() const { return view[layout].get_desc() != want; }
  memory& Used() { return Copies() ? inner : view[layout]; }
  void In(stream& s) {
    if (Copies()) toInner[layout].execute(s, view[layout], inner);
  }
  void Out(stream& s) {
    if (Copies()) toUser[layout].execute(s, inner, view[layout]);
  }
};

// A conv call's layout bits (its last, optional argument): which of its activations the caller passes
// channel-blocked (nChw16c) instead of NHWC.
constexpr int64_t kSrcBlocked = 1, kDstBlocked = 2;
static int64_t LayoutBits(const Napi::CallbackInfo& info, size_t at) {
  return info.Length() > at && info[at].IsNumber() ? info[at].As<Napi::Number>().Int64Value() : 0;
}

// The Winograd variant of a conv pass when the shape allows it and oneDNN has a kernel for it, else
// the direct one (`make(alg, act)` builds the primitive descriptor). A pass whose Winograd kernel is
// slower below `minChannels` runs direct there, in the channel-blocked layout its Winograd
// neighbours keep (the training plan passes it that way; see train-plan-layout.ts); where oneDNN has
// no Winograd kernel (AVX2), the neighbours are direct NHWC convs, and so is it.
template <typename Make>
auto WithWinograd(const ConvGeom& g, const Make& make, int64_t minChannels = 0)
    -> decltype(make(algorithm::convolution_direct, tag::nhwc)) {
  if (g.Winograd()) {
    try {
      auto pd = make(algorithm::convolution_winograd, tag::nChw16c);
      if (std::string(pd.impl_info_str()).find("wino") != std::string::npos)
        return std::min(g.ci, g.co) < minChannels ? make(algorithm::convolution_direct, tag::nChw16c) : pd;
    } catch (const dnnl::error&) {
      // no Winograd kernel here (e.g. AVX2): direct
    }
  }
  return make(algorithm::convolution_direct, tag::nhwc);
}

struct ConvFwdEntry {
  convolution_forward::primitive_desc pd;
  convolution_forward prim;
  WeightSlot w;
  ActivationSlot src, dst;
  memory bias;
};

struct ConvBwdDataEntry {
  convolution_backward_data::primitive_desc pd;
  convolution_backward_data prim;
  WeightSlot w;
  ActivationSlot dsrc, ddst;
};

struct ConvBwdWeiEntry {
  convolution_backward_weights::primitive_desc pd;
  convolution_backward_weights prim;
  WeightSlot w;
  ActivationSlot src, ddst;
  memory dbias;
};

std::unordered_map<std::string, std::unique_ptr<ConvFwdEntry>> convFwdCache;
std::unordered_map<std::string, std::unique_ptr<ConvBwdDataEntry>> convBwdDataCache;
std::unordered_map<std::string, std::unique_ptr<ConvBwdWeiEntry>> convBwdWeiCache;

ConvFwdEntry& GetConvFwd(const std::vector<int64_t>& p, bool bias, bool sum = false) {
  return Cached(convFwdCache, Key("cf", p, (bias ? 1 : 0) | (sum ? 4 : 0)), [&] {
    ConvGeom g(p);
    auto e = std::make_unique<ConvFwdEntry>();
    // forward_training even for inference: oneDNN's Winograd kernel then takes the filter in a blocked
    // layout and transforms it itself, in parallel, on every call. With forward_inference it wants the
    // filter pre-transformed, and that reorder (serial) took ~1 ms per 64-channel filter, 7-10 ms of a
    // ResNet-20 step at batch 128 (DNNL_VERBOSE, BENCHMARKS.md). The direct kernels are the same for both.
    e->pd = WithWinograd(g, [&](algorithm alg, tag act) { return g.Fwd(prop_kind::forward_training, bias, sum, alg, act); });
    e->prim = convolution_forward(e->pd);
    e->w.Init(g, e->pd.weights_desc(), true);
    e->src.Init(g.Src(), e->pd.src_desc());
    e->dst.Init(g.Dst(), e->pd.dst_desc());
    if (bias) e->bias = memory(g.Bias(), Eng(), DNNL_MEMORY_NONE);
    return e;
  });
}

ConvBwdDataEntry& GetConvBwdData(const std::vector<int64_t>& p) {
  return Cached(convBwdDataCache, Key("cbd", p), [&] {
    ConvGeom g(p);
    auto e = std::make_unique<ConvBwdDataEntry>();
    e->pd = WithWinograd(g, [&](algorithm alg, tag act) {
      convolution_backward_data::desc d(alg, g.Src(act), g.Wei(tag::any), g.Dst(act), g.Strides(), g.Dil(), g.PadL(),
                                        g.PadR());
      return convolution_backward_data::primitive_desc(d, Eng(), g.Fwd(prop_kind::forward_training, false, false, alg, act));
    });
    e->prim = convolution_backward_data(e->pd);
    e->w.Init(g, e->pd.weights_desc(), true);
    e->dsrc.Init(g.Src(), e->pd.diff_src_desc());
    e->ddst.Init(g.Dst(), e->pd.diff_dst_desc());
    return e;
  });
}

// oneDNN 2.6's Winograd weight gradient loses to its direct one at 32 channels (2.0-2.4 vs 1.6-1.9 ms a
// pass at 16x16, batch 128, 2 threads, alone and in a ResNet-20 step) and wins from 64 on.
constexpr int64_t kWinogradWeightsMinChannels = 64;

ConvBwdWeiEntry& GetConvBwdWei(const std::vector<int64_t>& p, bool bias) {
  return Cached(convBwdWeiCache, Key("cbw", p, bias ? 1 : 0), [&] {
    ConvGeom g(p);
    auto e = std::make_unique<ConvBwdWeiEntry>();
    e->pd = WithWinograd(g, [&](algorithm alg, tag act) {
      auto d = bias ? convolution_backward_weights::desc(alg, g.Src(act), g.Wei(tag::any), g.Bias(), g.Dst(act), g.Strides(),
                                                         g.Dil(), g.PadL(), g.PadR())
                    : convolution_backward_weights::desc(alg, g.Src(act), g.Wei(tag::any), g.Dst(act), g.Strides(), g.Dil(),
                                                         g.PadL(), g.PadR());
      return convolution_backward_weights::primitive_desc(d, Eng(), g.Fwd(prop_kind::forward_training, bias, false, alg, act));
    }, kWinogradWeightsMinChannels);
    e->prim = convolution_backward_weights(e->pd);
    e->w.Init(g, e->pd.diff_weights_desc(), false);
    e->src.Init(g.Src(), e->pd.src_desc());
    e->ddst.Init(g.Dst(), e->pd.diff_dst_desc());
    if (bias) e->dbias = memory(g.Bias(), Eng(), DNNL_MEMORY_NONE);
    return e;
  });
}

// conv2dForward(x, w, bias|null, out, params, relu, sum?, layout?): with sum, out must hold the
// residual on entry and receives relu?(conv + bias + residual). layout: kSrcBlocked | kDstBlocked.
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  float* x = F32(info[0]);
  float* w = F32(info[1]);
  float* b = F32(info[2]);
  size_t ny = 0;
  float* y = F32(info[3], &ny);
  auto p = Ints(info[4]);
  bool relu = info[5].ToBoolean().Value();
  bool sum = info.Length() > 6 && info[6].ToBoolean().Value();
  const int64_t layout = LayoutBits(info, 7);
  // 16 channels: NHWC and nChw16c are the same bytes, so the layout bits change nothing there.
  if (!sum && Wino16Fits(p) && Wino16Conv(x, w, b, y, p, false)) {
    if (relu) ReluInPlace(y, static_cast<int64_t>(ny));
    return info.Env().Undefined();
  }
  ConvFwdEntry& e = GetConvFwd(p, b != nullptr, sum);
  e.src.Bind(x, layout & kSrcBlocked);
  e.dst.Bind(y, layout & kDstBlocked);
  stream& s = Strm();
  e.w.user.set_data_handle(w);
  if (e.w.needReorder) e.w.toInner.execute(s, e.w.user, e.w.inner);
  e.src.In(s);
  if (sum) e.dst.In(s);  // the residual the conv adds to
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.src.Used()},
                                       {DNNL_ARG_WEIGHTS, e.w.needReorder ? e.w.inner : e.w.user},
                                       {DNNL_ARG_DST, e.dst.Used()}};
  if (b) {
    e.bias.set_data_handle(b);
    args[DNNL_ARG_BIAS] = e.bias;
  }
  e.prim.execute(s, args);
  e.dst.Out(s);
  s.wait();
  if (relu) ReluInPlace(y, static_cast<int64_t>(ny));
  return info.Env().Undefined();
}

// conv2dBackwardData(dy, w, dx, params, layout?) (kSrcBlocked: dx, kDstBlocked: dy)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  float* dy = F32(info[0]);
  float* w = F32(info[1]);
  float* dx = F32(info[2]);
  auto p = Ints(info[3]);
  const int64_t layout = LayoutBits(info, 4);
  if (Wino16Fits(p) && Wino16Conv(dy, w, nullptr, dx, p, true)) return info.Env().Undefined();
  ConvBwdDataEntry& e = GetConvBwdData(p);
  e.ddst.Bind(dy, layout & kDstBlocked);
  e.dsrc.Bind(dx, layout & kSrcBlocked);
  e.w.user.set_data_handle(w);
  stream& s = Strm();
  if (e.w.needReorder) e.w.toInner.execute(s, e.w.user, e.w.inner);
  e.ddst.In(s);
  e.prim.execute(s, {{DNNL_ARG_DIFF_DST, e.ddst.Used()},
                     {DNNL_ARG_WEIGHTS, e.w.needReorder ? e.w.inner : e.w.user},
                     {DNNL_ARG_DIFF_SRC, e.dsrc.Used()}});
  e.dsrc.Out(s);
  s.wait();
  return info.Env().Undefined();
}

// conv2dBackwardFilter(x, dy, dw, dbias|null, params, layout?) (kSrcBlocked: x, kDstBlocked: dy)
Napi::Value Conv2dBackwardFilter(const Napi::CallbackInfo& info) {
  float* x = F32(info[0]);
  float* dy = F32(info[1]);
  float* dw = F32(info[2]);
  float* db = F32(info[3]);
  auto p = Ints(info[4]);
  const int64_t layout = LayoutBits(info, 5);
  ConvBwdWeiEntry& e = GetConvBwdWei(p, db != nullptr);
  e.src.Bind(x, layout & kSrcBlocked);
  e.ddst.Bind(dy, layout & kDstBlocked);
  e.w.user.set_data_handle(dw);
  stream& s = Strm();
  e.src.In(s);
  e.ddst.In(s);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.src.Used()},
                                       {DNNL_ARG_DIFF_DST, e.ddst.Used()},
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

// Which implementation a conv pass uses (oneDNN's, or kWino16Impl), for benchmarks and tests:
// convImpl(params, pass, bias?, relu?)
// with pass 'fwd' | 'bwd_data' | 'bwd_weights' (bias: the forward's fused variant; a fused relu runs
// the same conv, then ReluInPlace).
Napi::Value ConvImpl(const Napi::CallbackInfo& info) {
  auto p = Ints(info[0]);
  std::string pass = info[1].As<Napi::String>().Utf8Value();
  std::string s;
  bool bias = info.Length() > 2 && info[2].ToBoolean().Value();
  bool relu = info.Length() > 3 && info[3].ToBoolean().Value();
  (void)relu;  // a fused ReLU is a separate pass: the same conv implementation
  if (pass != "bwd_weights" && Wino16Fits(p)) s = kWino16Impl;
  else if (pass == "fwd") s = GetConvFwd(p, bias).pd.impl_info_str();
  else if (pass == "bwd_data") s = GetConvBwdData(p).pd.impl_info_str();
  else s = GetConvBwdWei(p, false).pd.impl_info_str();
  return Napi::String::New(info.Env(), s);
}

void ClearConvCaches() {
  convFwdCache.clear();
  convBwdDataCache.clear();
  convBwdWeiCache.clear();
}

}  // namespace resnet_native
