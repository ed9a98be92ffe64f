// The JS entry points of the compiled inference plan (plan.cc): a plan is an External that the
// caller disposes (planDispose) or the garbage collector finalises.
#include "plan.h"

namespace resnet_native {

namespace {

// What the External holds: the plan until it is disposed, and the bytes reported to V8 for it.
struct PlanHandle {
  std::unique_ptr<Plan> plan;
  int64_t reported = 0;
  // Frees the plan and takes its bytes back from V8's count (once).
  void Release(Napi::Env env) {
    plan.reset();
    if (reported != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -reported);
    reported = 0;
  }
};

// The bytes of the weights in `ops` (the plan holds a reordered copy of each).
int64_t WeightBytes(const Napi::Array& ops) {
  int64_t total = 0;
  for (uint32_t i = 0; i < ops.Length(); i++) {
    Napi::Value op = ops.Get(i);
    if (!op.IsObject()) continue;
    Napi::Value w = op.As<Napi::Object>().Get("w");
    if (w.IsTypedArray()) total += static_cast<int64_t>(w.As<Napi::TypedArray>().ByteLength());
  }
  return total;
}

Plan& Get(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "expected a plan handle");
  PlanHandle* h = v.As<Napi::External<PlanHandle>>().Data();
  if (!h->plan) throw std::runtime_error("plan: already disposed");
  return *h->plan;
}

}  // namespace

// planCreate(inputDims [N, H, W, C], numValues, ops, output, options {winograd, deferWinograd}) -> handle
Napi::Value PlanCreate(const Napi::CallbackInfo& info) {
  auto in = Ints(info[0]);
  if (in.size() != 4) throw std::runtime_error("plan: input dims must be [N, H, W, C]");
  int numValues = info[1].As<Napi::Number>().Int32Value();
  auto plan = std::make_unique<Plan>();
  plan->values.resize(static_cast<size_t>(std::max(numValues, 1)));
  memory::desc inMd({in[0], in[3], in[1], in[2]}, dt::f32, tag::nhwc);
  plan->input = memory(inMd, Eng(), DNNL_MEMORY_NONE);
  plan->values[0].md = inMd;
  Napi::Object options = info.Length() > 4 && info[4].IsObject() ? info[4].As<Napi::Object>() : Napi::Object::New(info.Env());
  Napi::Value winograd = options.Get("winograd");
  plan->winograd = winograd.IsUndefined() ? WinogradEnabled() : winograd.ToBoolean().Value();
  plan->deferWinograd = options.Get("deferWinograd").ToBoolean().Value();
  // The plan's memory lives outside V8's heap, which V8 would not otherwise know of: told before the
  // build, it can collect garbage the JS side just dropped (e.g. a weights file's 100 MB buffer) before
  // the plan adds its copy, instead of holding both at the peak.
  Napi::Env env = info.Env();
  Napi::Array ops = info[2].As<Napi::Array>();
  int64_t weights = WeightBytes(ops);
  Napi::MemoryManagement::AdjustExternalMemory(env, weights);
  auto* handle = new PlanHandle{nullptr, weights};
  try {
    plan->Build(ops, info[3].As<Napi::Number>().Int32Value());
  } catch (...) {
    handle->Release(env);
    delete handle;
    throw;
  }
  int64_t activations = static_cast<int64_t>(plan->Bytes());
  Napi::MemoryManagement::AdjustExternalMemory(env, activations);
  handle->reported += activations;
  handle->plan = std::move(plan);
  return Napi::External<PlanHandle>::New(env, handle, [](Napi::Env e, PlanHandle* h) {
    h->Release(e);
    delete h;
  });
}

// planRun(handle, x, out): x NHWC of the planned shape, out [N, classes].
Napi::Value PlanRun(const Napi::CallbackInfo& info) {
  Plan& plan = Get(info[0]);
  size_t nx = 0, ny = 0;
  float* x = F32(info[1], &nx);
  float* y = F32(info[2], &ny);
  if (!x || !y || nx * sizeof(float) != plan.input.get_desc().get_size() || ny * sizeof(float) != plan.result.get_desc().get_size()) {
    throw std::runtime_error("plan: input or output of the wrong size");
  }
  plan.Run(x, y);
  return info.Env().Undefined();
}

// planInfo(handle) -> {primitives: string[], reorders, bytes, winogradDeferred}
Napi::Value PlanInfo(const Napi::CallbackInfo& info) {
  Plan& plan = Get(info[0]);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array impls = Napi::Array::New(env, plan.impls.size());
  for (size_t i = 0; i < plan.impls.size(); i++) impls.Set(static_cast<uint32_t>(i), plan.impls[i]);
  o.Set("primitives", impls);
  o.Set("reorders", plan.reorders);
  o.Set("bytes", static_cast<double>(plan.Bytes()));
  o.Set("winogradDeferred", plan.winogradDeferred);
  return o;
}

// planDispose(handle): frees the primitives, weights and buffers now (idempotent).
Napi::Value PlanDispose(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "expected a plan handle");
  info[0].As<Napi::External<PlanHandle>>().Data()->Release(info.Env());
  return info.Env().Undefined();
}

}  // namespace resnet_native
