// Matrix multiplication (batched, transposes, bias, fused ReLU) with cached oneDNN primitives.
#include "common.h"

namespace resnet_native {

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
  MatMulEntry* e = &Cached(matmulCache, Key("mm", p, bias ? 1 : 0), [&] {
    memory::dim ba = p[0], bb = p[1], M = p[2], K = p[3], N = p[4];
    bool ta = p[5] != 0, tb = p[6] != 0;
    memory::dim bc = std::max(ba, bb);
    memory::desc amd({ba, M, K}, dt::f32, ta ? dims{M * K, 1, M} : dims{M * K, K, 1});
    memory::desc bmd({bb, K, N}, dt::f32, tb ? dims{K * N, 1, K} : dims{K * N, N, 1});
    memory::desc cmd({bc, M, N}, dt::f32, dims{M * N, N, 1});
    memory::desc biasmd({1, 1, N}, dt::f32, dims{N, N, 1});
    auto d = bias ? matmul::desc(amd, bmd, biasmd, cmd) : matmul::desc(amd, bmd, cmd);
    auto entry = std::make_unique<MatMulEntry>();
    entry->pd = matmul::primitive_desc(d, Eng());
    entry->prim = matmul(entry->pd);
    entry->a = memory(amd, Eng(), DNNL_MEMORY_NONE);
    entry->b = memory(bmd, Eng(), DNNL_MEMORY_NONE);
    entry->c = memory(cmd, Eng(), DNNL_MEMORY_NONE);
    if (bias) entry->bias = memory(biasmd, Eng(), DNNL_MEMORY_NONE);
    return entry;
  });
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

void ClearMatMulCache() { matmulCache.clear(); }

}  // namespace resnet_native
