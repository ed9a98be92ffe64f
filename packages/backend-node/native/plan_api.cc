// The JS entry points of the compiled inference plan (plan.cc): a plan is an External that the
// caller disposes (planDispose) or the garbage collector finalises.
#include "plan.h"

namespace resnet_native {

namespace {

// What the External holds: the plan until it is disposed.
struct PlanHandle {
  std::unique_ptr<Plan> plan;
};

Plan& Get(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "expected a plan handle");
  PlanHandle* h = v.As<Napi::External<PlanHandle>>().Data();
  if (!h->plan) throw std::runtime_error("plan: already disposed");
  return *h->plan;
}

}  // namespace

// planCreate(inputDims [N, H, W, C], numValues, ops, output) -> handle
Napi::Value PlanCreate(const Napi::CallbackInfo& info) {
  auto in = Ints(info[0]);
  if (in.size() != 4) throw std::runtime_error("plan: input dims must be [N, H, W, C]");
  int numValues = info[1].As<Napi::Number>().Int32Value();
  auto plan = std::make_unique<Plan>();
  plan->values.resize(static_cast<size_t>(std::max(numValues, 1)));
  memory::desc inMd({in[0], in[3], in[1], in[2]}, dt::f32, tag::nhwc);
  plan->input = memory(inMd, Eng(), DNNL_MEMORY_NONE);
  plan->values[0].md = inMd;
  plan->Build(info[2].As<Napi::Array>(), info[3].As<Napi::Number>().Int32Value());
  auto* handle = new PlanHandle{std::move(plan)};
  return Napi::External<PlanHandle>::New(info.Env(), handle, [](Napi::Env, PlanHandle* h) { delete h; });
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

// planInfo(handle) -> {primitives: string[], reorders, bytes}
Napi::Value PlanInfo(const Napi::CallbackInfo& info) {
  Plan& plan = Get(info[0]);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array impls = Napi::Array::New(env, plan.impls.size());
  for (size_t i = 0; i < plan.impls.size(); i++) impls.Set(static_cast<uint32_t>(i), plan.impls[i]);
  o.Set("primitives", impls);
  o.Set("reorders", plan.reorders);
  o.Set("bytes", static_cast<double>(plan.Bytes()));
  return o;
}

// planDispose(handle): frees the primitives, weights and buffers now (idempotent).
Napi::Value PlanDispose(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "expected a plan handle");
  info[0].As<Napi::External<PlanHandle>>().Data()->plan.reset();
  return info.Env().Undefined();
}

}  // namespace resnet_native
