// A compiled inference plan: a whole eval-mode network as a prebuilt sequence of oneDNN primitives.
//
// planCreate(inputDims [N, H, W, C], numValues, ops, output) builds every primitive once: activations
// channel-blocked (see ActivationTag; pooling follows its input), weights reordered once into the
// layout their primitive wants, bias and residual sum fused into the conv, activation buffers reused
// once a value is dead (the residual sum writes in place into the shortcut's buffer). planRun(plan,
// x, out) then runs the steps on an NHWC input and writes the logits [N, classes]: one call per
// forward. Values are numbered by the caller; value 0 is the input. The op list comes from
// src/native/plan-lower.ts, which documents the op kinds.
//
// A fused ReLU runs as ReluInPlace after its conv (see common.h: oneDNN's relu post-op turns NaN into
// 0; tfjs's relu keeps NaN). Measured: the pass costs nothing visible against the post-op (ResNet-50
// batch 1 and 8, ResNet-20 batch 128, interleaved runs).
#include "plan.h"

namespace resnet_native {

namespace {

std::vector<int64_t> IntsOf(const Napi::Object& o, const char* k) { return Ints(o.Get(k)); }
int IntOf(const Napi::Object& o, const char* k) { return o.Get(k).As<Napi::Number>().Int32Value(); }
bool BoolOf(const Napi::Object& o, const char* k) { return o.Has(k) && o.Get(k).ToBoolean().Value(); }

// A 1-D float vector copied into memory owned by the plan.
memory VectorMemory(const Napi::Value& v, memory::dim n) {
  size_t len = 0;
  float* data = F32(v, &len);
  if (!data || static_cast<memory::dim>(len) != n) throw std::runtime_error("plan: vector of the wrong length");
  memory m({{n}, dt::f32, tag::x}, Eng());
  std::memcpy(m.get_data_handle(), data, sizeof(float) * len);
  return m;
}

// The activation layout of the convs: channels blocked by the vector width (nChw16c with AVX-512,
// nChw8c with AVX2), as onnxruntime and PyTorch's mkldnn keep them. Measured on ResNet-50 (AVX-512,
// 2 threads, interleaved, on a busy machine): best of 12 at batch 8 664 ms against 717 ms for
// oneDNN's own pick for format_tag::any (brgconv on NHWC), the same at batch 1 and for ResNet-20 at
// batch 128. $RESNET_TS_PLAN_LAYOUT=any leaves the choice to oneDNN (to compare). A layout the
// machine has no fast kernel for (a reference implementation) falls back to oneDNN's pick.
tag ActivationTag() {
  const char* env = std::getenv("RESNET_TS_PLAN_LAYOUT");
  if (env && std::string(env) == "any") return tag::any;
  cpu_isa isa = get_effective_cpu_isa();
  if (isa == cpu_isa::avx512_core || isa == cpu_isa::avx512_core_vnni || isa == cpu_isa::avx512_core_bf16 ||
      isa == cpu_isa::avx512_core_amx) {
    return tag::nChw16c;
  }
  if (isa == cpu_isa::avx2 || isa == cpu_isa::avx2_vnni) return tag::nChw8c;
  return tag::any;
}

// 3x3 stride-1 convs with at least kWinogradMinChannels (common.h) input and output channels run as
// Winograd convolutions (oneDNN's F(2x2,3x3) / F(4x4,3x3) kernels) when that is faster: measured per conv on the AVX-512
// development VM (2 threads, nChw16c, median of 12), Winograd took 0.35-0.51x the direct conv's time
// for 32-512 channels at batch 1, 8 and 128 (0.87x for 512 channels at 7x7, batch 1), but 1.12x for
// 16 channels. Logits of ResNet-18/50 stay as close to a float64 PyTorch reference as the direct
// convs' (max error 1.1e-6 of the largest logit, both). Plan::winograd (planCreate's option, else
// $RESNET_TS_WINOGRAD) turns it off.
// A NaN or infinity in a tile's input makes the whole output tile non-finite (the transforms mix the
// tile) where a direct conv marks only the outputs that read it: non-finite stays non-finite.
// Winograd weights are larger (16/9 or 36/9 of the filter); a conv whose transformed filter would grow
// by more than this stays direct, so peak memory stays near the direct plan's. 8 MiB lets the 512-channel
// 3x3 convs of ResNet-18/50's last stage (7x7, +7.3 MB each) run as Winograd, at 0.7x their direct time.
// Measured against onnxruntime-node, interleaved (Zen 5 host, 2026-12-04, BENCHMARKS.md): with 2 MiB,
// ResNet-18 b1 0.96-1.07x its time and ResNet-50 b1 0.94-1.02x, peak RSS (ResNet-50 b1) 0.92x; with
// 8 MiB, 0.88x and 0.93x, b8 0.86x, peak RSS 0.96-0.99x, still under onnxruntime's.
constexpr size_t kWinogradMaxExtraBytes = 8u << 20;

bool IsReference(const convolution_forward::primitive_desc& pd) {
  return std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
}

// The conv's primitive: direct in the channel-blocked layout of the machine's vector width (see
// ActivationTag), else oneDNN's pick; Winograd instead where `winograd` (allowed and the right shape), implemented
// without a reference kernel and within the weight-growth cap.
template <typename Make>
convolution_forward::primitive_desc ConvPrimitive(const Make& make, bool winograd) {
  tag act = ActivationTag();
  convolution_forward::primitive_desc pd;
  try {
    pd = make(algorithm::convolution_direct, act);
    if (act != tag::any && IsReference(pd)) pd = make(algorithm::convolution_direct, tag::any);
  } catch (const dnnl::error&) {
    pd = make(algorithm::convolution_direct, tag::any);
  }
  if (!winograd || act == tag::any) return pd;
  try {
    auto wino = make(algorithm::convolution_winograd, act);
    if (!IsReference(wino) && wino.weights_desc().get_size() <= pd.weights_desc().get_size() + kWinogradMaxExtraBytes) {
      return wino;
    }
  } catch (const dnnl::error&) {
    // no Winograd kernel for this shape or machine: the direct conv stays
  }
  return pd;
}

// Copies the filter into the primitive's layout, multiplying output channel o by scale[o] (a folded
// batch norm) when scale is given. oneDNN's reorder into a Winograd layout ignores output scales
// (measured: wrong logits), so that copy goes through a scaled plain oihw copy first.
void CopyWeights(memory& user, memory& weights, const float* scale) {
  memory::desc wd = weights.get_desc();
  memory::dim co = wd.dims()[0];
  primitive_attr scaled;
  if (scale) scaled.set_output_scales(1 << 0, std::vector<float>(scale, scale + co));  // dst = scale[o] * src
  if (scale && wd.data.format_kind == dnnl_format_kind_wino) {
    memory plain({wd.dims(), dt::f32, tag::oihw}, Eng());
    reorder(reorder::primitive_desc(user, plain, scaled)).execute(Strm(), user, plain);
    reorder(plain, weights).execute(Strm(), plain, weights);
  } else {
    reorder(reorder::primitive_desc(user, weights, scaled)).execute(Strm(), user, weights);
  }
  Strm().wait();
}

}  // namespace

Plan::~Plan() {
  steps.clear();
  values.clear();
  for (Buffer& b : buffers) std::free(b.data);
}

int Plan::Alloc(size_t bytes) {
  int best = -1;
  for (size_t i = 0; i < buffers.size(); i++) {
    if (!buffers[i].free || buffers[i].bytes < bytes) continue;
    if (best < 0 || buffers[i].bytes < buffers[best].bytes) best = static_cast<int>(i);
  }
  if (best >= 0) {
    buffers[best].free = false;
    return best;
  }
  return NewBuffer(bytes);
}

int Plan::NewBuffer(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!p) throw std::runtime_error("plan: out of memory");
  buffers.push_back({static_cast<float*>(p), rounded, false});
  return static_cast<int>(buffers.size()) - 1;
}

memory Plan::Mem(int v) {
  if (v == 0) return input;
  Value& val = values[v];
  if (val.buf < 0) throw std::runtime_error("plan: value used before it is computed");
  return memory(val.md, Eng(), buffers[val.buf].data);
}

void Plan::Define(int v, const memory::desc& md, int buf) {
  values[v].md = md;
  values[v].buf = buf < 0 ? Alloc(md.get_size()) : buf;
}

void Plan::AddStep(primitive p, std::unordered_map<int, memory> args, const std::string& impl,
                   const memory::desc& scratchpad) {
  Step s;
  s.prim = std::move(p);
  s.hasPrim = true;
  s.args = std::move(args);
  s.scratchpad = scratchpad;
  scratchpadBytes = std::max(scratchpadBytes, scratchpad.get_size());
  steps.push_back(std::move(s));
  if (!impl.empty()) impls.push_back(impl);
}

void Plan::AddRelu(int v) {
  Step s;
  s.reluPtr = buffers[values[v].buf].data;
  s.reluN = static_cast<int64_t>(values[v].md.get_size() / sizeof(float));
  steps.push_back(std::move(s));
}

memory Plan::As(int v, const memory::desc& want) {
  memory m = Mem(v);
  if (m.get_desc() == want) return m;
  int buf = Alloc(want.get_size());
  temps.push_back(buf);
  memory t(want, Eng(), buffers[buf].data);
  AddStep(reorder(m, t), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, t}}, "");
  reorders++;
  return t;
}

bool Plan::Dies(int v, int op) const { return v != 0 && lastUse[v] == op; }

void Plan::Release(int op, const std::vector<int>& inputs, int out) {
  for (int b : temps) buffers[b].free = true;
  temps.clear();
  for (int v : inputs) {
    if (!Dies(v, op) || values[v].buf < 0 || values[v].buf == values[out].buf) continue;
    buffers[values[v].buf].free = true;
    values[v].buf = -1;  // dead: a later use is a bug the next Mem() reports
  }
}

// conv: in [x], out, w (Float32Array), wLayout ('hwio' | 'oihw'), wScale (Float32Array of co factors that
// multiply w's output channels as it is copied: a folded batch norm; or null), b (Float32Array | null), co, k [kh, kw],
// stride [sh, sw], pad [t, l, b, r], sum (value added into the output, or -1), relu.
void Plan::Conv(const Napi::Object& op, int index, int x, int out) {
  dims d = values[x].md.dims();
  memory::dim n = d[0], c = d[1], h = d[2], w = d[3], co = IntOf(op, "co");
  auto k = IntsOf(op, "k"), st = IntsOf(op, "stride"), pad = IntsOf(op, "pad");
  memory::dim oh = (h + pad[0] + pad[2] - k[0]) / st[0] + 1, ow = (w + pad[1] + pad[3] - k[1]) / st[1] + 1;
  int sum = IntOf(op, "sum");
  bool hasBias = !op.Get("b").IsNull();
  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);  // one scratchpad for the whole plan (see Build)
  if (sum >= 0) {
    post_ops po;
    po.append_sum(1.f);
    attr.set_post_ops(po);
  }
  auto make = [&](algorithm alg, tag act) {
    memory::desc src({n, c, h, w}, dt::f32, x == 0 ? tag::any : act), wei({co, c, k[0], k[1]}, dt::f32, tag::any);
    memory::desc bias({co}, dt::f32, tag::x), dst({n, co, oh, ow}, dt::f32, act);
    auto cd = hasBias ? convolution_forward::desc(prop_kind::forward_inference, alg, src, wei, bias, dst, {st[0], st[1]},
                                                  {0, 0}, {pad[0], pad[1]}, {pad[2], pad[3]})
                      : convolution_forward::desc(prop_kind::forward_inference, alg, src, wei, dst, {st[0], st[1]}, {0, 0},
                                                  {pad[0], pad[1]}, {pad[2], pad[3]});
    return convolution_forward::primitive_desc(cd, attr, Eng());
  };
  convolution_forward::primitive_desc pd = ConvPrimitive(make, winograd && WinogradShape(k[0], k[1], st[0], st[1], c, co));
  // Deferred (a plan's first build, see plan.ts): oneDNN's transform of a filter into the Winograd layout
  // is serial and slow (ResNet-50: 230 ms for its 11 convs) and, in a first run, a Winograd conv is no
  // faster than the direct one; the caller rebuilds without deferring once the plan is run again.
  if (deferWinograd && std::string(pd.impl_info_str()).find("wino") != std::string::npos) {
    pd = ConvPrimitive(make, false);
    winogradDeferred++;
  }
  memory srcMem = As(x, pd.src_desc());
  // Weights: reordered once from the caller's layout into the primitive's.
  bool hwio = op.Get("wLayout").As<Napi::String>().Utf8Value() == "hwio";
  size_t wlen = 0;
  float* wdata = F32(op.Get("w"), &wlen);
  if (!wdata || static_cast<memory::dim>(wlen) != co * c * k[0] * k[1]) throw std::runtime_error("plan: conv weight of the wrong size");
  memory user({{co, c, k[0], k[1]}, dt::f32, hwio ? tag::hwio : tag::oihw}, Eng(), wdata);
  memory weights(pd.weights_desc(), Eng());
  float* scale = nullptr;
  if (!op.Get("wScale").IsNull()) {
    size_t slen = 0;
    scale = F32(op.Get("wScale"), &slen);
    if (!scale || static_cast<memory::dim>(slen) != co) throw std::runtime_error("plan: conv weight scale of the wrong size");
  }
  CopyWeights(user, weights, scale);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, srcMem}, {DNNL_ARG_WEIGHTS, weights}};
  if (hasBias) args[DNNL_ARG_BIAS] = VectorMemory(op.Get("b"), co);
  if (sum >= 0 && Dies(sum, index) && values[sum].md == pd.dst_desc() && values[sum].buf != values[x].buf) {
    Define(out, pd.dst_desc(), values[sum].buf);  // in place: the residual's buffer becomes the output
  } else {
    Define(out, pd.dst_desc());
    if (sum >= 0) {
      memory from = Mem(sum), to = Mem(out);
      AddStep(reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}, "");
      reorders++;
    }
  }
  args[DNNL_ARG_DST] = Mem(out);
  AddStep(convolution_forward(pd), args, pd.impl_info_str(), pd.scratchpad_desc());
  if (BoolOf(op, "relu")) AddRelu(out);
}

// maxpool / avgpool: in [x], out, k [kh, kw], stride [sh, sw], pad [t, l, b, r] (avg excludes padding).
void Plan::Pool(const Napi::Object& op, int x, int out, bool isMax) {
  memory srcMem = Mem(x);
  dims d = srcMem.get_desc().dims();
  auto k = IntsOf(op, "k"), st = IntsOf(op, "stride"), pad = IntsOf(op, "pad");
  memory::dim oh = (d[2] + pad[0] + pad[2] - k[0]) / st[0] + 1, ow = (d[3] + pad[1] + pad[3] - k[1]) / st[1] + 1;
  memory::desc dst({d[0], d[1], oh, ow}, dt::f32, tag::any);
  pooling_forward::desc pdsc(prop_kind::forward_inference, isMax ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding,
                             srcMem.get_desc(), dst, {st[0], st[1]}, {k[0], k[1]}, {pad[0], pad[1]}, {pad[2], pad[3]});
  pooling_forward::primitive_desc pd(pdsc, Eng());
  Define(out, pd.dst_desc());
  memory dstMem = Mem(out);
  AddStep(pooling_forward(pd), {{DNNL_ARG_SRC, srcMem}, {DNNL_ARG_DST, dstMem}}, pd.impl_info_str());
  if (!isMax) return;
  // NaN propagates through the max (pool.cc); the input's handle is read at run time (value 0's changes).
  Layout4 lx, ly;
  if (!LayoutOf(srcMem.get_desc(), &lx) || !LayoutOf(dstMem.get_desc(), &ly)) throw std::runtime_error("plan: max pool layout");
  PoolGeometry g{d[0], d[2], d[3], d[1], k[0], k[1], oh, ow, st[0], st[1], pad[0], pad[1]};
  int64_t span = static_cast<int64_t>(srcMem.get_desc().get_size() / sizeof(float));
  steps.back().post = [srcMem, dstMem, lx, ly, g, span] {
    PropagateMaxPoolNaN(static_cast<const float*>(srcMem.get_data_handle()), lx, span, static_cast<float*>(dstMem.get_data_handle()),
                        ly, g);
  };
}

// gap: in [x], out: global average pooling to a plain [N, C] value (GlobalAveragePool + Flatten).
void Plan::GlobalAvg(int x, int out) {
  memory srcMem = Mem(x);
  dims d = srcMem.get_desc().dims();
  memory::desc dst({d[0], d[1], 1, 1}, dt::f32, tag::any);
  pooling_forward::desc pdsc(prop_kind::forward_inference, algorithm::pooling_avg_exclude_padding, srcMem.get_desc(), dst, {1, 1},
                             {d[2], d[3]}, {0, 0}, {0, 0});
  pooling_forward::primitive_desc pd(pdsc, Eng());
  memory::desc plain({d[0], d[1], 1, 1}, dt::f32, tag::nchw);
  int buf = Alloc(pd.dst_desc().get_size());
  memory pooled(pd.dst_desc(), Eng(), buffers[buf].data);
  AddStep(pooling_forward(pd), {{DNNL_ARG_SRC, srcMem}, {DNNL_ARG_DST, pooled}}, pd.impl_info_str());
  if (pd.dst_desc() == plain) {
    Define(out, memory::desc({d[0], d[1]}, dt::f32, tag::nc), buf);
    return;
  }
  temps.push_back(buf);
  Define(out, memory::desc({d[0], d[1]}, dt::f32, tag::nc));
  memory to(plain, Eng(), buffers[values[out].buf].data);
  AddStep(reorder(pooled, to), {{DNNL_ARG_FROM, pooled}, {DNNL_ARG_TO, to}}, "");
  reorders++;
}

// gemm: in [x] (a plain [N, K] value), out [N, O]; w [O, K] (wLayout 'oi': PyTorch's Linear layout) or
// [K, O] ('io': tfjs's), b [O] | null.
void Plan::Gemm(const Napi::Object& op, int x, int out) {
  memory srcMem = Mem(x);
  dims d = srcMem.get_desc().dims();
  if (d.size() != 2) throw std::runtime_error("plan: gemm needs a 2-D input");
  memory::dim o = IntOf(op, "co");
  bool hasBias = !op.Get("b").IsNull();
  memory::desc wei({o, d[1]}, dt::f32, tag::any), bias({o}, dt::f32, tag::x), dst({d[0], o}, dt::f32, tag::nc);
  auto ipd = hasBias ? inner_product_forward::desc(prop_kind::forward_inference, srcMem.get_desc(), wei, bias, dst)
                     : inner_product_forward::desc(prop_kind::forward_inference, srcMem.get_desc(), wei, dst);
  inner_product_forward::primitive_desc pd(ipd, Eng());
  size_t wlen = 0;
  float* wdata = F32(op.Get("w"), &wlen);
  if (!wdata || static_cast<memory::dim>(wlen) != o * d[1]) throw std::runtime_error("plan: gemm weight of the wrong size");
  bool io = op.Get("wLayout").As<Napi::String>().Utf8Value() == "io";
  memory user({{o, d[1]}, dt::f32, io ? tag::io : tag::oi}, Eng(), wdata);
  memory weights(pd.weights_desc(), Eng());
  reorder(user, weights).execute(Strm(), user, weights);
  Strm().wait();
  Define(out, pd.dst_desc());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, srcMem}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, Mem(out)}};
  if (hasBias) args[DNNL_ARG_BIAS] = VectorMemory(op.Get("b"), o);
  AddStep(inner_product_forward(pd), args, pd.impl_info_str());
}

// relu: in [x], out (in place when x dies here). add: in [a, b], out, relu: a + b in a's layout.
void Plan::Elementwise(const Napi::Object& op, int index, const std::vector<int>& in, int out, bool isAdd) {
  int a = in[0];
  memory am = Mem(a);
  bool inPlace = Dies(a, index) && (!isAdd || in[1] != a);
  if (inPlace) Define(out, am.get_desc(), values[a].buf);
  else Define(out, am.get_desc());
  memory om = Mem(out);
  if (isAdd) {
    memory bm = As(in[1], am.get_desc());
    binary::primitive_desc pd(binary::desc(algorithm::binary_add, am.get_desc(), am.get_desc(), am.get_desc()), Eng());
    AddStep(binary(pd), {{DNNL_ARG_SRC_0, am}, {DNNL_ARG_SRC_1, bm}, {DNNL_ARG_DST, om}}, pd.impl_info_str());
  } else if (!inPlace) {
    AddStep(reorder(am, om), {{DNNL_ARG_FROM, am}, {DNNL_ARG_TO, om}}, "");
  }
  if (!isAdd || BoolOf(op, "relu")) AddRelu(out);
}

// bn: in [x], out, mean, variance, scale, shift ([C] each), eps: eval-mode batch norm.
void Plan::BatchNorm(const Napi::Object& op, int index, int x, int out) {
  memory src = Mem(x);
  memory::dim c = src.get_desc().dims()[1];
  float eps = op.Get("eps").As<Napi::Number>().FloatValue();
  auto flags = normalization_flags::use_global_stats | normalization_flags::use_scale | normalization_flags::use_shift;
  batch_normalization_forward::primitive_desc pd(
      batch_normalization_forward::desc(prop_kind::forward_inference, src.get_desc(), eps, flags), Eng());
  if (Dies(x, index)) Define(out, src.get_desc(), values[x].buf);
  else Define(out, src.get_desc());
  AddStep(batch_normalization_forward(pd),
          {{DNNL_ARG_SRC, src},
           {DNNL_ARG_DST, Mem(out)},
           {DNNL_ARG_MEAN, VectorMemory(op.Get("mean"), c)},
           {DNNL_ARG_VARIANCE, VectorMemory(op.Get("variance"), c)},
           {DNNL_ARG_SCALE, VectorMemory(op.Get("scale"), c)},
           {DNNL_ARG_SHIFT, VectorMemory(op.Get("shift"), c)}},
          pd.impl_info_str());
}

void Plan::Build(const Napi::Array& ops, int output) {
  lastUse.assign(values.size(), -1);
  for (uint32_t i = 0; i < ops.Length(); i++) {
    Napi::Object op = ops.Get(i).As<Napi::Object>();
    for (int64_t v : IntsOf(op, "in")) lastUse.at(v) = static_cast<int>(i);
    int sum = op.Has("sum") ? IntOf(op, "sum") : -1;
    if (sum >= 0) lastUse.at(sum) = static_cast<int>(i);
  }
  lastUse.at(output) = static_cast<int>(ops.Length());
  for (uint32_t i = 0; i < ops.Length(); i++) {
    Napi::Object op = ops.Get(i).As<Napi::Object>();
    std::string kind = op.Get("kind").As<Napi::String>().Utf8Value();
    std::vector<int> in;
    for (int64_t v : IntsOf(op, "in")) in.push_back(static_cast<int>(v));
    int out = IntOf(op, "out"), index = static_cast<int>(i);
    if (in.empty() || out <= 0 || out >= static_cast<int>(values.size())) throw std::runtime_error("plan: bad value ids in " + kind);
    if (kind == "conv") Conv(op, index, in[0], out);
    else if (kind == "maxpool" || kind == "avgpool") Pool(op, in[0], out, kind == "maxpool");
    else if (kind == "gap") GlobalAvg(in[0], out);
    else if (kind == "gemm") Gemm(op, in[0], out);
    else if (kind == "relu" || kind == "add") Elementwise(op, index, in, out, kind == "add");
    else if (kind == "bn") BatchNorm(op, index, in[0], out);
    else throw std::runtime_error("plan: unknown op " + kind);
    std::vector<int> dying = in;
    if (op.Has("sum") && IntOf(op, "sum") >= 0) dying.push_back(IntOf(op, "sum"));
    Release(index, dying, out);
  }
  memory last = Mem(output);
  dims d = last.get_desc().dims();
  if (d.size() != 2) throw std::runtime_error("plan: the output must be [N, classes]");
  result = memory({d, dt::f32, tag::nc}, Eng(), DNNL_MEMORY_NONE);
  AddStep(reorder(last, result), {{DNNL_ARG_FROM, last}, {DNNL_ARG_TO, result}}, "");
  // The steps run one at a time, so their scratchpads (Winograd's transformed tiles, mostly) share one
  // buffer instead of each primitive holding its own (ResNet-50, batch 1: 67 MB more peak memory).
  // A new buffer: a freed activation buffer was some earlier step's input or output.
  if (scratchpadBytes > 0) scratchpad = NewBuffer(scratchpadBytes);
  for (Step& step : steps) {
    if (step.scratchpad.get_size() > 0) step.args[DNNL_ARG_SCRATCHPAD] = memory(step.scratchpad, Eng(), buffers[scratchpad].data);
  }
}

void Plan::Run(float* x, float* out) {
  input.set_data_handle(x);
  result.set_data_handle(out);
  stream& s = Strm();
  for (Step& step : steps) {
    if (step.hasPrim) step.prim.execute(s, step.args);
    if (step.reluPtr) {
      s.wait();
      ReluInPlace(step.reluPtr, step.reluN);
    }
    if (step.post) {
      s.wait();
      step.post();
    }
  }
  s.wait();
}

size_t Plan::Bytes() const {
  size_t total = 0;
  for (const Buffer& b : buffers) total += b.bytes;
  return total;
}

}  // namespace resnet_native
