// Max and average pooling, forward and backward.
#include "common.h"

namespace resnet_native {

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
  return Cached(poolCache, Key(backward ? "pb" : "pf", p, isMax ? 1 : 0), [&] {
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
    return e;
  });
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

// ---------------------------------------------------------------------------------------------
// Max pooling that propagates NaN, as PyTorch's does. oneDNN's max (like tfjs's) keeps the larger
// of two values and so drops a NaN whenever another value of the window is compared after it: a NaN
// pixel vanished from ResNet-18/50's stem and the logits came out finite. After the pooling, one scan
// of the input looks for NaN (the common case: none, done); each NaN then sets every output whose
// window holds it to that NaN.

Layout4 NhwcLayout(int64_t h, int64_t w, int64_t c) { return {{h * w * c, 1, w * c, c}, 1, 0}; }

bool LayoutOf(const memory::desc& md, Layout4* out) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.ndims != 4 || d.format_kind != dnnl_blocked) return false;
  const auto& b = d.format_desc.blocking;
  if (b.inner_nblks > 1 || (b.inner_nblks == 1 && b.inner_idxs[0] != 1)) return false;
  *out = {{b.strides[0], b.strides[1], b.strides[2], b.strides[3]}, b.inner_nblks == 1 ? b.inner_blks[0] : 1, d.offset0};
  return true;
}

void PropagateMaxPoolNaN(const float* x, const Layout4& lx, int64_t span, float* y, const Layout4& ly, const PoolGeometry& g) {
  // Any NaN in x? (Serial below kParallelMin: see ParallelFor in common.h.)
  bool any = false;
  if (span < kParallelMin) {
    for (int64_t i = 0; i < span; i++) any = any || (x[i] != x[i]);
  } else {
#pragma omp parallel for reduction(|| : any) schedule(static)
    for (int64_t i = 0; i < span; i++) any = any || (x[i] != x[i]);
  }
  if (!any) return;
  for (int64_t b = 0; b < g.n; b++)
    for (int64_t c = 0; c < g.c; c++)
      for (int64_t ih = 0; ih < g.h; ih++)
        for (int64_t iw = 0; iw < g.w; iw++) {
          float v = x[lx.At(b, c, ih, iw)];
          if (v == v) continue;
          // Outputs whose window [o*s - pad, o*s - pad + k) holds the pixel.
          int64_t oh0 = std::max<int64_t>(0, (ih + g.pt - g.kh + g.sh) / g.sh), oh1 = std::min(g.oh - 1, (ih + g.pt) / g.sh);
          int64_t ow0 = std::max<int64_t>(0, (iw + g.pl - g.kw + g.sw) / g.sw), ow1 = std::min(g.ow - 1, (iw + g.pl) / g.sw);
          for (int64_t oy = oh0; oy <= oh1; oy++)
            for (int64_t ox = ow0; ox <= ow1; ox++) y[ly.At(b, c, oy, ox)] = v;
        }
}

// maxPoolPropagateNaN(x, y, params): x NHWC, y its max pooling [14 params as poolForward]; sets the
// outputs whose window holds a NaN to it.
Napi::Value MaxPoolPropagateNaN(const Napi::CallbackInfo& info) {
  size_t nx = 0;
  const float* x = F32(info[0], &nx);
  float* y = F32(info[1]);
  auto p = Ints(info[2]);
  if (!x || !y || p.size() != 14) throw std::runtime_error("maxPoolPropagateNaN: bad arguments");
  PoolGeometry g{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]};
  PropagateMaxPoolNaN(x, NhwcLayout(g.h, g.w, g.c), static_cast<int64_t>(nx), y, NhwcLayout(g.oh, g.ow, g.c), g);
  return info.Env().Undefined();
}

// Max pooling backward with tfjs's tie rule (the LAST maximum of a window gets the gradient;
// padding never wins). x is NHWC.
void MaxPoolBackwardLoop(const float* dy, const float* x, float* dx, const std::vector<int64_t>& p) {
  int64_t n = p[0], h = p[1], w = p[2], c = p[3], kh = p[4], kw = p[5], oh = p[6], ow = p[7], sh = p[8], sw = p[9],
          pt = p[10], pl = p[11];
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(n * h * w * c));
  ParallelFor(n, ThreadsIf(n * oh * ow * c >= 4096), [&](int64_t b) {
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
  });
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

void ClearPoolCache() { poolCache.clear(); }

}  // namespace resnet_native
