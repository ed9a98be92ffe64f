// Convolution forward, backward-data and backward-weights with cached oneDNN primitives.
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

std::unordered_map<std::string, std::unique_ptr<ConvFwdEntry>> convFwdCache;
std::unordered_map<std::string, std::unique_ptr<ConvBwdDataEntry>> convBwdDataCache;
std::unordered_map<std::string, std::unique_ptr<ConvBwdWeiEntry>> convBwdWeiCache;

ConvFwdEntry& GetConvFwd(const std::vector<int64_t>& p, bool bias, bool sum = false) {
  return Cached(convFwdCache, Key("cf", p, (bias ? 1 : 0) | (sum ? 4 : 0)), [&] {
    ConvGeom g(p);
    auto e = std::make_unique<ConvFwdEntry>();
    e->pd = g.Fwd(prop_kind::forward_inference, bias, sum);
    e->prim = convolution_forward(e->pd);
    e->w.Init(g, e->pd.weights_desc(), true);
    e->src = memory(e->pd.src_desc(), Eng(), DNNL_MEMORY_NONE);
    e->dst = memory(e->pd.dst_desc(), Eng(), DNNL_MEMORY_NONE);
    if (bias) e->bias = memory(g.Bias(), Eng(), DNNL_MEMORY_NONE);
    return e;
  });
}

ConvBwdDataEntry& GetConvBwdData(const std::vector<int64_t>& p) {
  return Cached(convBwdDataCache, Key("cbd", p), [&] {
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
    return e;
  });
}

ConvBwdWeiEntry& GetConvBwdWei(const std::vector<int64_t>& p, bool bias) {
  return Cached(convBwdWeiCache, Key("cbw", p, bias ? 1 : 0), [&] {
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
    return e;
  });
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

void ClearConvCaches() {
  convFwdCache.clear();
  convBwdDataCache.clear();
  convBwdWeiCache.clear();
}

}  // namespace resnet_native
